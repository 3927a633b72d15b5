import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type ClassMap, xbdClassMap } from '../src/labels/classMap.js';
import { rasterizeShapes, ringArea } from '../src/labels/rasterize.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { type MaskPolygon, maskToPolygons } from '../src/predict/maskToPolygons.js';
import { sieveMask } from '../src/predict/sieveMask.js';
import { maskToSimplifiedPolygons } from '../src/predict/simplifyPolygons.js';
import {
  POLYGON_LABEL_FORMATS,
  polygonsToLabelJson,
  writePolygonLabels,
} from '../src/predict/writePolygons.js';
import type { ClassMask } from '../src/types.js';
import { PROJECT_ROOT, syntheticXbd } from './helpers/data.js';
import { randomMasks } from './helpers/masks.js';
import { RED_BUILDING_CLASSES, writeRedBuildingRun } from './helpers/runs.js';

await tf.setBackend('cpu');

const scratch = mkdtempSync(join(tmpdir(), 'segstream-polygons-'));

/** A mask from rows of digits, one character per pixel. */
function maskOf(rows: string[]): ClassMask {
  return {
    data: Uint8Array.from(rows.join('').split(''), Number),
    width: rows[0]!.length,
    height: rows.length,
  };
}

/** The polygons painted by the project's rasterizer, each with its class. */
function rasterized(polygons: MaskPolygon[], width: number, height: number): ClassMask {
  const mask = { data: new Uint8Array(width * height), width, height };
  rasterizeShapes(
    mask,
    polygons.map(({ rings, classId }) => ({ rings, value: classId })),
  );
  return mask;
}

function assertSameMask(actual: ClassMask, expected: Uint8Array, what: string): void {
  assert.is(actual.data.length, expected.length, `${what}: mask size`);
  if (Buffer.compare(actual.data, expected) === 0) return;
  for (let i = 0; i < expected.length; i++) {
    if (actual.data[i] !== expected[i])
      assert.unreachable(
        `${what}: pixel (${i % actual.width}, ${Math.floor(i / actual.width)}) is ${actual.data[i]}, expected ${expected[i]}`,
      );
  }
}

/** Vertices as "x,y" strings, to compare rings as sets. */
const corners = (ring: number[]): string[] =>
  ring.flatMap((v, i) => (i % 2 === 0 ? [`${v},${ring[i + 1]}`] : []));

/** Ring shape: integer corners inside the image, no repeated vertex, a turn at every vertex (collinear ones merged). */
function assertWellFormedRing(ring: number[], width: number, height: number): void {
  assert.ok(
    ring.every((v, i) => Number.isInteger(v) && v >= 0 && v <= (i % 2 === 0 ? width : height)),
    'integer corners in the image',
  );
  const points = corners(ring);
  assert.is(new Set(points).size, points.length, `a vertex repeats in ${points.join(' ')}`);
  const n = ring.length;
  for (let i = 0; i < n; i += 2) {
    const [px, py, x, y, nx, ny] = [
      ring[(i - 2 + n) % n]!,
      ring[(i - 1 + n) % n]!,
      ring[i]!,
      ring[i + 1]!,
      ring[(i + 2) % n]!,
      ring[(i + 3) % n]!,
    ];
    assert.ok(x === px || y === py, 'edges follow pixel edges');
    assert.ok(
      (x - px) * (ny - y) - (y - py) * (nx - x) !== 0,
      `vertex (${x}, ${y}) is collinear with its neighbours`,
    );
  }
}

/** 4-connected regions of equal non-background values, counted with union-find (independent of the tracer). */
function regionCount(mask: ClassMask, background = 0): number {
  const { data, width } = mask;
  const parent = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) parent[i] = i;
  const root = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  let count = 0;
  for (let i = 0; i < data.length; i++) {
    if (data[i] === background) continue;
    if (i % width > 0 && data[i] === data[i - 1]) parent[root(i)] = root(i - 1);
    if (i >= width && data[i] === data[i - width]) parent[root(i)] = root(i - width);
  }
  for (let i = 0; i < data.length; i++) if (data[i] !== background && root(i) === i) count++;
  return count;
}

