import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { firstValueFrom, from, lastValueFrom, Subject, tap, toArray } from 'rxjs';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeNpy } from '../src/io/writeNpy.js';
import { batchTiles } from '../src/operators/batchTiles.js';
import { exportTiles } from '../src/operators/exportTiles.js';
import { shuffle } from '../src/operators/shuffle.js';
import { type OneHotTensorBatch, toTensorBatch } from '../src/operators/toTensorBatch.js';
import type { LabelledTile } from '../src/tiling/labelledTile.js';

function syntheticTile(index: number, size = 4): LabelledTile {
  const image = Uint8Array.from({ length: size * size * 3 }, (_, i) => (i * 13 + index * 29) % 256);
  const mask = Uint8Array.from({ length: size * size }, (_, i) => (i === 0 ? 255 : (i + index) % 3));
  return {
    image: { data: image, width: size, height: size, channels: 3 },
    mask: { data: mask, width: size, height: size },
    origin: { sourceId: `s${index}`, x: index, y: 0, sourceWidth: 64, sourceHeight: 64 },
  };
}

test('shuffle: a permutation, seeded, never holding more than its buffer', async () => {
  const input = Array.from({ length: 200 }, (_, i) => i);
  const run = (seed: number) =>
    firstValueFrom(from(input).pipe(shuffle<number>({ bufferSize: 16, seed }), toArray()));
  const [a, b, c] = await Promise.all([run(1), run(1), run(2)]);
  assert.equal(
    a.slice().sort((x, y) => x - y),
    input,
  );
  assert.equal(a, b);
  assert.not.equal(a, c);
  assert.not.equal(a, input);
  const source = new Subject<number>();
  let pushed = 0;
  let emitted = 0;
  let mostHeld = 0;
  source.pipe(shuffle<number>({ bufferSize: 16, seed: 3 })).subscribe(() => emitted++);
  for (const value of input) {
    source.next(value);
    pushed++;
    mostHeld = Math.max(mostHeld, pushed - emitted);
  }
  assert.is(mostHeld, 16);
  source.complete();
  assert.is(emitted, 200);
});

test('batchTiles: full batches, a short last one unless dropped', async () => {
  const tiles = Array.from({ length: 10 }, (_, i) => syntheticTile(i));
  const sizes = (await firstValueFrom(from(tiles).pipe(batchTiles({ batchSize: 4 }), toArray()))).map(
    (b) => b.length,
  );
  assert.equal(sizes, [4, 4, 2]);
  const dropped = (
    await firstValueFrom(from(tiles).pipe(batchTiles({ batchSize: 4, dropRemainder: true }), toArray()))
  ).map((b) => b.length);
  assert.equal(dropped, [4, 4]);
});

test('toTensorBatch: normalized float32 images, int32 labels, one-hot with ignore all-zero, tensors freed on release', async () => {
  const tiles = [syntheticTile(0), syntheticTile(1), syntheticTile(2)];
  const mean = [0.5, 0.4, 0.3] as const;
  const std = [0.2, 0.25, 0.5] as const;
  const before = tf.memory().numTensors;
  let releasedTiles = 0;
  const batch = (await firstValueFrom(
    from([tiles]).pipe(
      toTensorBatch({ mean, std, oneHot: true, numClasses: 3, onRelease: (n) => (releasedTiles += n) }),
    ),
  )) as OneHotTensorBatch;
  assert.equal(batch.images.shape, [3, 4, 4, 3]);
  assert.is(batch.images.dtype, 'float32');
  assert.equal(batch.labels.shape, [3, 4, 4]);
  assert.is(batch.labels.dtype, 'int32');
  assert.equal(batch.oneHot.shape, [3, 4, 4, 3]);
  const images = batch.images.dataSync();
  const labels = batch.labels.dataSync();
  const oneHot = batch.oneHot.dataSync();
  tiles.forEach((t, b) => {
    for (let i = 0; i < 48; i++)
      assert.ok(Math.abs(images[b * 48 + i]! - (t.image.data[i]! / 255 - mean[i % 3]!) / std[i % 3]!) < 1e-5);
    for (let p = 0; p < 16; p++) {
      const label = t.mask.data[p]!;
      assert.is(labels[b * 16 + p], label);
      const channels = Array.from(oneHot.subarray((b * 16 + p) * 3, (b * 16 + p) * 3 + 3));
      assert.equal(channels, label === 255 ? [0, 0, 0] : [0, 1, 2].map((c) => (c === label ? 1 : 0)));
    }
  });
  assert.equal(
    batch.origins.map((o) => o.sourceId),
    ['s0', 's1', 's2'],
  );
  assert.is(tf.memory().numTensors, before + 3);
  batch.release();
  batch.release();
  assert.is(tf.memory().numTensors, before);
  assert.is(releasedTiles, 3, 'release is idempotent and reports the tiles once');
});

