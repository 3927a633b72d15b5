// npm run bench:streaming [-- --sections abcd]: what streaming costs, on the real xBD data (../shared/data/xbd) and the selected
// backend.
// (a) overlap: mean training step time of a small UNet fed by tileBatches from the xBD files, divided by the
//     mean step time with the same batches already in memory as tensors; goal <= 1.05 (reading, decoding
//     and tiling hide behind training).
// (b) memory per batch size: peak RSS, wasm heap and peak tensor bytes over a few training steps of the same
//     small UNet at batch 1, 2, 4 and 8. (The bench UNet of bench:train peaks at about 660 MiB of tensors
//     per image within a step on wasm, so its batch 8 does not fit in wasm's 4 GiB.)
// (c) dataset size: ingest alone (tileBatches to released batches) over 1, 4 and 16 epochs of the xBD tiles:
//     time should grow linearly (ratios ~4 and ~16) and peak RSS stay flat (ratio ~1).
// (d) shuffle budget: one epoch of the xBD tiles in batches of 4 through shuffle buffers of 64 tiles (the old
//     default), the default memory budget and the whole epoch: mean distinct source images per batch (against
//     a shuffle of all tiles in memory), seconds to the first batch, tiles/s and peak RSS.
// (b), (c) and (d) measure each case in a fresh process (`--memory-child BATCH`, `--ingest-child EPOCHS`,
// `--shuffle-child TILES`, which
// print one JSON line): wasm memory and peak RSS never shrink.

import * as tf from '@tensorflow/tfjs';
import { filter, from, lastValueFrom, map, type Observable, take, tap, toArray } from 'rxjs';
import sharp from 'sharp';
import { selectBackend } from '../src/backend/selectBackend.js';
import { xbdClassMap } from '../src/labels/classMap.js';
import { buildUNet, type UNetOptions } from '../src/models/unet.js';
import { train } from '../src/operators/train.js';
import { DEFAULT_SHUFFLE_MEMORY_MIB, shuffleBufferForMemory } from '../src/tiling/shuffleBudget.js';
import { tileGrid, tilePositions } from '../src/tiling/tileGrid.js';
import type { BatchMetricsEvent, TrainingEvent } from '../src/training/events.js';
import type { LabelledPair, TensorBatch } from '../src/types.js';
import { SeededRandom } from '../src/util/seededRandom.js';
import {
  BENCH_UNET,
  drainBatches,
  machineLine,
  measureInChild,
  mebibytes,
  XBD_TILES_PER_IMAGE,
  xbdPairs,
  xbdTileBatches,
} from './common.js';

const NUM_CLASSES = xbdClassMap().names.length;
const SMALL_UNET: UNetOptions = { depth: 3, baseFilters: 8, batchNorm: true, numClasses: NUM_CLASSES };
// BENCH_MODEL=bench trains bench:train's UNet (16-256 filters) and BENCH_BATCH sets (a)'s batch: what a GPU
// run measures (the GPU pack's stream.sh); the small UNet at batch 4 suits 2 CPU cores.
const STREAMING_UNET: UNetOptions =
  process.env.BENCH_MODEL === 'bench' ? { ...BENCH_UNET, numClasses: NUM_CLASSES } : SMALL_UNET;
const OVERLAP_BATCH_SIZE = Number(process.env.BENCH_BATCH ?? 4);
const WARMUP_STEPS = 2;
const MEASURED_STEPS = Number(process.env.BENCH_STEPS ?? 20);
// Streamed and in-memory runs take turns, ROUNDS times each; the best of each is compared (the machine is
// shared, and the best run is the one least disturbed by other load).
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const MEMORY_BATCH_SIZES = [1, 2, 4, 8];
const MEMORY_STEPS = 3;
const DATASET_EPOCHS = [1, 4, 16];
const INGEST_BATCH_SIZE = 16;
const SHUFFLE_BATCH_SIZE = 4;
const XBD_TILE_SIZE = 256;

