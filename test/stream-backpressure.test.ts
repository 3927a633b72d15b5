import { concatMap, firstValueFrom, lastValueFrom, tap, toArray } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { xbdClassMap } from '../src/labels/classMap.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { CreditGate } from '../src/sources/creditGate.js';
import { pairFiles } from '../src/sources/pairFiles.js';
import { tileBatches } from '../src/sources/tileBatches.js';
import type { LabelledPair } from '../src/types.js';
import { syntheticXbd } from './helpers/data.js';

const TILE = 64; // 256 tiles per 1024x1024 image: 1,024 tiles from 4 images
const TILES_PER_IMAGE = (1024 / TILE) ** 2;
const xbd = await syntheticXbd(4);

test('a consumer 100x slower than the source holds at most `credits` tiles in flight over 1,024 tiles, RSS flat', async () => {
  await selectBackend({ backend: 'cpu' });
  const { pairs: four } = await pairFiles({ imagesDir: xbd.imagesDir, labelsDir: xbd.labelsDir });
  const classMap = xbdClassMap();
  const options = {
    pairs: four,
    classMap,
    tile: { size: TILE },
    shuffle: { bufferSize: 32, seed: 1 },
    batchSize: 16,
    credits: 400,
  };

  // The source's own pace: drained by a consumer that does nothing. Read on the main thread, as the counting
  // reader below is (a function of the test's own cannot run in the reader workers).
  let started = performance.now();
  const fast = await lastValueFrom(
    tileBatches({ ...options, readMask: readLabelMask, workers: 0 }).pipe(
      tap((b) => b.release()),
      toArray(),
    ),
  );
  const sourceMsPerTile = (performance.now() - started) / (fast.length * 16);

  // Images read (counted where the masks are read) minus tiles consumed = tiles alive between the two.
  let imagesRead = 0;
  let tilesConsumed = 0;
  let mostAlive = 0;
  const countingReader = (
    pair: LabelledPair,
    size: { width: number; height: number },
    map: typeof classMap,
    o: { format?: string },
  ) => {
    imagesRead++;
    mostAlive = Math.max(mostAlive, imagesRead * TILES_PER_IMAGE - tilesConsumed);
    return readLabelMask(pair, size, map, o);
  };
  const gate = new CreditGate(400);
  const rss: number[] = [];
  started = performance.now();
  const consumed = await lastValueFrom(
    tileBatches({ ...options, readMask: countingReader, gate }).pipe(
      concatMap(async (batch) => {
        // 100x the source's time for these tiles.
        await new Promise((resolve) => setTimeout(resolve, 100 * sourceMsPerTile * batch.origins.length));
        tilesConsumed += batch.origins.length;
        rss.push(process.memoryUsage().rss);
        batch.release();
        return batch.origins.length;
      }),
      toArray(),
    ),
  );
  const total = consumed.reduce((a, b) => a + b, 0);
  console.log(
    `  ${total} tiles, source ${sourceMsPerTile.toFixed(2)} ms/tile, consumer ${(100 * sourceMsPerTile).toFixed(1)} ms/tile; most tiles alive ${mostAlive} (gate peak ${gate.peak}, bound ${gate.capacity}); RSS ${(Math.min(...rss) / 2 ** 20).toFixed(0)}-${(Math.max(...rss) / 2 ** 20).toFixed(0)} MiB`,
  );
  assert.is(total, 4 * TILES_PER_IMAGE);
  assert.ok(mostAlive <= gate.capacity, `tiles alive ${mostAlive} > ${gate.capacity}`);
  assert.ok(gate.peak <= gate.capacity);
  assert.ok(mostAlive > gate.capacity / 2, 'the source ran ahead until the bound stopped it');
  const warm = rss.slice(Math.floor(rss.length / 4));
  assert.ok(Math.max(...warm) - Math.min(...warm) < 96 * 2 ** 20, 'RSS stays flat after warm-up');
  assert.is(gate.inFlight, 0);
});

test('credits too small for the shuffle buffer, a batch and one image are refused before anything is read', async () => {
  const { pairs } = await pairFiles({ imagesDir: xbd.imagesDir, labelsDir: xbd.labelsDir });
  let read = 0;
  const reader = (...args: Parameters<typeof readLabelMask>) => {
    read++;
    return readLabelMask(...args);
  };
  try {
    await firstValueFrom(
      tileBatches({
        pairs: pairs.slice(0, 2),
        classMap: xbdClassMap(),
        readMask: reader,
        tile: { size: TILE },
        shuffle: { bufferSize: 32, seed: 1 },
        batchSize: 16,
        credits: 200,
      }),
    );
    assert.unreachable('a deadlocking configuration was accepted');
  } catch (error) {
    assert.match(String(error), /credits/);
  }
  assert.is(read, 0);
});

test('by default the credits let `concurrency` images of 16 tiles be read at once, not only the first few', async () => {
  await selectBackend({ backend: 'cpu' });
  const eight = await syntheticXbd(8, { size: 4 * TILE });
  const { pairs } = await pairFiles({ imagesDir: eight.imagesDir, labelsDir: eight.labelsDir });
  let reading = 0;
  let mostReading = 0;
  // Each mask read waits a while, so that every read the credits allow overlaps the others.
  const slowReader = async (...args: Parameters<typeof readLabelMask>) => {
    mostReading = Math.max(mostReading, ++reading);
    await new Promise((resolve) => setTimeout(resolve, 50));
    reading--;
    return readLabelMask(...args);
  };
  const batches = await lastValueFrom(
    tileBatches({
      pairs,
      classMap: xbdClassMap(),
      readMask: slowReader,
      tile: { size: TILE },
      batchSize: 4,
      concurrency: 8,
    }).pipe(
      tap((batch) => batch.release()),
      toArray(),
    ),
  );
  assert.is(batches.length, (8 * 16) / 4);
  assert.is(mostReading, 8, 'reads in flight');
});

test.run();
