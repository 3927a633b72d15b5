import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { readLabelledImage } from '../src/io/readLabelledImage.js';
import { readTiles } from '../src/io/readTiles.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { CreditGate } from '../src/sources/creditGate.js';
import { pairFiles } from '../src/sources/pairFiles.js';
import { type TileBatchesOptions, tileBatches } from '../src/sources/tileBatches.js';
import type { LabelledTile } from '../src/tiling/labelledTile.js';
import { cutTiles, type EdgePolicy, tileBlocks, tileGrid } from '../src/tiling/tileGrid.js';
import { batchDigests } from './helpers/batchDigests.js';
import { buildingClasses, writeMultibandRasterSet } from './helpers/geoData.js';

await selectBackend({ backend: 'cpu' });
const scratch = mkdtempSync(join(tmpdir(), 'segstream-raster-blocks-'));
// 4-band 16-bit GeoTIFFs of 200 x 200 px with GeoJSON labels in map coordinates.
const set = await writeMultibandRasterSet(scratch, 3, { size: 200 });
const { pairs } = await pairFiles(set);
const classMap = buildingClasses();

const tileBytes = (tiles: readonly LabelledTile[]): string[] =>
  tiles.map((tile) =>
    [
      JSON.stringify(tile.origin),
      Buffer.from(tile.image.data).toString('base64'),
      Buffer.from(tile.mask.data).toString('base64'),
    ].join(' '),
  );

test('a raster read block by block, each from its window, gives the tiles of the whole image, byte for byte', async () => {
  const pair = pairs[0]!;
  for (const raster of [
    undefined,
    { bands: [3, 1] },
    { ranges: [0, 1, 2, 3].map(() => ({ low: 900, high: 4500 })) },
  ]) {
    const options = { classMap, readMask: readLabelMask, ...(raster ? { raster } : {}) };
    const image = await readLabelledImage(pair, options);
    assert.ok(image.mask.data.includes(1), 'the labels paint a building');
    for (const [size, stride, edge] of [
      [48, 48, 'pad'],
      [48, 40, 'shift'],
      [64, 56, 'drop'],
      [256, 256, 'pad'],
    ] as Array<[number, number, EdgePolicy]>) {
      const grid = tileGrid({ size, stride, edge });
      const whole = tileBytes(cutTiles(image, grid));
      for (const maxTiles of [1, 3, 5, 7, 1000]) {
        const blocks = tileBlocks(200, 200, grid, maxTiles);
        assert.ok(blocks.every((b) => b.columns.length * b.rows.length <= maxTiles));
        const read: LabelledTile[] = [];
        for (const block of blocks) read.push(...(await readTiles(pair, grid, options, { block })).tiles);
        assert.equal(tileBytes(read), whole, `${size}/${stride}/${edge}, blocks of ${maxTiles}`);
      }
    }
  }
});

/** Digests of every batch of a stream (see `batchDigests`); checks the credits came back. */
async function batchRecords(options: TileBatchesOptions, gate: CreditGate): Promise<string[]> {
  const records = await batchDigests(tileBatches({ ...options, gate }));
  assert.is(gate.inFlight, 0, 'every credit returned');
  return records;
}

test('with credits for a few tiles, rasters stream in blocks: the same batches, shuffled and augmented, resumed exactly, on workers too', async () => {
  // 200 px rasters in 48 px tiles: 5 x 5 = 25 tiles each; a buffer of 8 and batches of 4 leave 3 credits a block.
  const options: TileBatchesOptions = {
    pairs,
    classMap,
    readMask: readLabelMask,
    tile: { size: 48 },
    batchSize: 4,
    epochs: 2,
    shuffle: { bufferSize: 8, seed: 5 },
    augment: { seed: 6 },
    workers: 0,
  };
  const reference = await batchRecords(options, new CreditGate(8 + 4 + 25));
  assert.is(reference.length, 2 * Math.ceil(75 / 4));
  const small = new CreditGate(8 + 4 + 3);
  assert.equal(await batchRecords(options, small), reference);
  assert.is(small.peak, 15, 'never more tiles alive than the credits');
  assert.equal(await batchRecords({ ...options, workers: 2 }, new CreditGate(15)), reference);
  const startAt = { epoch: 1, batch: 5 };
  assert.equal(
    await batchRecords({ ...options, startAt }, new CreditGate(15)),
    reference.slice(Math.ceil(75 / 4) + 5),
  );
});

test.run();
