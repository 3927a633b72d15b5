// npm run bench:ingest: from ../shared/data/xbd (87 images of 1024x1024, 1,392 tiles of 256x256) to batched
// tensors through the streaming pipeline, against the OpenCV/NumPy peer (../shared/bench/ref_ingest_cv2.py)
// run in the same benchmark. Prints the decoder's ms/image beside OpenCV's, tiles/s per stage, peak RSS, and
// last the ratio of the two rates.
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/selectBackend.js';
import { decodeImage, type ReusablePixels } from '../src/io/decodeImage.js';
import { jpegDecoder, jpegDecoderLine, setImageMallocThresholds } from '../src/io/nativeBinding.js';
import { xbdClassMap } from '../src/labels/classMap.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { drainBatches, machineLine, peerDir, python, xbdDir, xbdPairs, xbdTileBatches } from './common.js';

const peerScript = resolve(peerDir, 'ref_ingest_cv2.py');
// The backend training would use: how batches become tensors differs per backend (wasm copies into its heap).
const backend = await selectBackend();
console.log(machineLine());
console.log(backend.summary);

const pairs = await xbdPairs();
const classMap = xbdClassMap();
let peakRss = process.memoryUsage().rss;
const sampleRss = () => (peakRss = Math.max(peakRss, process.memoryUsage().rss));

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
// segstream's side reads as `stream-train train` does: its decoder, its malloc thresholds.
console.log(`segstream reading: JPEG with ${jpegDecoderLine()}; ${setImageMallocThresholds()}`);
const reusedPixels: ReusablePixels = { bytes: new Uint8Array(0) };
let imreadProblem: string | undefined;
const sizes: Array<{ width: number; height: number }> = [];
for (let round = 0; round < DECODE_ROUNDS; round++) {
  const started = performance.now();
  for (const [i, pair] of pairs.entries()) {
    const image = await decodeImage(pair.imagePath, undefined, reusedPixels);
    sizes[i] = { width: image.width, height: image.height };
  }
  decodeMs.push((performance.now() - started) / pairs.length);
  if (imreadProblem !== undefined) continue;
  try {
    imreadMs.push(
      Number(
        execFileSync(python, ['-c', imreadScript, ...pairs.map((pair) => pair.imagePath)], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
          env: peerEnvironment,
        }),
      ),
    );
  } catch (error) {
    imreadProblem = String((error as { stderr?: string }).stderr ?? error)
      .trim()
      .split('\n')
      .pop();
  }
}
const started = performance.now();
for (const [i, pair] of pairs.entries()) await readLabelMask(pair, sizes[i]!, classMap);
const rasterizeSeconds = (performance.now() - started) / 1000;
const tilesPerImage = 16;

// The whole pipeline as users run it: bounded, concurrent, batches of 16 tiles as tensors. It and the peer
// take turns, PASSES times each, and the best pass of each is compared: the machine is shared, and the best
// pass is the one least disturbed by other load.
const PASSES = Number(process.env.BENCH_PASSES ?? 5);
async function pipelinePass(augment = false): Promise<number> {
  const { tiles, seconds } = await drainBatches(xbdTileBatches(pairs, 16, { augment }), sampleRss);
  return tiles / seconds;
}
function peerPass(): number {
  const out = execFileSync(python, [peerScript, xbdDir], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: peerEnvironment,
  });
  return Number(out.match(/([\d.]+)\s*tiles\/s/)?.[1]);
}
const decodeLine = `decode alone (sequential, median of ${DECODE_ROUNDS} rounds taking turns): segstream (${'binding' in jpegDecoder() ? 'libjpeg-turbo' : 'sharp'}) ${median(decodeMs).toFixed(1)} ms/image (${((tilesPerImage * 1000) / median(decodeMs)).toFixed(0)} tiles/s)`;
console.log(
  imreadProblem === undefined
    ? `${decodeLine}, opencv imread ${median(imreadMs).toFixed(1)} ms/image`
    : `${decodeLine}; opencv imread not run (${imreadProblem})`,
);
console.log(
  `rasterize (xBD polygons, sequential): ${((pairs.length * tilesPerImage) / rasterizeSeconds).toFixed(0)} tiles/s`,
);
const rates: number[] = [];
const peerRates: number[] = [];
let peerProblem: string | undefined;
for (let pass = 1; pass <= PASSES; pass++) {
  rates.push(await pipelinePass());
  if (peerProblem === undefined) {
    try {
      peerRates.push(peerPass());
    } catch (error) {
      peerProblem = String((error as { stderr?: string }).stderr ?? error)
        .trim()
        .split('\n')
        .pop();
    }
  }
  console.log(
    `pass ${pass}: segstream ${rates.at(-1)!.toFixed(0)} tiles/s, opencv peer ${peerRates.length === pass ? `${peerRates.at(-1)!.toFixed(0)} tiles/s` : 'not run'}`,
  );
}
// Training augments every tile on the main thread (flips and quarter turns by default): what that leaves of
// the rate, for a trainer that eats tiles faster than two cores read them (a GPU). The peer does not augment.
const augmentedRates: number[] = [];
for (let pass = 1; pass <= PASSES; pass++) augmentedRates.push(await pipelinePass(true));
const rate = Math.max(...rates);
console.log(
  `pipeline (pair -> decode + rasterize -> tile -> batch of 16 -> float32 tensors on ${tf.getBackend()}): ${pairs.length * tilesPerImage} tiles, best of ${PASSES} passes ${rate.toFixed(0)} tiles/s, peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB, tensors alive ${tf.memory().numTensors}`,
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