test('a rectangle is one ring of its 4 corners, counter-clockwise in y-up axes, with its pixel count as area', () => {
  const mask = maskOf(['00000', '02220', '02220', '00000']);
  const polygons = maskToPolygons(mask);
  assert.is(polygons.length, 1);
  assert.is(polygons[0]!.classId, 2);
  assert.is(polygons[0]!.rings.length, 1);
  assert.equal(corners(polygons[0]!.rings[0]!).sort(), ['1,1', '1,3', '4,1', '4,3']);
  assert.is(ringArea(polygons[0]!.rings[0]!), 6);
  // Pixels on every border: the ring runs along the image's edges.
  const full = maskToPolygons(maskOf(['11', '11', '11']));
  assert.equal(corners(full[0]!.rings[0]!).sort(), ['0,0', '0,3', '2,0', '2,3']);
});

test('pixels touching only at a corner are separate regions; inside one region a corner touch keeps rings simple', () => {
  const checker = maskToPolygons(maskOf(['10', '01']));
  assert.is(checker.length, 2);
  assert.equal(
    checker.map((p) => corners(p.rings[0]!).sort()),
    [
      ['0,0', '0,1', '1,0', '1,1'],
      ['1,1', '1,2', '2,1', '2,2'],
    ],
  );
  assert.is(maskToPolygons(maskOf(['12', '21'])).length, 4);
  // (1, 0) and (2, 1) touch at the corner (2, 1) and are joined round the left: the pocket (1, 1) is a hole
  // whose ring touches the outer ring at that corner.
  const saddle = maskOf(['110', '101', '111']);
  const [polygon] = maskToPolygons(saddle);
  assert.is(polygon!.rings.length, 2);
  const [outer, hole] = polygon!.rings as [number[], number[]];
  assert.is(ringArea(outer), 8);
  assert.is(ringArea(hole), -1);
  assert.equal(corners(hole).sort(), ['1,1', '1,2', '2,1', '2,2']);
  assert.ok(corners(outer).includes('2,1'), 'the rings touch at the shared corner');
  for (const ring of polygon!.rings) assertWellFormedRing(ring, 3, 3);
  assertSameMask(rasterized([polygon!], 3, 3), saddle.data, 'saddle');
});

test('holes and nested regions: a frame around an island with a hole around another class', () => {
  const mask = maskOf(['1111111', '1000001', '1033301', '1034301', '1033301', '1000001', '1111111']);
  const polygons = maskToPolygons(mask);
  assert.equal(
    polygons.map((p) => [p.classId, p.rings.length]),
    [
      [1, 2],
      [3, 2],
      [4, 1],
    ],
  );
  assert.is(ringArea(polygons[0]!.rings[1]!), -25, 'the frame has a 5x5 hole');
  assertSameMask(rasterized(polygons, 7, 7), mask.data, 'nested');
});

test('background, ignore value and minArea leave pixels out, which read back as background', () => {
  const mask = maskOf(['1100', '1109', '0000', '2220']);
  const withIgnore = { ...mask, data: mask.data.map((v) => (v === 9 ? 255 : v)) };
  const polygons = maskToPolygons(withIgnore, { ignoreValue: 255 });
  assert.equal(
    polygons.map((p) => p.classId),
    [1, 2],
  );
  assert.equal(
    maskToPolygons(withIgnore).map((p) => p.classId),
    [1, 255, 2],
    'without an ignore value 255 is a class',
  );
  // Fewer than minArea pixels: the 3-pixel region goes, the 4-pixel one stays.
  assert.equal(
    maskToPolygons(withIgnore, { ignoreValue: 255, minArea: 4 }).map((p) => p.classId),
    [1],
  );
  const kept = rasterized(maskToPolygons(withIgnore, { ignoreValue: 255, minArea: 4 }), 4, 4);
  assertSameMask(kept, maskOf(['1100', '1100', '0000', '0000']).data, 'minArea');
  // Another background value: 0 is traced like any class.
  assert.equal(
    maskToPolygons(maskOf(['01', '11']), { background: 1 }).map((p) => p.classId),
    [0],
  );
  assert.throws(
    () => maskToPolygons({ data: new Uint8Array(5), width: 2, height: 2 }),
    /5 values for a 2x2 mask/,
  );
});

