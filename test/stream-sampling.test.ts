import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { concatMap, firstValueFrom, from, lastValueFrom, toArray } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { parseSampleBalance } from '../src/cli/classes.js';
import { readLabelledImage } from '../src/io/readLabelledImage.js';
import { xbdClassMap } from '../src/labels/classMap.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { balanceClasses } from '../src/operators/balanceClasses.js';
import { prepareTrainingRun } from '../src/pipelines/trainPipeline.js';
import { pairFiles } from '../src/sources/pairFiles.js';
import { writeSyntheticXbd } from '../src/sources/syntheticDataset.js';
import { type TileBatchesOptions, tileBatches } from '../src/sources/tileBatches.js';
import type { LabelledTile } from '../src/tiling/labelledTile.js';
import { DEFAULT_SHUFFLE_MEMORY_MIB, shuffleBufferForMemory } from '../src/tiling/shuffleBudget.js';
import { rasterBlockTiles, tileBlocks, tileGrid, tilePositions } from '../src/tiling/tileGrid.js';
import type { TensorBatch } from '../src/types.js';
import { SeededRandom } from '../src/util/seededRandom.js';
import { buildingClasses, writeMultibandRasterSet } from './helpers/geoData.js';

const TILE = 32; // 64 tiles per 256 px synthetic image
const BATCH = 8;
const IMAGES = 12;

await selectBackend({ backend: 'cpu' });
const data = await writeSyntheticXbd(await mkdtemp(join(tmpdir(), 'segstream-sampling-')), {
  images: IMAGES,
  size: 256,
  seed: 5,
});
const { pairs } = await pairFiles({ imagesDir: data.imagesDir, labelsDir: data.labelsDir });
const base: TileBatchesOptions = {
  pairs,
  classMap: xbdClassMap(),
  readMask: readLabelMask,
  tile: { size: TILE },
  batchSize: BATCH,
  workers: 0,
};

/** Each batch's tile origins (`source@x,y`), releasing every batch. */
async function batchOrigins(options: Partial<TileBatchesOptions>): Promise<string[][]> {
  return lastValueFrom(
    tileBatches({ ...base, ...options }).pipe(
      concatMap(async (batch: TensorBatch) => {
        batch.release();
        return batch.origins.map((o) => `${o.sourceId}@${o.x},${o.y}`);
      }),
      toArray(),
    ),
  );
}

const meanDistinctSources = (batches: string[][]): number =>
  batches.reduce((sum, b) => sum + new Set(b.map((o) => o.split('@')[0])).size, 0) / batches.length;

/** The steps per epoch that the training pipeline counts from the labels before it reads an image (all images train). */
async function countedStepsPerEpoch(
  options: Pick<
    Parameters<typeof prepareTrainingRun>[0],
    'imagesDir' | 'labelsDir' | 'classMap' | 'tileSize' | 'batchSize' | 'sampleBalance'
  >,
): Promise<number> {
  const run = await prepareTrainingRun({
    arch: 'unet',
    ...options,
    readMask: readLabelMask,
    baseFilters: 1,
    depth: 1,
    splitRatios: [1, 0, 0],
    samples: false,
  });
  run.model.dispose();
  return run.stepsPerEpoch;
}

test('the default shuffle budget mixes scenes in each batch as a full in-memory shuffle does; a 64-tile buffer does not', async () => {
  const defaultBuffer = shuffleBufferForMemory(DEFAULT_SHUFFLE_MEMORY_MIB, TILE);
  const streamed = await batchOrigins({ shuffle: { bufferSize: defaultBuffer, seed: 1 } });
  const allTiles = streamed.flat();
  assert.is(allTiles.length, IMAGES * 64);
  // The peer: every tile of the epoch in memory, shuffled at once, cut into batches.
  const inMemory = new SeededRandom(9).shuffle([...allTiles].sort());
  const inMemoryBatches = Array.from({ length: Math.ceil(inMemory.length / BATCH) }, (_, k) =>
    inMemory.slice(k * BATCH, (k + 1) * BATCH),
  );
  const reference = meanDistinctSources(inMemoryBatches);
  const oldDefault = meanDistinctSources(await batchOrigins({ shuffle: { bufferSize: 64, seed: 1 } }));
  assert.ok(
    meanDistinctSources(streamed) >= 0.95 * reference,
    `default: ${meanDistinctSources(streamed)} distinct images per batch, in-memory shuffle ${reference}`,
  );
  assert.ok(
    oldDefault < 0.6 * reference,
    `64-tile buffer: ${oldDefault} distinct images per batch, in-memory shuffle ${reference}`,
  );
});

