// npm run bench:soak: streams training for thousands of steps on the backend selectBackend() picks (wasm where
// no native TF.js is installed) and watches memory: a small UNet (8 filters, depth 3) on 64x64 tiles of the real
// xBD images, shuffled and augmented, epoch after epoch. Every --every steps it samples RSS, the wasm heap and
// the tensors alive besides the batches in flight; it ends with a table and a verdict comparing the last sample
// with the first one after warm-up (10% of the steps).
// Options (or SOAK_STEPS, SOAK_EVERY, SOAK_BATCH, SOAK_PAIRS): --steps 1500 --every <steps/20> --batch 4
// --pairs <all 87> (fewer pairs make epochs shorter, so that a short soak crosses epoch boundaries too).
import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, map, type Observable, tap } from 'rxjs';
import { selectBackend } from '../src/backend/selectBackend.js';
import { readImageSize } from '../src/io/decodeImage.js';
import { xbdClassMap } from '../src/labels/classMap.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { buildUNet } from '../src/models/unet.js';
import { train } from '../src/operators/train.js';
import { tileBatches } from '../src/sources/tileBatches.js';
import { tileGrid, tilePositions } from '../src/tiling/tileGrid.js';
import type { TensorBatch } from '../src/types.js';
import { machineLine, mebibytes, xbdPairs } from './common.js';