test('property: random masks come back exactly from their polygons, one polygon per 4-connected region, rings well formed', () => {
  const maskArb = randomMasks(12);
  fc.assert(
    fc.property(maskArb, (mask) => {
      const polygons = maskToPolygons(mask);
      assertSameMask(rasterized(polygons, mask.width, mask.height), mask.data, 'random mask');
      assert.is(polygons.length, regionCount(mask));
      for (const { rings } of polygons) {
        rings.forEach((ring, k) => {
          assertWellFormedRing(ring, mask.width, mask.height);
          assert.ok(k === 0 ? ringArea(ring) > 0 : ringArea(ring) < 0, 'outer ring positive, holes negative');
        });
      }
    }),
    { numRuns: 500 },
  );
});

/** A label mask as the polygons should paint it: ignored pixels (255) are not traced, so they are background. */
function withoutIgnored(data: Uint8Array): Uint8Array {
  const copy = data.slice();
  for (let i = 0; i < copy.length; i++) if (copy[i] === 255) copy[i] = 0;
  return copy;
}

// Crowded 1024x1024 tiles: overlapping buildings of several classes make regions of many corners, some
// with holes, and un-classified buildings leave ignored pixels.
const xbd = await syntheticXbd(8, { buildingsPerImage: 60, unclassifiedEvery: 9 });
const xbdMask = (file: string) =>
  readLabelMask(
    { id: file, imagePath: '', labelPath: join(xbd.labelsDir, file) },
    { width: 1024, height: 1024 },
    xbdClassMap(),
  );

test('xBD masks: every 1024x1024 label mask comes back exactly from its polygons (un-classified pixels as background)', async () => {
  let slowest = 0;
  let regions = 0;
  let holes = 0;
  for (const file of xbd.labels) {
    const mask = await xbdMask(file);
    const started = performance.now();
    const polygons = maskToPolygons(mask, { ignoreValue: 255 });
    slowest = Math.max(slowest, performance.now() - started);
    regions += polygons.length;
    holes += polygons.reduce((sum, { rings }) => sum + rings.length - 1, 0);
    const traced = { ...mask, data: withoutIgnored(mask.data) };
    assertSameMask(rasterized(polygons, 1024, 1024), traced.data, file);
    assert.is(polygons.length, regionCount(traced), `${file}: one polygon per region`);
    for (const { rings } of polygons) for (const ring of rings) assertWellFormedRing(ring, 1024, 1024);
  }
  console.log(
    `  ${xbd.labels.length} xBD masks, ${regions} regions, ${holes} holes; slowest trace ${slowest.toFixed(1)} ms`,
  );
  assert.ok(holes > 0, 'some region has a hole');
  assert.ok(slowest < 1000, `tracing a 1024x1024 mask took ${slowest} ms`);
});

/**
 * Every case at once, on the image border too: a frame (class 1) around a hole holding an island (3) with a
 * hole holding one pixel (4); class-2 pixels touching only at corners, and a class-2 region whose pixels touch
 * at a corner around a one-pixel hole; five class-3 pixels in an X; a class-1 C open to the right border.
 */
const SYNTHETIC = maskOf([
  '11111110200004',
  '10000010020000',
  '10333010002200',
  '10343010002020',
  '10333010002220',
  '10000010300000',
  '11111110030011',
  '00000000303010',
  '22044000030011',
  '20040000000014',
]);