test('a shuffle buffer holding the whole epoch flushes as tiles: at most two batches are tensors at once', async () => {
  const tf = await import('@tensorflow/tfjs');
  const before = tf.memory().numTensors;
  let most = 0;
  let batches = 0;
  await lastValueFrom(
    tileBatches({ ...base, shuffle: { bufferSize: IMAGES * 64, seed: 1 } }).pipe(
      concatMap(async (batch: TensorBatch) => {
        await new Promise((resolve) => setTimeout(resolve, 1)); // a slow trainer: the source is far ahead
        most = Math.max(most, tf.memory().numTensors - before);
        batches++;
        batch.release();
      }),
    ),
  );
  assert.is(batches, (IMAGES * 64) / BATCH);
  assert.ok(most <= 4, `${most} tensors alive at once (images and labels of two batches at most)`);
  assert.is(tf.memory().numTensors, before);
});

test('shuffleBufferForMemory: tiles of pixels and mask bytes that fit the budget', () => {
  assert.is(shuffleBufferForMemory(256, 256), 1024);
  assert.is(shuffleBufferForMemory(1, 128, 4), Math.floor(2 ** 20 / (128 * 128 * 5)));
  assert.throws(() => shuffleBufferForMemory(0, 128), /positive number of MiB/);
  assert.throws(() => shuffleBufferForMemory(0.1, 1024), /holds no 1024 px tile/);
});

/** The tiles (`source@x,y`) that hold minor or major damage, read from the PNG masks the synthetic writer also saved. */
async function rareTiles(): Promise<Set<string>> {
  const rare = new Set<string>();
  const grid = tileGrid({ size: TILE });
  for (const pair of pairs) {
    const mask = await readLabelMask(
      { ...pair, labelPath: join(data.masksDir, `${pair.id}.png`) },
      { width: 256, height: 256 },
      xbdClassMap(),
    );
    for (const { x, y } of tilePositions(mask.width, mask.height, grid)) {
      const rows = Array.from({ length: TILE }, (_, row) =>
        mask.data.subarray((y + row) * mask.width + x, (y + row) * mask.width + x + TILE),
      );
      if (rows.some((row) => row.includes(2) || row.includes(3))) rare.add(`${pair.id}@${x},${y}`);
    }
  }
  return rare;
}

test('balanced sampling: tiles holding the classes are drawn factor times, others once; epoch length and resume exact', async () => {
  const rare = await rareTiles();
  assert.ok(
    rare.size > 0 && rare.size < IMAGES * 64,
    `the synthetic set has some tiles with minor or major damage (${rare.size})`,
  );
  const balance = { classes: [2, 3], factor: 3 };
  const options = { shuffle: { bufferSize: 4096, seed: 2 }, augment: { seed: 3 }, balance, epochs: 2 };
  const whole = await batchOrigins(options);
  const perEpoch = IMAGES * 64 + 2 * rare.size;
  const batchesPerEpoch = Math.ceil(perEpoch / BATCH);
  assert.is(whole.length, 2 * batchesPerEpoch);
  const draws = new Map<string, number>();
  for (const origin of whole.slice(0, batchesPerEpoch).flat())
    draws.set(origin, (draws.get(origin) ?? 0) + 1);
  for (const [origin, count] of draws) assert.is(count, rare.has(origin) ? 3 : 1, origin);
  // The pipeline counts the same epoch from the labels before reading an image.
  assert.is(
    await countedStepsPerEpoch({
      imagesDir: data.imagesDir,
      labelsDir: data.labelsDir,
      classMap: xbdClassMap(),
      tileSize: TILE,
      batchSize: BATCH,
      sampleBalance: balance,
    }),
    batchesPerEpoch,
  );
  const resumed = await batchOrigins({ ...options, startAt: { epoch: 1, batch: 5 } });
  assert.equal(resumed, whole.slice(batchesPerEpoch + 5));
});

