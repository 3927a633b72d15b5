import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BandPolygonizer, OpenRegionLimitError } from '../src/predict/bandPolygons.js';
import {
  type MaskPolygon,
  type MaskToPolygonsOptions,
  maskToPolygons,
} from '../src/predict/maskToPolygons.js';
import type { ClassMask } from '../src/types.js';
import { paintedMasks, randomMasks } from './helpers/masks.js';

/** The mask's polygons from bands of rows of the given heights (repeated until the mask is through). */
function polygonsByBands(
  mask: ClassMask,
  bandHeights: number[],
  options: MaskToPolygonsOptions = {},
): MaskPolygon[] {
  const polygonizer = new BandPolygonizer(mask.width, options);
  const polygons: MaskPolygon[] = [];
  for (let y = 0, band = 0; y < mask.height; band++) {
    const rows = Math.min(bandHeights[band % bandHeights.length]!, mask.height - y);
    polygons.push(...polygonizer.addRows(mask.data.subarray(y * mask.width, (y + rows) * mask.width)));
    y += rows;
  }
  polygons.push(...polygonizer.finish());
  return polygons;
}

/** Polygons as a sorted list of strings: the same set of polygons (class and rings, vertex for vertex) or not. */
const asSet = (polygons: MaskPolygon[]): string[] =>
  polygons.map((polygon) => JSON.stringify(polygon)).sort();

function assertSamePolygons(
  mask: ClassMask,
  bandHeights: number[],
  options: MaskToPolygonsOptions = {},
): void {
  assert.equal(asSet(polygonsByBands(mask, bandHeights, options)), asSet(maskToPolygons(mask, options)));
}

/** A mask from rows of digits, one character per pixel. */
function maskOf(rows: string[]): ClassMask {
  return {
    data: Uint8Array.from(rows.join('').split(''), Number),
    width: rows[0]!.length,
    height: rows.length,
  };
}

test('nested regions with holes, closed band by band: the whole mask polygons, each as its region closes', () => {
  const mask = maskOf([
    '1111111110',
    '1000000010',
    '1022222010',
    '1020302010',
    '1022222010',
    '1000000011',
    '1111111101',
    '0000000011',
  ]);
  const polygonizer = new BandPolygonizer(mask.width);
  const closedAfter = (rows: number, y: number): number[] =>
    polygonizer.addRows(mask.data.subarray(y * mask.width, (y + rows) * mask.width)).map((p) => p.classId);
  assert.equal(closedAfter(4, 0), [], 'every region reaches row 4');
  assert.equal(closedAfter(1, 4), [3], 'the 3 closes with row 4');
  assert.equal(closedAfter(1, 5), [2], 'the frame of 2s closes with row 5');
  assert.equal(closedAfter(2, 6), [], 'the frame of 1s is open to the bottom edge');
  const last = polygonizer.finish();
  assert.equal(
    last.map((p) => p.classId),
    [1],
  );
  assert.is(last[0]!.rings.length, 3, 'the frame of 1s has two holes: its inside and the 0 at (8, 6)');
  for (const heights of [[1], [2], [3], [5, 1], [8]]) assertSamePolygons(mask, heights);
});

test('a region touching itself at a corner is one polygon whose ring turns round the outside pixel', () => {
  // The 1s at (2, 2) and (3, 3) touch diagonally and are joined rows later by the column on the right.
  const mask = maskOf(['00000', '01110', '01010', '00011', '01111']);
  for (const heights of [[1], [2], [3]]) assertSamePolygons(mask, heights);
  assert.is(polygonsByBands(mask, [1]).length, 1);
});

test('property: random masks, any bands of rows: the polygons of maskToPolygons on the whole mask', () => {
  const bands = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 });
  fc.assert(
    fc.property(randomMasks(14), bands, fc.integer({ min: 0, max: 4 }), (mask, heights, ignoreValue) => {
      assertSamePolygons(mask, heights);
      assertSamePolygons(mask, heights, { ignoreValue, minArea: 3 });
    }),
    { numRuns: 300 },
  );
});

test('property: masks of nested rectangles and frames across many bands: the polygons of the whole mask', () => {
  const bands = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 });
  fc.assert(
    fc.property(paintedMasks(48), bands, fc.integer({ min: 0, max: 40 }), (mask, heights, minArea) => {
      assertSamePolygons(mask, heights);
      assertSamePolygons(mask, heights, { background: 2, minArea });
    }),
    { numRuns: 200 },
  );
});

test('a hole finished by an island that touches its region at a corner counts against the bound as soon as the island closes', () => {
  // The 1 at (3, 2) touches the frame of 1s only at its corner with (2, 1): row 3 closes the island, so the
  // hole round it, which turns at that corner, is finished by row 4 while the frame stays open to the last row.
  const mask = maskOf(['111111', '111001', '100101', '100001', '111111', '111111', '111111']);
  assertSamePolygons(mask, [1]);
  const frame = maskToPolygons(mask).find((polygon) => polygon.rings.length > 1)!;
  const holeVertices = frame.rings[1]!.length / 2;
  const polygonizer = new BandPolygonizer(mask.width, { maxHeldVertices: holeVertices - 1 });
  const rows = (from: number, to: number) => mask.data.subarray(from * mask.width, to * mask.width);
  polygonizer.addRows(rows(0, 4));
  assert.throws(
    () => polygonizer.addRows(rows(4, 5)),
    (error: Error) =>
      error instanceof OpenRegionLimitError &&
      error.message ===
        `a region of class 1 from row 0 still open at row 4 holds ${holeVertices} vertices of finished rings (holes), over the limit of ${holeVertices - 1}`,
  );
  // At the bound itself, nothing is refused.
  const atBound = new BandPolygonizer(mask.width, { maxHeldVertices: holeVertices });
  assert.equal(asSet([...atBound.addRows(mask.data), ...atBound.finish()]), asSet(maskToPolygons(mask)));
});

test('rows that are not whole rows of the width are refused', () => {
  assert.throws(
    () => new BandPolygonizer(4).addRows(new Uint8Array(6)),
    /6 values are not whole rows of 4 pixels/,
  );
});

test.run();