/** Writes the polygons in a format, reads the file back with the project's reader and returns the mask. */
async function roundTrip(
  polygons: MaskPolygon[],
  format: (typeof POLYGON_LABEL_FORMATS)[number],
  size: { width: number; height: number },
  classMap: ClassMap = xbdClassMap(),
): Promise<{ mask: ClassMask; path: string }> {
  const path = join(scratch, `${format}.json`);
  await writePolygonLabels(polygons, path, { format, classMap, ...size, imageFileName: 'scene.png' });
  const mask = await readLabelMask(
    { id: 'scene', imagePath: '', labelPath: path, labelKey: 'scene.png' },
    size,
    classMap,
  );
  return { mask, path };
}

/** True when segments ab and cd cross at a point inside both (touching and overlapping do not count). */
function properlyCross(a: number[], b: number[], c: number[], d: number[]): boolean {
  const side = (p: number[], q: number[], r: number[]) =>
    Math.sign((q[0]! - p[0]!) * (r[1]! - p[1]!) - (q[1]! - p[1]!) * (r[0]! - p[0]!));
  return side(a, b, c) * side(a, b, d) < 0 && side(c, d, a) * side(c, d, b) < 0;
}

/** Quarter turns from +x to the axis-parallel direction from p to q (0: +x, 1: +y, 2: -x, 3: -y). */
function quarter(p: number[], q: number[]): number {
  const [dx, dy] = [q[0]! - p[0]!, q[1]! - p[1]!];
  assert.ok((dx === 0) !== (dy === 0), 'edges are axis-parallel');
  return dx > 0 ? 0 : dy > 0 ? 1 : dx < 0 ? 2 : 3;
}

/** True when p lies on segment ab between its ends (ab axis-parallel). */
function strictlyInside(p: number[], a: number[], b: number[]): boolean {
  const along = (k: 0 | 1) =>
    p[1 - k] === a[1 - k] &&
    a[1 - k] === b[1 - k] &&
    p[k]! > Math.min(a[k]!, b[k]!) &&
    p[k]! < Math.max(a[k]!, b[k]!);
  return along(0) || along(1);
}

/**
 * COCO annotations have one ring each (holes bridged in) that never crosses itself: no two edges cross, no
 * vertex lies inside an edge (a bridge running along or beyond a ring), and where the ring passes a vertex more
 * than once (bridge ends, holes touching at a corner) no pass goes through another: the directions one pass
 * comes from and goes to never lie one on each side of another pass.
 */
function assertKeyholeRings(coco: { annotations: Array<{ segmentation: number[][] }> }): void {
  for (const { segmentation } of coco.annotations) {
    assert.is(segmentation.length, 1, 'one ring per region, holes bridged in');
    const ring = segmentation[0]!;
    const points = Array.from({ length: ring.length / 2 }, (_, i) => [ring[2 * i]!, ring[2 * i + 1]!]);
    const n = points.length;
    const edges = points.map((p, i) => [p, points[(i + 1) % n]!] as const);
    for (let i = 0; i < n; i++) {
      // Messages are built only on failure: these loops run over every pair.
      for (let j = i + 1; j < n; j++)
        if (properlyCross(...edges[i]!, ...edges[j]!))
          assert.unreachable(`edges ${i} and ${j} cross in ${ring.join(',')}`);
      for (const edge of edges)
        if (strictlyInside(points[i]!, ...edge))
          assert.unreachable(`vertex (${points[i]}) inside edge (${edge.join(')-(')}) in ${ring.join(',')}`);
    }
    const passes = new Map<string, Array<[number, number]>>();
    points.forEach((point, i) => {
      const pass: [number, number] = [
        quarter(point, points[(i - 1 + n) % n]!),
        quarter(point, points[(i + 1) % n]!),
      ];
      const earlier = passes.get(`${point}`) ?? [];
      // Strictly between the two directions of `other`, counter-clockwise from its first.
      const between = (other: [number, number], direction: number) =>
        (direction - other[0] + 4) % 4 > 0 && (direction - other[0] + 4) % 4 < (other[1] - other[0] + 4) % 4;
      const outside = (other: [number, number], direction: number) =>
        direction !== other[0] && direction !== other[1] && !between(other, direction);
      for (const other of earlier) {
        const through =
          (between(other, pass[0]) && outside(other, pass[1])) ||
          (outside(other, pass[0]) && between(other, pass[1]));
        if (through) assert.unreachable(`the ring crosses itself at (${point}) in ${ring.join(',')}`);
      }
      passes.set(`${point}`, [...earlier, pass]);
    });
  }
}