test('toTensorBatch: no tensor growth over many batches; a class id beyond numClasses is refused', async () => {
  const before = tf.memory().numTensors;
  const stream = from(Array.from({ length: 40 }, (_, i) => [syntheticTile(i), syntheticTile(i + 1)])).pipe(
    toTensorBatch({ oneHot: true, numClasses: 3 }),
  );
  await lastValueFrom(stream.pipe(tap((batch) => batch.release())));
  assert.is(tf.memory().numTensors, before);
  const bad = syntheticTile(0);
  bad.mask.data[3] = 7;
  try {
    await firstValueFrom(from([[bad]]).pipe(toTensorBatch({ oneHot: true, numClasses: 3 })));
    assert.unreachable();
  } catch (error) {
    assert.match(String(error), 'numClasses');
  }
  assert.is(tf.memory().numTensors, before, 'a refused batch leaves no tensor behind');
});

test('toTensorBatch with ahead: at most that many batches are tensors until one is released, in order, then completes', async () => {
  const before = tf.memory().numTensors;
  const source = new Subject<LabelledTile[]>();
  const emitted: Array<{ release: () => void; origins: Array<{ sourceId: string }> }> = [];
  let completed = false;
  source
    .pipe(toTensorBatch({ ahead: 2 }))
    .subscribe({ next: (batch) => emitted.push(batch), complete: () => (completed = true) });
  // A flushed shuffle buffer: ten batches arrive at once.
  for (let i = 0; i < 10; i++) source.next([syntheticTile(i)]);
  source.complete();
  assert.is(emitted.length, 2);
  assert.is(tf.memory().numTensors, before + 4, 'two batches of images and labels');
  assert.not.ok(completed, 'batches still wait');
  for (let released = 0; released < 10; released++) {
    emitted[released]!.release();
    assert.is(emitted.length, Math.min(10, released + 3));
    assert.ok(tf.memory().numTensors <= before + 4);
  }
  assert.ok(completed);
  assert.equal(
    emitted.map((b) => b.origins[0]!.sourceId),
    Array.from({ length: 10 }, (_, i) => `s${i}`),
  );
  assert.is(tf.memory().numTensors, before);
  // A consumer that releases inside next sees every batch, without nesting a call per batch.
  const all = await lastValueFrom(
    from(Array.from({ length: 5000 }, (_, i) => [syntheticTile(i % 7)])).pipe(
      toTensorBatch({ ahead: 1 }),
      tap((batch) => batch.release()),
      toArray(),
    ),
  );
  assert.is(all.length, 5000);
  assert.throws(() => toTensorBatch({ ahead: 0 }), /ahead must be a positive integer/);
});

test('.npy encoding is read back by NumPy with dtype, shape and values', async () => {
  const floats = Float32Array.from({ length: 24 }, (_, i) => i / 3);
  const bytes = Uint8Array.from({ length: 6 }, (_, i) => i * 40);
  const dir = mkdtempSync(join(tmpdir(), 'segstream-npy-'));
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(dir, 'f.npy'), encodeNpy(floats, [2, 3, 4]));
  writeFileSync(join(dir, 'b.npy'), encodeNpy(bytes, [6]));
  writeFileSync(join(dir, 'i.npy'), encodeNpy(Int32Array.from([-5, 7]), [1, 2]));
  let output: string;
  try {
    output = execFileSync(
      'python3',
      [
        '-c',
        `import numpy as np, sys, json
for n in 'fbi':
    a = np.load(sys.argv[1] + '/' + n + '.npy'); print(json.dumps([str(a.dtype), list(a.shape), a.ravel().tolist()]))`,
        dir,
      ],
      { encoding: 'utf8' },
    );
  } catch {
    // Without NumPy, check the header by its definition instead.
    const header = readFileSync(join(dir, 'f.npy'));
    assert.is(header.subarray(0, 6).toString('latin1'), '\x93NUMPY');
    assert.is((10 + header.readUInt16LE(8)) % 64, 0);
    return;
  }
  const [f, b, i] = output
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as unknown);
  assert.equal(f, ['float32', [2, 3, 4], Array.from(floats)]);
  assert.equal(b, ['uint8', [6], Array.from(bytes)]);
  assert.equal(i, ['int32', [1, 2], [-5, 7]]);
});

test('exportTiles writes PNG pairs and .npy arrays that hold the tile', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'segstream-export-'));
  const tiles = [syntheticTile(0, 8), syntheticTile(1, 8)];
  const passed = await firstValueFrom(
    from(tiles).pipe(exportTiles({ outDir: dir, formats: ['png', 'npy'] }), toArray()),
  );
  assert.is(passed.length, 2);
  assert.equal(readdirSync(join(dir, 'images')).sort(), ['s0_x0_y0.png', 's1_x1_y0.png']);
  const image = await sharp(join(dir, 'images', 's1_x1_y0.png'))
    .raw()
    .toBuffer();
  const mask = await sharp(join(dir, 'masks', 's1_x1_y0.png'))
    .extractChannel(0)
    .raw()
    .toBuffer();
  assert.is((await sharp(join(dir, 'masks', 's1_x1_y0.png')).metadata()).channels, 1);
  assert.ok(image.equals(Buffer.from(tiles[1]!.image.data)));
  assert.ok(mask.equals(Buffer.from(tiles[1]!.mask.data)));
  const npy = readFileSync(join(dir, 'npy', 's1_x1_y0_mask.npy'));
  assert.ok(npy.subarray(npy.length - 64).equals(Buffer.from(tiles[1]!.mask.data)));
});

test.run();
