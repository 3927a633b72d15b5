// npm run bench:ingest: from ../shared/data/xbd (87 images of 1024x1024, 1,392 tiles of 256x256) to batched
// tensors through the streaming pipeline, against the OpenCV/NumPy peer (../shared/bench/ref_ingest_cv2.py)
// run in the same benchmark. Prints the decoder's ms/image beside OpenCV's, tiles/s per stage, peak RSS, and
// last the ratio of the two rates. segstream is measured in a process of its own (ingestSide.ts), which this
// one asks for each measurement in turn with the peer's: see there why.
import { execFileSync, fork } from 'node:child_process';
import { resolve } from 'node:path';
import {
  benchDir,
  lastErrorLine,
  machineLine,
  peerDir,
  python,
  XBD_TILES_PER_IMAGE,
  xbdDir,
  xbdPairs,
} from './common.js';
import type { IngestRequest, IngestSideFinish, IngestSideReady } from './ingestSide.js';

const peerScript = resolve(peerDir, 'ref_ingest_cv2.py');
const side = fork(resolve(benchDir, 'ingestSide.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
let sideFailure: Error | undefined;
const waiting: Array<{ resolve: (value: unknown) => void; reject: (error: Error) => void }> = [];
side.on('message', (reply: { value?: unknown; error?: string }) => {
  const next = waiting.shift();
  if (reply.error === undefined) next?.resolve(reply.value);
  else next?.reject(new Error(`segstream's side failed: ${reply.error}`));
});
side.on('exit', (code) => {
  sideFailure = new Error(`segstream's side exited with code ${code}`);
  for (const { reject } of waiting.splice(0)) reject(sideFailure);
});
/** The side's next message: its ready line first, then one answer per request. */
const nextReply = <T>(): Promise<T> =>
  sideFailure
    ? Promise.reject(sideFailure)
    : new Promise<T>((resolve, reject) =>
        waiting.push({ resolve: resolve as (value: unknown) => void, reject }),
      );
function ask(request: { task: 'finish' }): Promise<IngestSideFinish>;
function ask(request: Exclude<IngestRequest, { task: 'finish' }>): Promise<number>;
function ask(request: IngestRequest): Promise<unknown> {
  const reply = nextReply();
  side.send(request);
  return reply;
}

const ready = await nextReply<IngestSideReady>();
console.log(machineLine());
console.log(ready.backend);
const pairs = await xbdPairs();
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

// Decoding alone, sequentially: segstream's decoder and OpenCV's imread take turns over the same files, so
// that a slow decoder on some machine shows here. imread keeps each image until the next, as the peer does:
// freeing it first makes the next one fault in fresh pages, which triples imread's time on the AVX-512 EPYC
// VMs. segstream decodes into one reused buffer, as the pipeline's reader workers do (sharp cannot: with it
// each image is a new buffer left to the garbage collector).
const imreadScript = [
  'import cv2, sys, time',
  't = time.perf_counter()',
  'for path in sys.argv[1:]: image = cv2.imread(path, cv2.IMREAD_COLOR)',
  'print((time.perf_counter() - t) * 1000 / (len(sys.argv) - 1))',
].join('\n');
const DECODE_ROUNDS = 3;
const decodeMs: number[] = [];
const imreadMs: number[] = [];
// The peer runs as its users run it: without the malloc settings that segstream's process may have been
// given (GLIBC_TUNABLES, see docs/BENCHMARKS.md), which slow OpenCV's process here; the thresholds segstream
// sets itself stay in its own process.
const peerEnvironment = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => name !== 'GLIBC_TUNABLES'),
);
/** Runs one of the peer's commands; its output, or the reason it could not run. */
function runPeer(args: string[]): { out: string } | { problem: string } {
  try {
    const out = execFileSync(python, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: peerEnvironment,
    });
    return { out };
  } catch (error) {
    return { problem: lastErrorLine(error) };
  }
}
console.log(`segstream reading: ${ready.reading}`);
let imreadProblem: string | undefined;
for (let round = 0; round < DECODE_ROUNDS; round++) {
  decodeMs.push(await ask({ task: 'decode' }));
  if (imreadProblem !== undefined) continue;
  const imread = runPeer(['-c', imreadScript, ...pairs.map((pair) => pair.imagePath)]);
  if ('out' in imread) imreadMs.push(Number(imread.out));
  else imreadProblem = imread.problem;
}
const rasterizeRate = await ask({ task: 'rasterize' });
const decodeLine = `decode alone (sequential, median of ${DECODE_ROUNDS} rounds taking turns): segstream (${ready.decoder}) ${median(decodeMs).toFixed(1)} ms/image (${((XBD_TILES_PER_IMAGE * 1000) / median(decodeMs)).toFixed(0)} tiles/s)`;
console.log(
  imreadProblem === undefined
    ? `${decodeLine}, opencv imread ${median(imreadMs).toFixed(1)} ms/image`
    : `${decodeLine}; opencv imread not run (${imreadProblem})`,
);
console.log(`rasterize (xBD polygons, sequential): ${rasterizeRate.toFixed(0)} tiles/s`);