test('synthetic mask: xBD, GeoJSON and COCO files read back into the same mask, pixel for pixel', async () => {
  const polygons = maskToPolygons(SYNTHETIC);
  const perClass = (classId: number) =>
    polygons.filter((p) => p.classId === classId).map((p) => p.rings.length);
  assert.equal(
    [perClass(1), perClass(2), perClass(3), perClass(4)],
    [
      [2, 1],
      [1, 1, 2, 1],
      [2, 1, 1, 1, 1, 1],
      [1, 1, 1, 1],
    ],
  );
  for (const format of POLYGON_LABEL_FORMATS) {
    const { mask } = await roundTrip(polygons, format, SYNTHETIC);
    assertSameMask(mask, SYNTHETIC.data, format);
  }
});

test('the files follow each format: xBD WKT and subtypes, closed right-hand GeoJSON rings, COCO keyhole rings with pixel areas', async () => {
  const polygons = maskToPolygons(SYNTHETIC);
  const size = { width: SYNTHETIC.width, height: SYNTHETIC.height };
  const xbd = JSON.parse(readFileSync((await roundTrip(polygons, 'xbd', size)).path, 'utf8'));
  assert.equal(xbd.metadata, { width: 14, height: 10, img_name: 'scene.png' });
  assert.is(xbd.features.xy.length, 16);
  assert.is(xbd.features.xy[0].properties.subtype, 'no-damage');
  assert.equal(
    new Set(xbd.features.xy.map((f: { properties: { subtype: string } }) => f.properties.subtype)),
    new Set(['no-damage', 'minor-damage', 'major-damage', 'destroyed']),
  );
  // The frame: its outer ring along the image's top-left corner, then the 5x5 hole.
  assert.match(xbd.features.xy[0].wkt, /^POLYGON \(\(\d+ \d+(, \d+ \d+)+\), \(\d+ \d+(, \d+ \d+)+\)\)$/);
  assert.ok(xbd.features.xy[0].wkt.includes('0 0') && xbd.features.xy[0].wkt.includes('7 7'));

  const geojson = JSON.parse(readFileSync((await roundTrip(polygons, 'geojson', size)).path, 'utf8'));
  assert.is(geojson.type, 'FeatureCollection');
  for (const feature of geojson.features as Array<{
    geometry: { type: string; coordinates: number[][][] };
  }>) {
    assert.is(feature.geometry.type, 'Polygon');
    feature.geometry.coordinates.forEach((ring, k) => {
      assert.equal(ring[0], ring[ring.length - 1], 'rings are closed');
      const area = ringArea(ring.slice(0, -1).flat());
      assert.ok(k === 0 ? area > 0 : area < 0, 'outer rings counter-clockwise, holes clockwise (y-up)');
    });
  }

  const coco = JSON.parse(readFileSync((await roundTrip(polygons, 'coco', size)).path, 'utf8'));
  assert.equal(coco.images, [{ id: 1, file_name: 'scene.png', width: 14, height: 10 }]);
  assert.equal(
    coco.categories.map((c: { id: number; name: string }) => `${c.id}:${c.name}`),
    ['1:no-damage', '2:minor-damage', '3:major-damage', '4:destroyed'],
  );
  const pixelsOf = (classId: number) => SYNTHETIC.data.filter((v) => v === classId).length;
  for (const classId of [1, 2, 3, 4]) {
    const annotations = coco.annotations.filter((a: { category_id: number }) => a.category_id === classId);
    assert.is(
      annotations.reduce((sum: number, a: { area: number }) => sum + a.area, 0),
      pixelsOf(classId),
      `class ${classId} area`,
    );
  }
  assert.equal(coco.annotations[0].bbox, [0, 0, 7, 7]);
  assertKeyholeRings(coco);
});

