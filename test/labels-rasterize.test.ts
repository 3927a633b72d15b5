import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { labelMeClassMap, vocColormap, xbdClassMap } from '../src/labels/classMap.js';
import { checkShape, rasterizeShapes } from '../src/labels/rasterize.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { LABELME_DIR, XBD_DIR } from './helpers/data.js';
import { realDataTest } from './helpers/skips.js';

const emptyMask = (width: number, height: number) => ({
  data: new Uint8Array(width * height),
  width,
  height,
});
const count = (data: Uint8Array, value: number) => data.reduce((n, v) => n + (v === value ? 1 : 0), 0);

test('pixel-centre rule: a pixel is inside when its centre is, edges shared by two shapes go to one', () => {
  const mask = emptyMask(8, 8);
  // [1, 5) x [2, 4): centres 1.5..4.5 and 2.5..3.5 inside; a square from 0.6 to 1.4 holds no centre.
  rasterizeShapes(mask, [
    { rings: [[1, 2, 5, 2, 5, 4, 1, 4]], value: 1 },
    { rings: [[5, 2, 7, 2, 7, 4, 5, 4]], value: 2 },
    { rings: [[0.6, 6, 1.4, 6, 1.4, 6.4, 0.6, 6.4]], value: 3 },
  ]);
  assert.is(count(mask.data, 1), 8);
  assert.is(count(mask.data, 2), 4);
  assert.is(count(mask.data, 3), 0);
  assert.is(mask.data[2 * 8 + 1], 1);
  assert.is(mask.data[2 * 8 + 5], 2);
});

test('holes are rings inside rings; later shapes win unless priority says otherwise', () => {
  const mask = emptyMask(10, 10);
  rasterizeShapes(mask, [
    {
      rings: [
        [0, 0, 10, 0, 10, 10, 0, 10],
        [2, 2, 8, 2, 8, 8, 2, 8],
      ],
      value: 1,
    },
  ]);
  assert.is(count(mask.data, 1), 100 - 36);
  const overlap = [
    { rings: [[0, 0, 6, 0, 6, 6, 0, 6]], value: 4 },
    { rings: [[3, 3, 9, 3, 9, 9, 3, 9]], value: 1 },
  ];
  const later = emptyMask(10, 10);
  rasterizeShapes(later, overlap);
  assert.is(later.data[4 * 10 + 4], 1, 'later shape wins without priorities');
  const severe = emptyMask(10, 10);
  rasterizeShapes(severe, overlap, xbdClassMap().priority);
  assert.is(severe.data[4 * 10 + 4], 4, 'destroyed (4) beats no-damage (1) under the xBD priority');
  assert.is(count(severe.data, 1), 36 - 9);
});

/** Exact polygon areas from the WKT text, parsed here without the library the reader uses. */
function exactAreasFromWkt(json: {
  features: { xy: Array<{ wkt: string; properties: { subtype: string } }> };
}): Map<string, number> {
  const areas = new Map<string, number>();
  for (const feature of json.features.xy) {
    const polygons = feature.wkt.split(/\)\s*\)\s*,\s*\(\s*\(/);
    let area = 0;
    for (const polygon of polygons) {
      polygon.split(/\)\s*,\s*\(/).forEach((ringText, index) => {
        const points = ringText
          .replace(/[A-Z()]/g, '')
          .split(',')
          .map((p) => p.trim().split(/\s+/).map(Number));
        let twice = 0;
        for (let i = 0; i < points.length; i++) {
          const [x0, y0] = points[i]!;
          const [x1, y1] = points[(i + 1) % points.length]!;
          twice += x0! * y1! - x1! * y0!;
        }
        area += (index === 0 ? 1 : -1) * Math.abs(twice / 2);
      });
    }
    areas.set(feature.properties.subtype, (areas.get(feature.properties.subtype) ?? 0) + area);
  }
  return areas;
}

realDataTest(
  'xBD: per-class pixel totals over all 87 masks are within 1% of the exact polygon areas',
  XBD_DIR,
  'real xBD building polygons',
  async () => {
    const classMap = xbdClassMap();
    const pixels = new Array<number>(5).fill(0);
    const exact = new Map<string, number>();
    const files = readdirSync(join(XBD_DIR, 'labels')).filter((f) => f.endsWith('.json'));
    assert.is(files.length, 87);
    for (const file of files) {
      const labelPath = join(XBD_DIR, 'labels', file);
      const json = JSON.parse(readFileSync(labelPath, 'utf8'));
      for (const [name, area] of exactAreasFromWkt(json)) exact.set(name, (exact.get(name) ?? 0) + area);
      const { width, height } = json.metadata;
      const mask = await readLabelMask({ id: file, imagePath: '', labelPath }, { width, height }, classMap);
      for (const v of mask.data) if (v < 5) pixels[v]!++;
    }
    for (let id = 1; id < 5; id++) {
      const name = classMap.names[id]!;
      const ratio = pixels[id]! / exact.get(name)!;
      console.log(
        `  xBD ${name}: ${pixels[id]} pixels / ${exact.get(name)!.toFixed(0)} exact area = ${ratio.toFixed(4)}`,
      );
      assert.ok(Math.abs(ratio - 1) < 0.01, `${name}: ratio ${ratio}`);
    }
  },
);