/** A positive integer from `--name N`, else $SOAK_NAME, else the fallback. */
function integerOption(name: string, fallback: number): number {
  const flag = process.argv.indexOf(`--${name}`);
  const raw = flag >= 0 ? process.argv[flag + 1] : process.env[`SOAK_${name.toUpperCase()}`];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`soak: --${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return value;
}

// 1,500 steps of batch 4 take about 10 minutes on two cores shared with other work (2.5 steps/s), less when idle.
const steps = integerOption('steps', 1500);
const every = integerOption('every', Math.max(1, Math.round(steps / 20)));
const batchSize = integerOption('batch', 4);
const TILE = 64;
const SHUFFLE_BUFFER = 256;
/**
 * Allowed growth of RSS and of the wasm heap from warm-up to the end: both only grow or settle, and a new peak
 * of batches waiting or fragmentation can add a step; a leak adds without end.
 */
const MEMORY_TOLERANCE = 0.1;

const backend = await selectBackend();
console.log(machineLine());
console.log(backend.summary);
const allPairs = await xbdPairs();
const pairs = allPairs.slice(0, integerOption('pairs', allPairs.length));
const classMap = xbdClassMap();
const grid = tileGrid({ size: TILE });
let tilesPerEpoch = 0;
let mostTilesOfAnImage = 0;
for (const pair of pairs) {
  const { width, height } = await readImageSize(pair.imagePath);
  const tiles = tilePositions(width, height, grid).length;
  tilesPerEpoch += tiles;
  mostTilesOfAnImage = Math.max(mostTilesOfAnImage, tiles);
}
const stepsPerEpoch = Math.ceil(tilesPerEpoch / batchSize);
const epochs = Math.ceil(steps / stepsPerEpoch);
console.log(
  `UNet 8 filters, depth 3; ${pairs.length} xBD images, ${tilesPerEpoch} tiles of ${TILE}x${TILE} an epoch, batch ${batchSize} (${stepsPerEpoch} steps an epoch); ${steps} steps (${epochs} epoch${epochs === 1 ? '' : 's'}), a sample every ${every}`,
);

// Batches in flight (queued for the trainer) hold tensors that come and go with timing, not with leaks: they
// are counted here and left out of the samples.
const inFlight = { batches: 0, tensors: 0, bytes: 0 };
function counted(batch: TensorBatch): TensorBatch {
  const tensors = [batch.images, batch.labels];
  const bytes = tensors.reduce((sum, t) => sum + t.size * 4, 0); // float32 images, int32 labels
  inFlight.batches += 1;
  inFlight.tensors += tensors.length;
  inFlight.bytes += bytes;
  const release = batch.release.bind(batch);
  let released = false;
  batch.release = () => {
    if (!released) {
      released = true;
      inFlight.batches -= 1;
      inFlight.tensors -= tensors.length;
      inFlight.bytes -= bytes;
    }
    release();
  };
  return batch;
}

interface Sample {
  step: number;
  epoch: number;
  rss: number;
  wasmHeap: number | undefined;
  tensors: number;
  tensorBytes: number;
  stepsPerSecond: number;
}

const model = buildUNet({ baseFilters: 8, depth: 3, numClasses: classMap.names.length });
console.log('  step  epoch    RSS MiB  wasm heap MiB  tensors (MiB)  in flight (MiB)  steps/s');
const stop = new AbortController();
const samples: Sample[] = [];
let lastSampleAt = performance.now();
const started = performance.now();
await lastValueFrom(
  (
    tileBatches({
      pairs,
      classMap,
      readMask: readLabelMask,
      tile: { size: TILE },
      batchSize,
      epochs,
      shuffle: { bufferSize: SHUFFLE_BUFFER, seed: 1 },
      augment: { seed: 2 },
      // The least that cannot deadlock: reading runs at most one image ahead, so that batches waiting as tensors
      // (which the wasm heap must hold) stay few.
      credits: SHUFFLE_BUFFER + batchSize + mostTilesOfAnImage,
      tensors: { ignoreValue: classMap.ignoreValue },
    }) as Observable<TensorBatch>
  ).pipe(
    map(counted),
    train({
      model,
      numClasses: classMap.names.length,
      classNames: classMap.names,
      ignoreValue: classMap.ignoreValue,
      epochs,
      stepsPerEpoch,
      signal: stop.signal,
    }),
    tap((event) => {
      if (event.type !== 'batch') return;
      if (event.globalStep % every === 0 || event.globalStep === steps) {
        const now = performance.now();
        const memory = tf.memory();
        const sample: Sample = {
          step: event.globalStep,
          epoch: event.epoch,
          rss: event.memory.rss,
          wasmHeap: event.memory.wasmHeap,
          tensors: memory.numTensors - inFlight.tensors,
          tensorBytes: memory.numBytes - inFlight.bytes,
          stepsPerSecond: (event.globalStep - (samples.at(-1)?.step ?? 0)) / ((now - lastSampleAt) / 1000),
        };
        samples.push(sample);
        lastSampleAt = now;
        const heap = sample.wasmHeap === undefined ? '-' : mebibytes(sample.wasmHeap);
        console.log(
          `${String(sample.step).padStart(6)}  ${String(sample.epoch).padStart(5)}  ${mebibytes(sample.rss).padStart(9)}  ${heap.padStart(13)}  ${`${sample.tensors} (${mebibytes(sample.tensorBytes)})`.padStart(13)}  ${`${inFlight.batches} (${mebibytes(inFlight.bytes)})`.padStart(15)}  ${sample.stepsPerSecond.toFixed(2).padStart(7)}`,
        );
      }
      if (event.globalStep === steps) stop.abort();
    }),
  ),
  { defaultValue: undefined },
);
const seconds = (performance.now() - started) / 1000;

const warm = samples.find((s) => s.step >= steps * 0.1) ?? samples[0]!;
const last = samples.at(-1)!;
const rssGrowth = last.rss - warm.rss;
const heapGrowth =
  last.wasmHeap !== undefined && warm.wasmHeap !== undefined ? last.wasmHeap - warm.wasmHeap : undefined;
const tensorsEqual = last.tensors === warm.tensors && last.tensorBytes === warm.tensorBytes;
const signedMebibytes = (bytes: number) => `${bytes < 0 ? '-' : '+'}${mebibytes(Math.abs(bytes))}`;
const percent = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)}%`;
const stable =
  tensorsEqual &&
  rssGrowth <= MEMORY_TOLERANCE * warm.rss &&
  (heapGrowth === undefined || heapGrowth <= MEMORY_TOLERANCE * warm.wasmHeap!);
console.log(
  `${last.step} steps in ${seconds.toFixed(0)} s (${(last.step / seconds).toFixed(2)} steps/s, ${((last.step * batchSize) / seconds).toFixed(1)} tiles/s), ${last.epoch + 1} epoch(s) reached`,
);
console.log(
  `verdict: ${stable ? 'stable' : 'GROWING'}: from step ${warm.step} to ${last.step}, RSS ${signedMebibytes(rssGrowth)} MiB (${percent(rssGrowth, warm.rss)}), ` +
    `wasm heap ${heapGrowth === undefined ? 'n/a' : `${signedMebibytes(heapGrowth)} MiB (${percent(heapGrowth, warm.wasmHeap!)})`} (tolerance ${100 * MEMORY_TOLERANCE}% each), tensors ${warm.tensors} -> ${last.tensors} (${warm.tensorBytes} -> ${last.tensorBytes} bytes${tensorsEqual ? ', equal' : ', DIFFERENT'})`,
);
model.dispose();