test('property: random masks read back unchanged from all three formats', async () => {
  // Few classes make holes of background common, which COCO polygons can only carry as keyholes.
  const maskArb = randomMasks(10);
  await fc.assert(
    fc.asyncProperty(maskArb, async (mask) => {
      const polygons = maskToPolygons(mask);
      for (const format of POLYGON_LABEL_FORMATS)
        assertSameMask((await roundTrip(polygons, format, mask)).mask, mask.data, format);
    }),
    { numRuns: 150 },
  );
});

test('property: COCO keyhole rings never cross themselves, on masks with many holes', () => {
  // Six pixels in ten set: regions full of holes, many in the same rows, touching each other at corners.
  const maskArb = fc
    .record({ width: fc.integer({ min: 2, max: 12 }), height: fc.integer({ min: 2, max: 12 }) })
    .chain(({ width, height }) =>
      fc
        .array(
          fc.integer({ min: 0, max: 9 }).map((v) => (v < 6 ? 1 : 0)),
          { minLength: width * height, maxLength: width * height },
        )
        .map((values) => ({ data: Uint8Array.from(values), width, height })),
    );
  fc.assert(
    fc.property(maskArb, (mask) => {
      const polygons = maskToPolygons(mask);
      assertKeyholeRings(
        polygonsToLabelJson(polygons, {
          format: 'coco',
          classMap: xbdClassMap(),
          ...mask,
          imageFileName: 'scene.png',
        }) as never,
      );
      assertSameMask(rasterized(polygons, mask.width, mask.height), mask.data, 'binary mask');
    }),
    { numRuns: 1000 },
  );
});

test('xBD masks read back unchanged from all three formats (un-classified buildings are not written)', async () => {
  const files = xbd.labels.slice(0, 3);
  const size = { width: 1024, height: 1024 };
  for (const file of files) {
    const label = await xbdMask(file);
    assert.ok(label.data.includes(255), `${file} has ignored pixels`);
    const expected = withoutIgnored(label.data);
    const polygons = maskToPolygons(label, { ignoreValue: 255 });
    for (const format of POLYGON_LABEL_FORMATS)
      assertSameMask((await roundTrip(polygons, format, size)).mask, expected, `${file} as ${format}`);
  }
  console.log(`  ${files.length} xBD label masks written and read back as xbd, geojson and coco`);
});

test('label names: a class is written under the label that reads back as it; a class without one is named', () => {
  const roofs: ClassMap = {
    names: ['background', 'building'],
    ids: new Map([
      ['roof', 1],
      ['shed', 1],
    ]),
    ignoreValue: 255,
    colors: [
      [0, 0, 0],
      [255, 0, 0],
    ],
  };
  const polygons = maskToPolygons(maskOf(['0110', '0200']));
  const options = { format: 'geojson' as const, width: 4, height: 2, imageFileName: 'a.png' };
  assert.throws(
    () => polygonsToLabelJson(polygons, { ...options, classMap: roofs }),
    /class id 2 has no label name in the class map \(labels: roof, shed\)/,
  );
  const json = polygonsToLabelJson(polygons.slice(0, 1), { ...options, classMap: roofs }) as {
    features: Array<{ properties: { class: string } }>;
  };
  assert.is(json.features[0]!.properties.class, 'roof');
  assert.throws(
    () => polygonsToLabelJson(polygons, { ...options, format: 'kml' as 'xbd', classMap: xbdClassMap() }),
    /format must be one of xbd, geojson, coco, got "kml"/,
  );
});

