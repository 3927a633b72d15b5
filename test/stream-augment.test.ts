import { firstValueFrom, from, toArray } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { augment } from '../src/operators/augment.js';
import { type AugmentationDraw, type AugmentOptions, applyAugmentation } from '../src/tiling/augmentation.js';
import type { LabelledTile } from '../src/tiling/labelledTile.js';

const SIZE = 24;

/** A tile whose mask is a function of its image's first channel, so a shared geometry keeps the relation. */
function linkedTile(seed: number): LabelledTile {
  const image = new Uint8Array(SIZE * SIZE * 3);
  const mask = new Uint8Array(SIZE * SIZE);
  for (let p = 0; p < SIZE * SIZE; p++) {
    const value = (p * 37 + seed * 11) % 250;
    image.set([value, (value * 3) % 256, 255 - value], p * 3);
    mask[p] = value % 5;
  }
  return {
    image: { data: image, width: SIZE, height: SIZE, channels: 3 },
    mask: { data: mask, width: SIZE, height: SIZE },
    origin: { sourceId: `t${seed}`, x: 0, y: 0, sourceWidth: SIZE, sourceHeight: SIZE },
  };
}

const plain: AugmentationDraw = {
  flipHorizontal: false,
  flipVertical: false,
  quarterTurns: 0,
  crop: { x: 0, y: 0, side: SIZE },
  brightness: 0,
  contrast: 1,
  saturation: 1,
  hue: 0,
};
const pixel = (t: LabelledTile, x: number, y: number): number[] =>
  Array.from(t.image.data.subarray((y * SIZE + x) * 3, (y * SIZE + x) * 3 + 3));

test('flips and quarter turns move pixels where the definitions say', () => {
  const tile = linkedTile(1);
  const last = SIZE - 1;
  const cases: Array<[Partial<AugmentationDraw>, (x: number, y: number) => [number, number]]> = [
    [{}, (x, y) => [x, y]],
    [{ flipHorizontal: true }, (x, y) => [last - x, y]],
    [{ flipVertical: true }, (x, y) => [x, last - y]],
    // clockwise quarter turn: output (x, y) shows source (y, last - x)
    [{ quarterTurns: 1 }, (x, y) => [y, last - x]],
    [{ quarterTurns: 2 }, (x, y) => [last - x, last - y]],
    [{ quarterTurns: 3 }, (x, y) => [last - y, x]],
    // flip first, then turn
    [{ quarterTurns: 1, flipHorizontal: true }, (x, y) => [last - y, last - x]],
  ];
  for (const [change, sourceOf] of cases) {
    const out = applyAugmentation(tile, { ...plain, ...change });
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const [sx, sy] = sourceOf(x, y);
        assert.equal(pixel(out, x, y), pixel(tile, sx, sy), `${JSON.stringify(change)} at ${x},${y}`);
        assert.is(out.mask.data[y * SIZE + x], tile.mask.data[sy * SIZE + sx]);
      }
    }
  }
});

test('random geometry is applied identically to image and mask; colour changes only the image, not the geometry', async () => {
  const tiles = Array.from({ length: 30 }, (_, i) => linkedTile(i));
  const out = await firstValueFrom(from(tiles).pipe(augment({ seed: 5 }), toArray()));
  for (const t of out)
    for (let p = 0; p < SIZE * SIZE; p++) assert.is(t.mask.data[p], t.image.data[p * 3]! % 5);
  const coloured = await firstValueFrom(
    from(tiles).pipe(
      augment({ seed: 5, brightness: 0.3, contrast: 0.3, saturation: 0.5, hue: 30 }),
      toArray(),
    ),
  );
  let changed = 0;
  coloured.forEach((t, i) => {
    assert.equal(Array.from(t.mask.data), Array.from(out[i]!.mask.data), 'colour must not touch the mask');
    if (!Buffer.from(t.image.data).equals(Buffer.from(out[i]!.image.data))) changed++;
  });
  assert.is(changed, 30);
});

