// segstream's side of bench:ingest, in a process of its own that the driver (ingest.ts) asks for each
// measurement over IPC. The driver starts the peer's processes; were segstream measured in the driver, every
// peer start would fork segstream's process, and a fork write-protects all of the parent's pages: its next
// pass then paid a fault for each page it wrote (20,000-25,000 faults, 15-20% of a pass on the 2-core EPYC
// VMs), which a training run, starting no processes, never pays.
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/selectBackend.js';
import { decodeImage, type ReusablePixels } from '../src/io/decodeImage.js';
import { jpegDecoder, jpegDecoderLine, setImageMallocThresholds } from '../src/io/nativeReading.js';
import { xbdClassMap } from '../src/labels/classMap.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { turnedTileCopyLine } from '../src/tiling/turnedTileCopy.js';
import { drainBatches, XBD_TILES_PER_IMAGE, xbdPairs, xbdTileBatches } from './common.js';

/** What the driver asks: a decode round, the rasterizer's rate, a pipeline pass, or the closing figures. */
export type IngestRequest =
  | { task: 'decode' }
  | { task: 'rasterize' }
  | { task: 'pass'; augment: boolean }
  | { task: 'finish' };

/** The side's first message: what it runs on. */
export interface IngestSideReady {
  backend: string;
  tensorBackend: string;
  reading: string;
  decoder: string;
  images: number;
}

/** The answer to `finish`. */
export interface IngestSideFinish {
  peakRss: number;
  tensorsAlive: number;
}

// The backend training would use: how batches become tensors differs per backend (wasm copies into its heap).
const backend = await selectBackend();
// segstream's side reads as `stream-train train` does: its decoder, its malloc thresholds.
const reading = `JPEG with ${jpegDecoderLine()}; ${setImageMallocThresholds()}; ${turnedTileCopyLine()}`;
const pairs = await xbdPairs();
const classMap = xbdClassMap();
let peakRss = process.memoryUsage().rss;
const sampleRss = () => (peakRss = Math.max(peakRss, process.memoryUsage().rss));
// Decoding alone decodes into one reused buffer, as the pipeline's reader workers do.
const reusedPixels: ReusablePixels = { bytes: new Uint8Array(0) };
const sizes: Array<{ width: number; height: number }> = [];

/** Answers one request: ms/image for `decode`, tiles/s for `rasterize` and `pass`. */
async function answer(request: IngestRequest): Promise<number | IngestSideFinish> {
  const started = performance.now();
  switch (request.task) {
    case 'decode':
      for (const [i, pair] of pairs.entries()) {
        const image = await decodeImage(pair.imagePath, undefined, reusedPixels);
        sizes[i] = { width: image.width, height: image.height };
      }
      return (performance.now() - started) / pairs.length;
    case 'rasterize':
      if (sizes.length < pairs.length) throw new Error('ingestSide: rasterize needs a decode round first');
      for (const [i, pair] of pairs.entries()) await readLabelMask(pair, sizes[i]!, classMap);
      return (pairs.length * XBD_TILES_PER_IMAGE * 1000) / (performance.now() - started);
    case 'pass': {
      const { tiles, seconds } = await drainBatches(
        xbdTileBatches(pairs, 16, { augment: request.augment }),
        sampleRss,
      );
      return tiles / seconds;
    }
    case 'finish':
      return { peakRss, tensorsAlive: tf.memory().numTensors };
  }
}

function send(message: { value: unknown } | { error: string }): void {
  if (!process.send)
    throw new Error('ingestSide: run it through bench/ingest.js, which talks to it over IPC');
  process.send(message);
}
process.on('message', (request: IngestRequest) => {
  answer(request).then(
    (value) => {
      send({ value });
      if (request.task === 'finish') process.disconnect?.();
    },
    (error: unknown) => send({ error: String((error as Error).stack ?? error) }),
  );
});
send({
  value: {
    backend: backend.summary,
    tensorBackend: tf.getBackend(),
    reading,
    decoder: 'binding' in jpegDecoder() ? 'libjpeg-turbo' : 'sharp',
    images: pairs.length,
  } satisfies IngestSideReady,
});
