import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { xbdClassMap } from '../src/labels/classMap.js';
import { type LabelShape, rasterizeShapes } from '../src/labels/rasterize.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import type { ClassMask } from '../src/types.js';
import { SeededRandom } from '../src/util/seededRandom.js';

const WIDTH = 301;
const HEIGHT = 203;

/** A star-shaped ring of `points` vertices at fractional coordinates around (cx, cy), reaching up to `reach` px. */
function starRing(random: SeededRandom, cx: number, cy: number, reach: number, points: number): number[] {
  return Array.from({ length: points }, (_, k) => {
    const angle = (2 * Math.PI * k) / points;
    const radius = random.between(reach / 4, reach);
    return [cx + radius * Math.cos(angle), cy + radius * Math.sin(angle)];
  }).flat();
}

/** Random polygons (some with holes, some past the image's edges) of classes 1..4, overlapping. */
function randomShapes(seed: number): LabelShape[] {
  const random = new SeededRandom(seed);
  return Array.from({ length: 40 }, () => {
    const [cx, cy] = [random.between(-20, WIDTH + 20), random.between(-20, HEIGHT + 20)];
    const reach = random.between(2, 90);
    const rings = [starRing(random, cx, cy, reach, random.int(3, 12))];
    if (random.float() < 0.3) rings.push(starRing(random, cx, cy, reach / 5, random.int(3, 6)));
    return { rings, value: random.int(1, 4) };
  });
}

/** A random window inside the image. */
function randomWindow(random: SeededRandom): { x: number; y: number; width: number; height: number } {
  const x = random.int(0, WIDTH - 1);
  const y = random.int(0, HEIGHT - 1);
  return { x, y, width: random.int(1, WIDTH - x), height: random.int(1, HEIGHT - y) };
}

/** The pixels of a window of a whole-image mask. */
function cut(mask: ClassMask, window: { x: number; y: number; width: number; height: number }): number[] {
  const out: number[] = [];
  for (let row = window.y; row < window.y + window.height; row++)
    out.push(...mask.data.subarray(row * mask.width + window.x, row * mask.width + window.x + window.width));
  return out;
}

test('a window rasterized alone has exactly the pixels of the whole mask there (random polygons, holes, priorities)', () => {
  const random = new SeededRandom(99);
  for (let seed = 1; seed <= 20; seed++) {
    const shapes = randomShapes(seed);
    for (const priority of [undefined, xbdClassMap().priority]) {
      const whole: ClassMask = { data: new Uint8Array(WIDTH * HEIGHT), width: WIDTH, height: HEIGHT };
      rasterizeShapes(whole, shapes, priority);
      assert.ok(new Set(whole.data).size > 2, 'the shapes paint several classes');
      // Random windows, a band of rows and one column, each painted alone.
      const windows = [
        ...Array.from({ length: 10 }, () => randomWindow(random)),
        { x: 0, y: 64, width: WIDTH, height: 64 },
        { x: WIDTH - 1, y: 0, width: 1, height: HEIGHT },
      ];
      for (const window of windows) {
        const part: ClassMask = {
          data: new Uint8Array(window.width * window.height),
          width: window.width,
          height: window.height,
        };
        rasterizeShapes(part, shapes, priority, window);
        assert.equal(Array.from(part.data), cut(whole, window), `seed ${seed} ${JSON.stringify(window)}`);
      }
    }
  }
});

test('readLabelMask of a window of a mask image has the pixels of the whole mask there', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'segstream-window-'));
  const classMap = xbdClassMap();
  const whole: ClassMask = { data: new Uint8Array(WIDTH * HEIGHT), width: WIDTH, height: HEIGHT };
  rasterizeShapes(whole, randomShapes(7), classMap.priority);
  const maskPath = join(dir, 'scene.png');
  const colours = Buffer.from(Array.from(whole.data).flatMap((value) => classMap.colors[value]!));
  await sharp(colours, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } })
    .png()
    .toFile(maskPath);
  const pair = { id: 'scene', imagePath: join(dir, 'scene.tif'), labelPath: maskPath };
  const size = { width: WIDTH, height: HEIGHT };
  const window = { x: 17, y: 150, width: 200, height: 53 };
  const part = await readLabelMask(pair, size, classMap, { window });
  assert.equal([part.width, part.height], [200, 53]);
  const read = await readLabelMask(pair, size, classMap);
  assert.equal(Array.from(read.data), Array.from(whole.data), 'the mask image holds the rasterized mask');
  assert.equal(Array.from(part.data), cut(whole, window));
});

test.run();