realDataTest(
  'LabelMe: masks agree with labelme2voc reference masks on at least 99% of pixels',
  LABELME_DIR,
  'real LabelMe reference masks',
  async () => {
    const classMap = labelMeClassMap(readFileSync(join(LABELME_DIR, 'class_names.txt'), 'utf8'));
    // labelme2voc writes ignored pixels as palette index 255, whose VOC colour is (224, 224, 192).
    const idOfColour = new Map<number, number>(
      vocColormap(256).map(([r, g, b], i) => [(r << 16) | (g << 8) | b, i]),
    );
    for (const file of readdirSync(join(LABELME_DIR, 'labels'))) {
      const stem = file.replace(/\.json$/, '');
      const reference = await sharp(join(LABELME_DIR, 'reference-voc-masks', `${stem}.png`))
        .removeAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      const { width, height } = reference.info;
      const mask = await readLabelMask(
        { id: stem, imagePath: '', labelPath: join(LABELME_DIR, 'labels', file) },
        { width, height },
        classMap,
      );
      let agree = 0;
      let ignored = 0;
      for (let i = 0; i < width * height; i++) {
        const d = reference.data;
        const id = idOfColour.get((d[3 * i]! << 16) | (d[3 * i + 1]! << 8) | d[3 * i + 2]!);
        if (id === mask.data[i]) agree++;
        if (mask.data[i] === classMap.ignoreValue) ignored++;
      }
      const share = agree / (width * height);
      console.log(`  LabelMe ${stem}: ${(share * 100).toFixed(2)}% of pixels agree`);
      assert.ok(share >= 0.99, `${stem}: ${share}`);
      if (stem === '2011_000003') assert.ok(ignored > 0, '__ignore__ maps to the ignore value');
    }
  },
);

test('property: any coordinates give a mask or a named problem, never a crash or a hang', () => {
  const coordinate = fc.oneof(
    fc.double({ min: -1e12, max: 1e12, noNaN: false }),
    fc.constantFrom(Number.NaN, Infinity, -Infinity, 0, 32, 31.5),
  );
  fc.assert(
    fc.property(
      fc.array(fc.array(coordinate, { minLength: 0, maxLength: 40 }), { minLength: 0, maxLength: 4 }),
      (rings) => {
        const shape = { rings, value: 1 };
        const mask = emptyMask(32, 32);
        try {
          checkShape(shape, 32, 32);
        } catch (error) {
          assert.is((error as Error).name, 'ShapeProblem');
          return;
        }
        rasterizeShapes(mask, [shape]);
        assert.ok(count(mask.data, 1) <= 32 * 32);
      },
    ),
    { numRuns: 300 },
  );
  // Self-intersecting rings fill by even-odd; a bow tie covers its two triangles.
  const bowTie = emptyMask(10, 10);
  rasterizeShapes(bowTie, [{ rings: [[0, 0, 10, 10, 10, 0, 0, 10]], value: 1 }]);
  assert.ok(Math.abs(count(bowTie.data, 1) - 50) <= 10);
});

test('property: a million-vertex polygon and far-away coordinates rasterize quickly and clipped', () => {
  const n = 1_000_000;
  const ring = new Array<number>(2 * n);
  for (let k = 0; k < n; k++) {
    ring[2 * k] = 512 + 400 * Math.cos((2 * Math.PI * k) / n);
    ring[2 * k + 1] = 512 + 400 * Math.sin((2 * Math.PI * k) / n);
  }
  const mask = emptyMask(1024, 1024);
  rasterizeShapes(mask, [
    { rings: [ring], value: 1 },
    { rings: [[-1e15, -1e15, 1e15, -1e15, 0, 1e15]], value: 2 },
  ]);
  const disc = Math.PI * 400 * 400;
  assert.ok(count(mask.data, 1) === 0, 'the huge triangle painted later covers the disc');
  assert.is(count(mask.data, 2), 1024 * 1024);
  const discOnly = emptyMask(1024, 1024);
  rasterizeShapes(discOnly, [{ rings: [ring], value: 1 }]);
  assert.ok(Math.abs(count(discOnly.data, 1) / disc - 1) < 0.001);
});

test.run();
