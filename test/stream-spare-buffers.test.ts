import * as tf from '@tensorflow/tfjs';
import { concatMap, from, mergeMap } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { readTiles } from '../src/io/readTiles.js';
import { xbdClassMap } from '../src/labels/classMap.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { augment } from '../src/operators/augment.js';
import { batchTiles } from '../src/operators/batchTiles.js';
import { toTensorBatch } from '../src/operators/toTensorBatch.js';
import { CreditGate } from '../src/sources/creditGate.js';
import { pairFiles } from '../src/sources/pairFiles.js';
import { RANDOM_STREAM, type TileBatchesOptions, tileBatches } from '../src/sources/tileBatches.js';
import { repeatBalancedTiles } from '../src/tiling/classBalance.js';
import type { LabelledTile } from '../src/tiling/labelledTile.js';
import { SpareTileBuffers } from '../src/tiling/spareTileBuffers.js';
import { cutTiles, tileGrid } from '../src/tiling/tileGrid.js';
import type { LabelledImage } from '../src/types.js';
import { epochSeed } from '../src/util/seededRandom.js';
import { batchDigests } from './helpers/batchDigests.js';
import { syntheticXbd } from './helpers/data.js';

/** A tile whose image and mask are the given arrays (what SpareTileBuffers looks at). */
const tileOf = (image: Uint8Array, mask: Uint8Array): LabelledTile => ({
  image: { data: image, width: 1, height: 1, channels: 3 },
  mask: { data: mask, width: 1, height: 1 },
  origin: { sourceId: 't', x: 0, y: 0, sourceWidth: 1, sourceHeight: 1 },
});

test('SpareTileBuffers keeps whole buffers up to its limit, by length; views into larger buffers stay with their owner', () => {
  const spare = new SpareTileBuffers(3);
  const shared = new Uint8Array(48);
  spare.give([tileOf(shared.subarray(0, 12), shared.subarray(12, 16))]);
  assert.is(spare.size, 0, 'views are not kept');
  const image = new Uint8Array(12);
  const mask = new Uint8Array(4);
  spare.give([tileOf(image, mask), tileOf(new Uint8Array(12), new Uint8Array(4))]);
  assert.is(spare.size, 3, 'the limit holds');
  const reused = spare.allocate(4);
  assert.is(reused.buffer, mask.buffer, 'a kept buffer of the length asked for');
  assert.is(spare.allocate(4).byteLength, 4, 'none left of that length: a new one');
  assert.is(spare.size, 2);
  const taken = spare.take(1);
  assert.equal(
    taken.map((b) => b.byteLength),
    [12],
  );
  assert.is(spare.size, 1);
  assert.throws(() => new SpareTileBuffers(-1), /limit must be an integer >= 0/);
});

test('tiles cut into recycled buffers equal tiles cut into new ones: old bytes never show, in padding neither', () => {
  const width = 100;
  const height = 70;
  const random = (length: number, modulo: number) =>
    Uint8Array.from({ length }, (_, i) => (i * 7919 + 13) % modulo);
  const source: LabelledImage = {
    id: 'a',
    imagePath: 'a.png',
    labelPath: 'a.json',
    image: { data: random(width * height * 3, 256), width, height, channels: 3 },
    mask: { data: random(width * height, 5), width, height },
  };
  const grid = tileGrid({ size: 32 });
  const fresh = cutTiles(source, grid);
  const spare = new SpareTileBuffers(2 * fresh.length);
  spare.keep([
    ...fresh.map(() => new Uint8Array(32 * 32 * 3).fill(0xab).buffer),
    ...fresh.map(() => new Uint8Array(32 * 32).fill(0xab).buffer),
  ]);
  const recycled = cutTiles(source, grid, undefined, spare.allocate);
  assert.is(spare.size, 0, 'every tile was cut into a spare buffer');
  recycled.forEach((tile, i) => {
    assert.equal(tile.image.data, fresh[i]!.image.data, `image of tile ${i}`);
    assert.equal(tile.mask.data, fresh[i]!.mask.data, `mask of tile ${i}`);
  });
});

test('tileBatches reuses converted tiles for the next reads, on workers and on the main thread: every epoch gives the first epoch batches', async () => {
  await selectBackend({ backend: 'cpu' });
  // 300 px images in 128 px tiles: the edge tiles are padded, over buffers that held full tiles before.
  const xbd = await syntheticXbd(3, { size: 300 });
  const { pairs } = await pairFiles({ imagesDir: xbd.imagesDir, labelsDir: xbd.labelsDir });
  const epochs = 3;
  const options: TileBatchesOptions = {
    pairs,
    classMap: xbdClassMap(),
    readMask: readLabelMask,
    tile: { size: 128 },
    batchSize: 4,
    epochs,
  };
  const tensorsBefore = tf.memory().numTensors;
  const digests = async (workers: number): Promise<string[]> => {
    const gate = new CreditGate(4 + 4 + 9);
    const batches = await batchDigests(tileBatches({ ...options, workers, gate }));
    assert.is(gate.inFlight, 0, 'every credit returned');
    return batches;
  };
  const perEpoch = Math.ceil((3 * 9) / 4);
  const onMainThread = await digests(0);
  assert.is(onMainThread.length, epochs * perEpoch);
  for (let epoch = 1; epoch < epochs; epoch++)
    assert.equal(
      onMainThread.slice(epoch * perEpoch, (epoch + 1) * perEpoch),
      onMainThread.slice(0, perEpoch),
      `epoch ${epoch}`,
    );
  assert.equal(await digests(2), onMainThread, 'workers give the same batches');
  assert.is(tf.memory().numTensors, tensorsBefore, 'no tensor left behind');
});

test('augmented and balanced streams recycle too and give the batches of the plain operators, which recycle nothing', async () => {
  await selectBackend({ backend: 'cpu' });
  const xbd = await syntheticXbd(3, { size: 300 });
  const { pairs } = await pairFiles({ imagesDir: xbd.imagesDir, labelsDir: xbd.labelsDir });
  const grid = tileGrid({ size: 128 });
  const classMap = xbdClassMap();
  const seed = 4;
  const epochs = 2;
  for (const balance of [undefined, { classes: [1], factor: 2 }]) {
    // The reference: each image read, its tiles repeated and augmented by the operators alone, batched.
    const reference: string[] = [];
    for (let epoch = 0; epoch < epochs; epoch++) {
      const tiles = from(pairs).pipe(
        concatMap(async (pair) => {
          const { tiles } = await readTiles(pair, grid, { classMap, readMask: readLabelMask });
          return balance ? repeatBalancedTiles(tiles, balance) : tiles;
        }),
        mergeMap((tiles) => tiles),
        augment({ seed: epochSeed(seed, epoch, RANDOM_STREAM.augment), cropScale: [0.6, 1] }),
        batchTiles({ batchSize: 4 }),
        toTensorBatch(),
      );
      reference.push(...(await batchDigests(tiles)));
    }
    for (const workers of [0, 2]) {
      const streamed = tileBatches({
        pairs,
        classMap,
        readMask: readLabelMask,
        tile: { size: 128 },
        batchSize: 4,
        epochs,
        workers,
        augment: { seed, cropScale: [0.6, 1] },
        ...(balance ? { balance } : {}),
      });
      assert.equal(
        await batchDigests(streamed),
        reference,
        `${workers} workers, balance ${JSON.stringify(balance)}`,
      );
    }
  }
});

test.run();