test('balanced sampling on a raster of several blocks: the pipeline counts, window by window, the tiles the stream draws', async () => {
  // One 1-band raster of 2100 px in 1024 px tiles: 3 x 3 tiles, read in blocks of 4 (RASTER_BLOCK_PIXELS), so 3 blocks.
  const set = await writeMultibandRasterSet(await mkdtemp(join(tmpdir(), 'segstream-sampling-raster-')), 1, {
    size: 2100,
    bands: 1,
  });
  const [pair] = (await pairFiles(set)).pairs;
  const grid = tileGrid({ size: 1024 });
  assert.ok(tileBlocks(2100, 2100, grid, rasterBlockTiles(grid)).length > 1, 'the raster is read in blocks');
  // The building rectangle covers a part of some tiles: with minPixels, some tiles hold enough of it, some not.
  const { mask } = await readLabelledImage(pair!, { classMap: buildingClasses(), readMask: readLabelMask });
  const building = tilePositions(2100, 2100, grid).map(({ x, y }) => {
    let pixels = 0;
    for (let row = y; row < Math.min(2100, y + 1024); row++)
      for (let col = x; col < Math.min(2100, x + 1024); col++) pixels += mask.data[row * 2100 + col]!;
    return pixels;
  });
  const minPixels = Math.max(...building);
  const balance = { classes: [1], factor: 4, minPixels };
  const expected = building.reduce((sum, pixels) => sum + (pixels >= minPixels ? 4 : 1), 0);
  assert.ok(expected > 9 && expected < 36, `some tiles are drawn 4 times, some once (${expected})`);
  const streamed = await lastValueFrom(
    tileBatches({
      ...base,
      pairs: [pair!],
      classMap: buildingClasses(),
      tile: { size: 1024 },
      batchSize: 1,
      balance,
      credits: 64,
    }).pipe(
      concatMap(async (batch: TensorBatch) => batch.release()),
      toArray(),
    ),
  );
  assert.is(streamed.length, expected);
  assert.is(
    await countedStepsPerEpoch({
      ...set,
      classMap: buildingClasses(),
      tileSize: 1024,
      batchSize: 1,
      sampleBalance: balance,
    }),
    expected,
  );
});

test('balanceClasses operator repeats in place and checks its options; --sample-balance reads names and ids', async () => {
  const tile = (label: number, id: string): LabelledTile => ({
    image: { data: new Uint8Array(4 * 3), width: 2, height: 2, channels: 3 },
    mask: { data: Uint8Array.of(0, 0, label, 0), width: 2, height: 2 },
    origin: { sourceId: id, x: 0, y: 0, sourceWidth: 2, sourceHeight: 2 },
  });
  const out = await firstValueFrom(
    from([tile(1, 'a'), tile(3, 'b'), tile(0, 'c')]).pipe(
      balanceClasses({ classes: [3], factor: 2 }),
      toArray(),
    ),
  );
  assert.equal(
    out.map((t) => t.origin.sourceId),
    ['a', 'b', 'b', 'c'],
  );
  const twoPixels = await firstValueFrom(
    from([tile(3, 'b')]).pipe(balanceClasses({ classes: [3], factor: 2, minPixels: 2 }), toArray()),
  );
  assert.is(twoPixels.length, 1);
  assert.throws(() => balanceClasses({ classes: [], factor: 2 }), /classes must be a non-empty list/);
  assert.throws(() => balanceClasses({ classes: [2], factor: 1.5 }), /factor must be an integer >= 1/);
  assert.equal(parseSampleBalance('minor-damage,3:4', xbdClassMap()), { classes: [2, 3], factor: 4 });
  assert.equal(parseSampleBalance('destroyed:2:10', xbdClassMap()), {
    classes: [4],
    factor: 2,
    minPixels: 10,
  });
  assert.throws(
    () => parseSampleBalance('rubble:4', xbdClassMap()),
    /no class 'rubble' \(classes: background, no-damage/,
  );
  assert.throws(() => parseSampleBalance('minor-damage', xbdClassMap()), /must be CLASSES:FACTOR/);
});

test.run();
