import { join } from 'node:path';
import { firstValueFrom, from, toArray } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeImage } from '../src/io/decodeImage.js';
import { tile } from '../src/operators/tile.js';
import { tileGrid, tilePositions } from '../src/tiling/tileGrid.js';
import type { LabelledImage } from '../src/types.js';
import { syntheticXbd } from './helpers/data.js';

/** A labelled image whose pixel values encode their coordinates, so any misplaced copy shows. */
function coordinateImage(width: number, height: number): LabelledImage {
  const image = new Uint8Array(width * height * 3);
  const mask = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      image.set([x % 256, y % 256, (x + y) % 251], p * 3);
      mask[p] = (x * 7 + y * 3) % 5;
    }
  }
  return {
    id: 'synthetic',
    imagePath: 'synthetic.png',
    labelPath: 'synthetic.json',
    image: { data: image, width, height, channels: 3 },
    mask: { data: mask, width, height },
  };
}

test('tile positions for a 100x70 image and 32-pixel tiles under each edge policy', () => {
  const xs = (edge: 'pad' | 'drop' | 'shift', stride?: number) => [
    ...new Set(
      tilePositions(100, 70, tileGrid({ size: 32, edge, ...(stride ? { stride } : {}) })).map((p) => p.x),
    ),
  ];
  const ys = (edge: 'pad' | 'drop' | 'shift') => [
    ...new Set(tilePositions(100, 70, tileGrid({ size: 32, edge })).map((p) => p.y)),
  ];
  assert.equal(xs('pad'), [0, 32, 64, 96]);
  assert.equal(ys('pad'), [0, 32, 64]);
  assert.equal(xs('drop'), [0, 32, 64]);
  assert.equal(ys('drop'), [0, 32]);
  assert.equal(xs('shift'), [0, 32, 64, 68]);
  assert.equal(ys('shift'), [0, 32, 38]);
  assert.equal(xs('shift', 24), [0, 24, 48, 68]);
  assert.is(tilePositions(20, 20, tileGrid({ size: 32, edge: 'drop' })).length, 0);
  assert.equal(tilePositions(20, 20, tileGrid({ size: 32, edge: 'shift' })), [{ x: 0, y: 0 }]);
});

test('every tile holds the source pixels at its origin; padding is image 0 and mask ignore', async () => {
  const source = coordinateImage(100, 70);
  for (const edge of ['pad', 'drop', 'shift'] as const) {
    const tiles = await firstValueFrom(from([source]).pipe(tile({ size: 32, stride: 24, edge }), toArray()));
    assert.is(tiles.length, tilePositions(100, 70, tileGrid({ size: 32, stride: 24, edge })).length);
    for (const t of tiles) {
      assert.equal([t.origin.sourceId, t.origin.sourceWidth, t.origin.sourceHeight], ['synthetic', 100, 70]);
      for (let row = 0; row < 32; row++) {
        for (let col = 0; col < 32; col++) {
          const x = t.origin.x + col;
          const y = t.origin.y + row;
          const inside = x < 100 && y < 70;
          const q = row * 32 + col;
          const expected = inside
            ? Array.from(source.image.data.subarray((y * 100 + x) * 3, (y * 100 + x) * 3 + 3))
            : [0, 0, 0];
          assert.equal(
            Array.from(t.image.data.subarray(q * 3, q * 3 + 3)),
            expected,
            `${edge} tile at ${t.origin.x},${t.origin.y} pixel ${col},${row}`,
          );
          assert.is(t.mask.data[q], inside ? source.mask.data[y * 100 + x] : 255);
          if (edge !== 'pad') assert.ok(inside, `${edge} must not pad`);
        }
      }
    }
  }
});

test('a 1024x1024 xBD-like image gives 16 tiles of 256 that stitch back into the image', async () => {
  const xbd = await syntheticXbd(1);
  const path = join(xbd.imagesDir, xbd.images[0]!);
  const image = await decodeImage(path);
  const mask = new Uint8Array(image.width * image.height).map((_, i) => i % 5);
  const tiles = await firstValueFrom(
    from([
      { id: 'g9', imagePath: path, labelPath: '', image, mask: { data: mask, width: 1024, height: 1024 } },
    ]).pipe(tile(), toArray()),
  );
  assert.is(tiles.length, 16);
  const stitched = new Uint8Array(image.data.length);
  const stitchedMask = new Uint8Array(mask.length);
  for (const t of tiles) {
    for (let row = 0; row < 256; row++) {
      stitched.set(
        t.image.data.subarray(row * 256 * 3, (row + 1) * 256 * 3),
        ((t.origin.y + row) * 1024 + t.origin.x) * 3,
      );
      stitchedMask.set(
        t.mask.data.subarray(row * 256, (row + 1) * 256),
        (t.origin.y + row) * 1024 + t.origin.x,
      );
    }
  }
  assert.ok(Buffer.from(stitched).equals(Buffer.from(image.data)));
  assert.ok(Buffer.from(stitchedMask).equals(Buffer.from(mask)));
});

test('bad tile options are refused by name', () => {
  for (const [options, name] of [
    [{ size: 0 }, 'size'],
    [{ size: 32, stride: 40 }, 'stride'],
    [{ edge: 'wrap' }, 'edge'],
  ] as const) {
    try {
      tile(options as never);
      assert.unreachable();
    } catch (error) {
      assert.match(String(error), name);
    }
  }
});

test.run();