test('crop and scale keeps mask values to class ids of the tile (nearest) and moves them with the image', async () => {
  const tile = linkedTile(3);
  const out = applyAugmentation(tile, { ...plain, crop: { x: 6, y: 4, side: 12 } });
  const ids = new Set(tile.mask.data);
  for (const value of out.mask.data) assert.ok(ids.has(value));
  // Output pixel (x, y) samples source (6 + (x + 0.5) / 2 - 0.5, 4 + ...); (1, 1) lands on (6.25, 4.25) -> nearest (6, 4).
  assert.is(out.mask.data[1 * SIZE + 1], tile.mask.data[4 * SIZE + 6]);
  const red = (x: number, y: number): number => tile.image.data[(y * SIZE + x) * 3]!;
  const expectedRed =
    0.75 * (0.75 * red(6, 4) + 0.25 * red(7, 4)) + 0.25 * (0.75 * red(6, 5) + 0.25 * red(7, 5));
  assert.ok(Math.abs(out.image.data[(1 * SIZE + 1) * 3]! - expectedRed) <= 1, 'bilinear image sample');
});

test('the same seed reproduces the same tiles; another seed does not', async () => {
  const tiles = Array.from({ length: 12 }, (_, i) => linkedTile(i));
  const options: AugmentOptions = { seed: 11, cropScale: [0.5, 1], brightness: 0.2, hue: 20 };
  const run = (seed: number) => firstValueFrom(from(tiles).pipe(augment({ ...options, seed }), toArray()));
  const [a, b, c] = await Promise.all([run(11), run(11), run(12)]);
  const bytes = (ts: LabelledTile[]) =>
    Buffer.concat(ts.flatMap((t) => [Buffer.from(t.image.data), Buffer.from(t.mask.data)]));
  assert.ok(bytes(a).equals(bytes(b)));
  assert.not.ok(bytes(a).equals(bytes(c)));
  for (const t of tiles)
    assert.equal(
      Array.from(t.image.data),
      Array.from(linkedTile(Number(t.origin.sourceId.slice(1))).image.data),
      'inputs untouched',
    );
});

test('out-of-range options are refused by name', () => {
  for (const [options, name] of [
    [{ seed: 1.5 }, 'seed'],
    [{ seed: 1, cropScale: [0, 1] }, 'cropScale'],
    [{ seed: 1, hue: 400 }, 'hue'],
    [{ seed: 1, brightness: -1 }, 'brightness'],
  ] as const) {
    try {
      augment(options as never);
      assert.unreachable();
    } catch (error) {
      assert.match(String(error), name);
    }
  }
});

test('a tile of 4 bands gets the geometry of its first three as an RGB tile would, brightness on every band; hue needs RGB', () => {
  const rgb = linkedTile(3);
  const bands = new Uint8Array(SIZE * SIZE * 4);
  for (let p = 0; p < SIZE * SIZE; p++)
    bands.set([...rgb.image.data.subarray(p * 3, p * 3 + 3), (p * 13) % 256], p * 4);
  const fourBand: LabelledTile = { ...rgb, image: { ...rgb.image, data: bands, channels: 4 } };
  const draw: AugmentationDraw = {
    ...plain,
    flipVertical: true,
    quarterTurns: 3,
    crop: { x: 3, y: 5, side: 17 },
  };
  const fromRgb = applyAugmentation(rgb, draw);
  const fromBands = applyAugmentation(fourBand, draw);
  assert.is(fromBands.image.channels, 4);
  assert.equal(fromBands.mask.data, fromRgb.mask.data);
  const firstThree = Uint8Array.from(
    { length: SIZE * SIZE * 3 },
    (_, i) => fromBands.image.data[Math.floor(i / 3) * 4 + (i % 3)]!,
  );
  assert.equal(firstThree, fromRgb.image.data);
  const brighter = applyAugmentation(fourBand, { ...draw, brightness: 0.1 });
  assert.equal(
    brighter.image.data,
    fromBands.image.data.map((v) => Math.min(255, Math.round(v + 25.5))),
  );
  assert.throws(
    () => applyAugmentation(fourBand, { ...draw, hue: 10 }),
    /saturation and hue change RGB tiles only; tiles of t3 have 4 channels/,
  );
});

test.run();
