import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { maskToPolygons, type MaskPolygon } from '../src/predict/maskToPolygons.js';
import { rasterizeShapes, ringArea } from '../src/labels/rasterize.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { xbdClassMap } from '../src/labels/classMap.js';
import type { ClassMask } from '../src/types.js';
import { XBD_DIR } from './helpers/data.js';

const scratch = mkdtempSync(join(tmpdir(), 'segstream-polygons-'));

/** A mask from rows of digits, one character per pixel. */
function maskOf(rows: string[]): ClassMask {
  return { data: Uint8Array.from(rows.join('').split(''), Number), width: rows[0]!.length, height: rows.length };
}

/** The polygons painted by the project's rasterizer, each with its class. */
function rasterized(polygons: MaskPolygon[], width: number, height: number): ClassMask {
  const mask = { data: new Uint8Array(width * height), width, height };
  rasterizeShapes(mask, polygons.map(({ rings, classId }) => ({ rings, value: classId })));
  return mask;
}

function assertSameMask(actual: ClassMask, expected: Uint8Array, what: string): void {
  if (Buffer.compare(actual.data, expected) === 0) return;
  for (let i = 0; i < expected.length; i++) {
    if (actual.data[i] !== expected[i]) assert.unreachable(`${what}: pixel (${i % actual.width}, ${Math.floor(i / actual.width)}) is ${actual.data[i]}, expected ${expected[i]}`);
  }
}

/** Vertices as "x,y" strings, to compare rings as sets. */
const corners = (ring: number[]): string[] => ring.flatMap((v, i) => (i % 2 === 0 ? [`${v},${ring[i + 1]}`] : []));

/** Ring shape: integer corners inside the image, no repeated vertex, a turn at every vertex (collinear ones merged). */
function assertWellFormedRing(ring: number[], width: number, height: number): void {
  assert.ok(ring.every((v, i) => Number.isInteger(v) && v >= 0 && v <= (i % 2 === 0 ? width : height)), 'integer corners in the image');
  const points = corners(ring);
  assert.is(new Set(points).size, points.length, `a vertex repeats in ${points.join(' ')}`);
  const n = ring.length;
  for (let i = 0; i < n; i += 2) {
    const [px, py, x, y, nx, ny] = [ring[(i - 2 + n) % n]!, ring[(i - 1 + n) % n]!, ring[i]!, ring[i + 1]!, ring[(i + 2) % n]!, ring[(i + 3) % n]!];
    assert.ok(x === px || y === py, 'edges follow pixel edges');
    assert.ok((x - px) * (ny - y) - (y - py) * (nx - x) !== 0, `vertex (${x}, ${y}) is collinear with its neighbours`);
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
  assert.equal(checker.map((p) => corners(p.rings[0]!).sort()), [['0,0', '0,1', '1,0', '1,1'], ['1,1', '1,2', '2,1', '2,2']]);
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
  assert.equal(polygons.map((p) => [p.classId, p.rings.length]), [[1, 2], [3, 2], [4, 1]]);
  assert.is(ringArea(polygons[0]!.rings[1]!), -25, 'the frame has a 5x5 hole');
  assertSameMask(rasterized(polygons, 7, 7), mask.data, 'nested');
});

test('background, ignore value and minArea leave pixels out, which read back as background', () => {
  const mask = maskOf(['1100', '1109', '0000', '2220']);
  const withIgnore = { ...mask, data: mask.data.map((v) => (v === 9 ? 255 : v)) };
  const polygons = maskToPolygons(withIgnore, { ignoreValue: 255 });
  assert.equal(polygons.map((p) => p.classId), [1, 2]);
  assert.equal(maskToPolygons(withIgnore).map((p) => p.classId), [1, 255, 2], 'without an ignore value 255 is a class');
  // Fewer than minArea pixels: the 3-pixel region goes, the 4-pixel one stays.
  assert.equal(maskToPolygons(withIgnore, { ignoreValue: 255, minArea: 4 }).map((p) => p.classId), [1]);
  const kept = rasterized(maskToPolygons(withIgnore, { ignoreValue: 255, minArea: 4 }), 4, 4);
  assertSameMask(kept, maskOf(['1100', '1100', '0000', '0000']).data, 'minArea');
  // Another background value: 0 is traced like any class.
  assert.equal(maskToPolygons(maskOf(['01', '11']), { background: 1 }).map((p) => p.classId), [0]);
  assert.throws(() => maskToPolygons({ data: new Uint8Array(5), width: 2, height: 2 }), /5 values for a 2x2 mask/);
});

test('property: random masks come back exactly from their polygons, one polygon per 4-connected region, rings well formed', () => {
  const maskArb = fc
    .record({ width: fc.integer({ min: 1, max: 12 }), height: fc.integer({ min: 1, max: 12 }), classes: fc.integer({ min: 2, max: 5 }) })
    .chain(({ width, height, classes }) => fc.array(fc.integer({ min: 0, max: classes - 1 }), { minLength: width * height, maxLength: width * height }).map((values) => ({ data: Uint8Array.from(values), width, height })));
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

const xbdFiles = readdirSync(join(XBD_DIR, 'labels')).sort();
const xbdMask = (file: string) => readLabelMask({ id: file, imagePath: '', labelPath: join(XBD_DIR, 'labels', file) }, { width: 1024, height: 1024 }, xbdClassMap());

test('real xBD masks: every 1024x1024 label mask comes back exactly from its polygons (un-classified pixels as background)', async () => {
  let slowest = 0;
  let regions = 0;
  for (const file of xbdFiles) {
    const mask = await xbdMask(file);
    const started = performance.now();
    const polygons = maskToPolygons(mask, { ignoreValue: 255 });
    slowest = Math.max(slowest, performance.now() - started);
    regions += polygons.length;
    const traced = { ...mask, data: withoutIgnored(mask.data) };
    assertSameMask(rasterized(polygons, 1024, 1024), traced.data, file);
    assert.is(polygons.length, regionCount(traced), `${file}: one polygon per region`);
    for (const { rings } of polygons) for (const ring of rings) assertWellFormedRing(ring, 1024, 1024);
  }
  console.log(`  ${xbdFiles.length} xBD masks, ${regions} regions; slowest trace ${slowest.toFixed(1)} ms`);
  assert.ok(slowest < 1000, `tracing a 1024x1024 mask took ${slowest} ms`);
});

test.after(() => rmSync(scratch, { recursive: true, force: true }));
test.run();