const isBatchEvent = (event: TrainingEvent): event is BatchMetricsEvent => event.type === 'batch';
const peakRssBytes = () => process.resourceUsage().maxRSS * 1024;
const wasmHeapBytes = () =>
  (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.length;

/** Epochs of the xBD tiles that give (a) its warm-up and measured batches (one, but at large batches two). */
function overlapEpochs(pairs: readonly LabelledPair[]): number {
  const tiles = pairs.length * XBD_TILES_PER_IMAGE;
  return Math.ceil(((WARMUP_STEPS + MEASURED_STEPS) * OVERLAP_BATCH_SIZE) / tiles);
}

/** The stream of (a): xBD tiles in batches of OVERLAP_BATCH_SIZE, over as many epochs as its steps need. */
function overlapBatches(pairs: readonly LabelledPair[]): Observable<TensorBatch> {
  return xbdTileBatches(pairs, OVERLAP_BATCH_SIZE, { epochs: overlapEpochs(pairs) }).pipe(
    take(WARMUP_STEPS + MEASURED_STEPS),
  );
}

/** Trains a fresh UNet on the first warm-up + measured batches; the mean seconds between step ends after the warm-up. */
async function meanStepSeconds(batches: Observable<TensorBatch>, epochs: number): Promise<number> {
  const model = buildUNet(STREAMING_UNET);
  const stepEnds: number[] = [];
  await lastValueFrom(
    batches.pipe(
      train({ model, numClasses: NUM_CLASSES, epochs }),
      filter(isBatchEvent),
      tap(() => stepEnds.push(performance.now())),
    ),
  );
  model.dispose();
  return (stepEnds.at(-1)! - stepEnds[WARMUP_STEPS - 1]!) / MEASURED_STEPS / 1000;
}

/** The same first batches the stream gives, as tensors in memory: the source's tensors kept past its release. */
async function batchesInMemory(pairs: readonly LabelledPair[]): Promise<TensorBatch[]> {
  return lastValueFrom(
    overlapBatches(pairs).pipe(
      map((batch): TensorBatch => {
        const images = batch.images.clone();
        const labels = batch.labels.clone();
        batch.release();
        return {
          images,
          labels,
          origins: batch.origins,
          ...(batch.epoch === undefined ? {} : { epoch: batch.epoch }),
          release: () => tf.dispose([images, labels]),
        };
      }),
      toArray(),
    ),
  );
}

interface MemoryMeasurement {
  batchSize: number;
  peakRss: number;
  wasmHeap: number | null;
  /** The most tf.memory().numBytes after any kernel (within a step: activations and gradients). */
  peakTensorBytes: number;
  /** The most tf.memory().numBytes after a step (weights, optimizer state, batches waiting). */
  tensorBytesAfterStep: number;
  secondsPerStep: number;
}

async function memoryChild(batchSize: number): Promise<MemoryMeasurement> {
  const pairs = await xbdPairs();
  const model = buildUNet(STREAMING_UNET);
  let events: BatchMetricsEvent[] = [];
  const profile = await tf.profile(async () => {
    events = await lastValueFrom(
      xbdTileBatches(pairs, batchSize).pipe(
        take(MEMORY_STEPS),
        train({ model, numClasses: NUM_CLASSES }),
        filter(isBatchEvent),
        toArray(),
      ),
    );
  });
  model.dispose();
  const afterWarmUp = events.slice(1);
  return {
    batchSize,
    peakRss: peakRssBytes(),
    wasmHeap: wasmHeapBytes() ?? null,
    peakTensorBytes: profile.peakBytes,
    tensorBytesAfterStep: Math.max(...events.map((event) => event.memory.tensorBytes)),
    secondsPerStep:
      afterWarmUp.reduce((sum, event) => sum + batchSize / event.imagesPerSecond, 0) / afterWarmUp.length,
  };
}

interface IngestMeasurement {
  tiles: number;
  seconds: number;
  peakRss: number;
}

/** Ingest alone of all xBD tiles after a warm-up, batches released as they come; `onBatch` sees each first. */
async function ingestXbd(
  batchSize: number,
  epochs: number,
  shuffleBuffer: number,
  onBatch?: (batch: TensorBatch, seconds: number) => void,
): Promise<IngestMeasurement> {
  const pairs = await xbdPairs();
  await drainBatches(xbdTileBatches(pairs.slice(0, 4), batchSize)); // warm-up: sharp, JIT, the wasm heap
  const { tiles, seconds } = await drainBatches(
    xbdTileBatches(pairs, batchSize, { epochs, shuffleBuffer }),
    onBatch,
  );
  return { tiles, seconds, peakRss: peakRssBytes() };
}

async function ingestChild(epochs: number): Promise<IngestMeasurement & { epochs: number }> {
  return { epochs, ...(await ingestXbd(INGEST_BATCH_SIZE, epochs, 0)) };
}

interface ShuffleMeasurement extends IngestMeasurement {
  bufferTiles: number;
  /** The source image of each tile, in stream order. */
  sources: string[];
  firstBatchSeconds: number;
}

async function shuffleChild(bufferTiles: number): Promise<ShuffleMeasurement> {
  let firstBatchSeconds = 0;
  const sources: string[] = [];
  const ingest = await ingestXbd(SHUFFLE_BATCH_SIZE, 1, bufferTiles, (batch, seconds) => {
    if (sources.length === 0) firstBatchSeconds = seconds;
    sources.push(...batch.origins.map((o) => o.sourceId));
  });
  return { bufferTiles, sources, firstBatchSeconds, ...ingest };
}

async function imageSize(pair: LabelledPair): Promise<[number, number]> {
  const { width, height } = await sharp(pair.imagePath).metadata();
  return [width!, height!];
}

/** Mean distinct source images in consecutive runs of `length` tiles of a stream. */
function meanDistinctImages(sources: readonly string[], length: number): number {
  let sum = 0;
  for (let start = 0; start < sources.length; start += length)
    sum += new Set(sources.slice(start, start + length)).size;
  return sum / Math.ceil(sources.length / length);
}

/** Distinct images per batch and per 16 consecutive batches (what batch norm and Adam's moments average over). */
function mixing(sources: readonly string[]): string {
  return `${meanDistinctImages(sources, SHUFFLE_BATCH_SIZE).toFixed(2)} distinct images per batch, ${meanDistinctImages(sources, 16 * SHUFFLE_BATCH_SIZE).toFixed(1)} per 16 batches`;
}

const [mode, value] = process.argv.slice(2);
// `--sections bd` runs only those sections (default: all).
const sections = mode === '--sections' ? (value ?? '') : 'abcd';
const backend = await selectBackend();
if (mode === '--memory-child') {
  console.log(JSON.stringify(await memoryChild(Number(value))));
} else if (mode === '--ingest-child') {
  console.log(JSON.stringify(await ingestChild(Number(value))));
} else if (mode === '--shuffle-child') {
  console.log(JSON.stringify(await shuffleChild(Number(value))));
} else {
  console.log(machineLine());
  console.log(backend.summary);
  const pairs = await xbdPairs();

  const unetLine = `UNet depth ${STREAMING_UNET.depth}, ${STREAMING_UNET.baseFilters} filters, BatchNorm, 256x256 tiles from xBD`;
  if (sections.includes('a')) {
    console.log(
      `(a) overlap: ${unetLine}, batch ${OVERLAP_BATCH_SIZE}, ${MEASURED_STEPS} steps after ${WARMUP_STEPS} warm-up steps`,
    );
    const streamed: number[] = [];
    const inMemory: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      streamed.push(await meanStepSeconds(overlapBatches(pairs), overlapEpochs(pairs)));
      inMemory.push(await meanStepSeconds(from(await batchesInMemory(pairs)), overlapEpochs(pairs)));
      console.log(
        `round ${round}: streamed from xBD ${streamed.at(-1)!.toFixed(3)} s/step, in memory ${inMemory.at(-1)!.toFixed(3)} s/step, tensors alive ${tf.memory().numTensors}`,
      );
    }
    const ratio = Math.min(...streamed) / Math.min(...inMemory);
    console.log(
      `streamed ${Math.min(...streamed).toFixed(3)} s/step vs in memory ${Math.min(...inMemory).toFixed(3)} s/step (best of ${ROUNDS} each) on ${backend.tfBackend}: ratio ${ratio.toFixed(3)} (goal <= 1.05)`,
    );
  }

  if (sections.includes('b')) {
    console.log(`(b) memory per batch size: ${unetLine}, ${MEMORY_STEPS} steps, a fresh process each`);
    for (const batchSize of MEMORY_BATCH_SIZES) {
      const m = measureInChild<MemoryMeasurement>('streaming.js', ['--memory-child', batchSize]);
      const wasmHeap = m.wasmHeap === null ? 'no wasm heap' : `wasm heap ${mebibytes(m.wasmHeap)} MiB`;
      console.log(
        `batch ${m.batchSize} on ${backend.tfBackend}: peak RSS ${mebibytes(m.peakRss)} MiB, ${wasmHeap}, peak tensors ${mebibytes(m.peakTensorBytes)} MiB (${mebibytes(m.tensorBytesAfterStep)} MiB between steps), ${m.secondsPerStep.toFixed(2)} s/step`,
      );
    }
  }

  if (sections.includes('c')) {
    console.log(
      `(c) dataset size: ingest only (tileBatches, batches of ${INGEST_BATCH_SIZE}, released at once), a fresh process each`,
    );
    const runs = DATASET_EPOCHS.map((epochs) =>
      measureInChild<IngestMeasurement & { epochs: number }>('streaming.js', ['--ingest-child', epochs]),
    );
    for (const run of runs) {
      console.log(
        `${run.epochs}x (${run.tiles} tiles) on ${backend.tfBackend}: ${run.seconds.toFixed(1)} s, ${(run.tiles / run.seconds).toFixed(0)} tiles/s, peak RSS ${mebibytes(run.peakRss)} MiB`,
      );
    }
    const [once, ...more] = runs;
    for (const run of more) {
      console.log(
        `time ${run.epochs}x / 1x: ratio ${(run.seconds / once!.seconds).toFixed(2)} (linear ${run.epochs}); peak RSS ${run.epochs}x / 1x: ratio ${(run.peakRss / once!.peakRss).toFixed(2)} (flat 1)`,
      );
    }
  }

  if (sections.includes('d')) {
    const tilesPerImage = await Promise.all(
      pairs.map(
        async (pair) => tilePositions(...(await imageSize(pair)), tileGrid({ size: XBD_TILE_SIZE })).length,
      ),
    );
    const epochTiles = tilesPerImage.reduce((a, b) => a + b, 0);
    const budgetTiles = shuffleBufferForMemory(DEFAULT_SHUFFLE_MEMORY_MIB, XBD_TILE_SIZE);
    console.log(
      `(d) shuffle budget: one epoch of ${epochTiles} xBD tiles of ${XBD_TILE_SIZE} px from ${pairs.length} images, batches of ${SHUFFLE_BATCH_SIZE}, released at once, a fresh process each`,
    );
    const inMemory = new SeededRandom(0).shuffle(
      tilesPerImage.flatMap((count, image) => Array.from({ length: count }, () => String(image))),
    );
    console.log(`all tiles shuffled in memory: ${mixing(inMemory)}`);
    const settings: Array<[string, number]> = [
      ['64 tiles (the old default)', 64],
      [`${DEFAULT_SHUFFLE_MEMORY_MIB} MiB (the default)`, budgetTiles],
      ['the whole epoch', epochTiles],
    ];
    for (const [name, bufferTiles] of settings) {
      const m = measureInChild<ShuffleMeasurement>('streaming.js', ['--shuffle-child', bufferTiles]);
      console.log(
        `buffer ${name}, ${m.bufferTiles} tiles: ${mixing(m.sources)}, first batch after ${m.firstBatchSeconds.toFixed(1)} s, ${(m.tiles / m.seconds).toFixed(0)} tiles/s, peak RSS ${mebibytes(m.peakRss)} MiB`,
      );
    }
  }
}