test('stream-train predict --polygons writes OUT/<stem>.json, which reads back as the predicted classes; --min-area and --simplify shape it', async () => {
  // A model that predicts "building" exactly where the red channel is bright, on an image drawn from a
  // mask: the synthetic mask's regions at 3x scale, so the expected prediction is known before running.
  const scale = 3;
  const expected = new Uint8Array(SYNTHETIC.width * scale * SYNTHETIC.height * scale);
  const [width, height] = [SYNTHETIC.width * scale, SYNTHETIC.height * scale];
  for (let i = 0; i < expected.length; i++)
    expected[i] =
      SYNTHETIC.data[Math.floor(i / width / scale) * SYNTHETIC.width + Math.floor((i % width) / scale)]! > 0
        ? 1
        : 0;
  const images = join(scratch, 'scenes');
  mkdirSync(images, { recursive: true });
  const rgb = new Uint8Array(width * height * 3).map((_, i) =>
    i % 3 === 0 && expected[Math.floor(i / 3)] ? 255 : 40,
  );
  await sharp(rgb, { raw: { width, height, channels: 3 } })
    .png()
    .toFile(join(images, 'scene.png'));

  const run = join(scratch, 'run');
  await writeRedBuildingRun(run);

  const out = join(scratch, 'predictions');
  const { stderr } = await promisify(execFile)(join(PROJECT_ROOT, 'bin', 'stream-train'), [
    'predict',
    '--run',
    run,
    '--images',
    images,
    '--out',
    out,
    '--polygons',
    'xbd',
    '--backend',
    'cpu',
  ]);
  assert.match(
    stderr,
    /scene: 42x30, \d+ windows -> scene\.classes\.png, scene\.overlay\.png, scene\.json \(\d+ xbd polygons\)/,
  );
  assert.ok(existsSync(join(out, 'scene.classes.png')));
  const buildingMap: ClassMap = {
    names: RED_BUILDING_CLASSES.names,
    ids: new Map([['building', 1]]),
    ignoreValue: 255,
    colors: RED_BUILDING_CLASSES.colors,
  };
  const polygonMask = await readLabelMask(
    { id: 'scene', imagePath: '', labelPath: join(out, 'scene.json') },
    { width, height },
    buildingMap,
  );
  assertSameMask(polygonMask, expected, 'predicted polygons');

  // --min-area and --simplify: the polygons of the sieved, simplified prediction; the class PNG stays as predicted.
  const readable = join(scratch, 'readable');
  const simplified = await promisify(execFile)(join(PROJECT_ROOT, 'bin', 'stream-train'), [
    'predict',
    '--run',
    run,
    '--images',
    images,
    '--out',
    readable,
    '--polygons',
    'geojson',
    '--min-area',
    '16',
    '--simplify',
    '1',
    '--backend',
    'cpu',
  ]);
  const exactCount = Number(/\((\d+) xbd polygons\)/.exec(stderr)![1]);
  const expectedPolygons = maskToSimplifiedPolygons(
    sieveMask({ data: expected, width, height }, { minArea: 16 }),
    { tolerance: 1 },
  );
  assert.match(
    simplified.stderr,
    new RegExp(`scene\\.json \\(${expectedPolygons.length} geojson polygons\\)`),
  );
  assert.ok(expectedPolygons.length < exactCount, `${exactCount} -> ${expectedPolygons.length} polygons`);
  const readableMask = await readLabelMask(
    { id: 'scene', imagePath: '', labelPath: join(readable, 'scene.json') },
    { width, height },
    buildingMap,
  );
  assertSameMask(
    readableMask,
    rasterized(expectedPolygons, width, height).data,
    'sieved, simplified polygons',
  );
  assert.equal(
    await sharp(join(readable, 'scene.classes.png')).raw().toBuffer(),
    await sharp(join(out, 'scene.classes.png')).raw().toBuffer(),
  );
  const usage = await promisify(execFile)(join(PROJECT_ROOT, 'bin', 'stream-train'), [
    'predict',
    '--run',
    run,
    '--images',
    images,
    '--out',
    readable,
    '--simplify',
    '1',
  ]).catch((error: { code: number; stderr: string }) => error);
  assert.is((usage as { code?: number }).code, 2);
  assert.match(usage.stderr, /--min-area and --simplify shape the polygons; give --polygons FORMAT too/);
});

test.after(() => rmSync(scratch, { recursive: true, force: true }));
test.run();