// The whole pipeline as users run it: bounded, concurrent, batches of 16 tiles as tensors. It and the peer
// take turns, PASSES times each, and the best pass of each is compared: the machine is shared, and the best
// pass is the one least disturbed by other load. segstream's process keeps its reader workers across passes,
// as a training run does across epochs.
const PASSES = Number(process.env.BENCH_PASSES ?? 5);
const rates: number[] = [];
const peerRates: number[] = [];
let peerProblem: string | undefined;
for (let pass = 1; pass <= PASSES; pass++) {
  rates.push(await ask({ task: 'pass', augment: false }));
  if (peerProblem === undefined) {
    const peer = runPeer([peerScript, xbdDir]);
    if ('out' in peer) peerRates.push(Number(peer.out.match(/([\d.]+)\s*tiles\/s/)?.[1]));
    else peerProblem = peer.problem;
  }
  console.log(
    `pass ${pass}: segstream ${rates.at(-1)!.toFixed(0)} tiles/s, opencv peer ${peerRates.length === pass ? `${peerRates.at(-1)!.toFixed(0)} tiles/s` : 'not run'}`,
  );
}
// Training augments every tile on the main thread (flips and quarter turns by default): what that leaves of
// the rate, for a trainer that eats tiles faster than two cores read them (a GPU). The peer does not augment.
const augmentedRates: number[] = [];
for (let pass = 1; pass <= PASSES; pass++) augmentedRates.push(await ask({ task: 'pass', augment: true }));
const { peakRss, tensorsAlive } = await ask({ task: 'finish' });
const rate = Math.max(...rates);
console.log(
  `pipeline (pair -> decode + rasterize -> tile -> batch of 16 -> float32 tensors on ${ready.tensorBackend}): ${ready.images * XBD_TILES_PER_IMAGE} tiles, best of ${PASSES} passes ${rate.toFixed(0)} tiles/s, peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB, tensors alive ${tensorsAlive}`,
);
console.log(
  `pipeline with augmentation (flips and quarter turns, as train draws by default): best of ${PASSES} passes ${Math.max(...augmentedRates).toFixed(0)} tiles/s`,
);
if (peerProblem !== undefined) {
  console.log(`opencv peer not run (${peerProblem}); install with apt-get install -y python3-opencv`);
} else {
  const peerRate = Math.max(...peerRates);
  // The first pass also starts the reader workers; the median shows what a typical pass gives.
  console.log(
    `median pass: segstream ${median(rates).toFixed(0)} tiles/s vs opencv peer ${median(peerRates).toFixed(0)} tiles/s, ratio ${(median(rates) / median(peerRates)).toFixed(2)}`,
  );
  console.log(
    `segstream ${rate.toFixed(0)} tiles/s vs opencv peer ${peerRate.toFixed(0)} tiles/s (best of ${PASSES} each): ratio ${(rate / peerRate).toFixed(2)}`,
  );
}
