import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { xbdClassMap } from '../src/labels/classMap.js';
import { forEachSpan, rasterizeShapes, ringArea } from '../src/labels/rasterize.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { type MaskPolygon, maskToPolygons } from '../src/predict/maskToPolygons.js';
import { sieveMask } from '../src/predict/sieveMask.js';
import { maskToSimplifiedPolygons } from '../src/predict/simplifyPolygons.js';
import { POLYGON_LABEL_FORMATS, writePolygonLabels } from '../src/predict/writePolygons.js';
import type { ClassMask } from '../src/types.js';

const scratch = mkdtempSync(join(tmpdir(), 'segstream-simplify-'));

/** A mask from rows of digits, one character per pixel. */
function maskOf(rows: string[]): ClassMask {
  return {
    data: Uint8Array.from(rows.join('').split(''), Number),
    width: rows[0]!.length,
    height: rows.length,
  };
}

/** 4-connected regions of equal values (union-find, independent of the code under test): region root per pixel and sizes by root. */
function regions(mask: ClassMask): { rootOf: Int32Array; size: Map<number, number> } {
  const { data, width } = mask;
  const parent = Int32Array.from({ length: data.length }, (_, i) => i);
  const root = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  for (let i = 0; i < data.length; i++) {
    if (i % width > 0 && data[i] === data[i - 1]) parent[root(i)] = root(i - 1);
    if (i >= width && data[i] === data[i - width]) parent[root(i)] = root(i - width);
  }
  const rootOf = Int32Array.from({ length: data.length }, (_, i) => root(i));
  const size = new Map<number, number>();
  for (const r of rootOf) size.set(r, (size.get(r) ?? 0) + 1);
  return { rootOf, size };
}

/** Values of the 4-neighbours of a region's pixels that lie outside it. */
function neighbourValues(mask: ClassMask, rootOf: Int32Array, region: number): Set<number> {
  const values = new Set<number>();
  const { data, width, height } = mask;
  for (let i = 0; i < data.length; i++) {
    if (rootOf[i] !== region) continue;
    const [x, y] = [i % width, Math.floor(i / width)];
    for (const [nx, ny] of [
      [x - 1, y],
      [x + 1, y],
      [x, y - 1],
      [x, y + 1],
    ] as const) {
      if (nx >= 0 && ny >= 0 && nx < width && ny < height && rootOf[ny * width + nx] !== region)
        values.add(data[ny * width + nx]!);
    }
  }
  return values;
}

const randomMask = (maxSide: number, maxClasses: number, ignoreEvery = 0) =>
  fc
    .record({
      width: fc.integer({ min: 1, max: maxSide }),
      height: fc.integer({ min: 1, max: maxSide }),
      classes: fc.integer({ min: 2, max: maxClasses }),
    })
    .chain(({ width, height, classes }) =>
      fc
        .array(fc.integer({ min: 0, max: classes * (ignoreEvery || 1) - 1 }), {
          minLength: width * height,
          maxLength: width * height,
        })
        .map((values) => ({
          data: Uint8Array.from(values, (v) =>
            ignoreEvery && v >= classes * (ignoreEvery - 1) ? 255 : v % classes,
          ),
          width,
          height,
        })),
    );

/**
 * A noisy land-cover-like mask: jittered Voronoi cells (one centre in each square of `cell` pixels, a random
 * class each) whose boundaries are ragged staircases, and salt-and-pepper specks, from a fixed seed.
 */
function noisyLandCover(
  width: number,
  height: number,
  seed: number,
  cell: number,
  classes: number,
  speckRate: number,
): ClassMask {
  let state = seed;
  const random = (): number => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  const [columns, rows] = [Math.ceil(width / cell), Math.ceil(height / cell)];
  const centres = Array.from(
    { length: columns * rows },
    (_, c) =>
      [
        ((c % columns) + random()) * cell,
        (Math.floor(c / columns) + random()) * cell,
        Math.floor(random() * classes),
      ] as const,
  );
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let [nearest, best] = [0, Infinity];
      const [column, row] = [Math.floor(x / cell), Math.floor(y / cell)];
      for (let r = Math.max(0, row - 1); r <= Math.min(rows - 1, row + 1); r++) {
        for (let c = Math.max(0, column - 1); c <= Math.min(columns - 1, column + 1); c++) {
          const [cx, cy] = centres[r * columns + c]!;
          const distance = Math.hypot(cx - x, cy - y) + random() * 4;
          if (distance < best) [nearest, best] = [r * columns + c, distance];
        }
      }
      data[y * width + x] = random() < speckRate ? Math.floor(random() * classes) : centres[nearest]![2];
    }
  }
  return { data, width, height };
}

const vertexCount = (polygons: MaskPolygon[]): number =>
  polygons.reduce((sum, { rings }) => sum + rings.reduce((n, ring) => n + ring.length / 2, 0), 0);

/** How many polygons cover each pixel by the project's pixel-centre rule. */
function coverage(polygons: MaskPolygon[], width: number, height: number): Uint8Array {
  const counts = new Uint8Array(width * height);
  for (const { rings } of polygons)
    forEachSpan(rings, width, height, (row, from, to) => {
      for (let i = row * width + from; i < row * width + to; i++) counts[i]!++;
    });
  return counts;
}

/**
 * The simplified polygons of every region (nothing is background) tile the image: every pixel is covered
 * exactly once, every edge inside the image is walked once each way (neighbours share identical vertices),
 * rings keep 3 distinct points, no repeated vertex, their orientation, and stay inside the image.
 */
function assertTiles(polygons: MaskPolygon[], width: number, height: number, what: string): void {
  const counts = coverage(polygons, width, height);
  const wrong = counts.findIndex((c) => c !== 1);
  if (wrong !== -1)
    assert.unreachable(
      `${what}: pixel (${wrong % width}, ${Math.floor(wrong / width)}) covered ${counts[wrong]} times`,
    );
  const directed = new Map<string, number>();
  for (const { rings } of polygons) {
    rings.forEach((ring, k) => {
      const points = new Set<string>();
      for (let i = 0; i < ring.length; i += 2) {
        const [x, y, nx, ny] = [
          ring[i]!,
          ring[i + 1]!,
          ring[(i + 2) % ring.length]!,
          ring[(i + 3) % ring.length]!,
        ];
        if (!(x >= 0 && y >= 0 && x <= width && y <= height))
          assert.unreachable(`${what}: vertex (${x}, ${y}) outside the image`);
        points.add(`${x},${y}`);
        const edge = `${x},${y}>${nx},${ny}`;
        directed.set(edge, (directed.get(edge) ?? 0) + 1);
      }
      if (points.size !== ring.length / 2 || points.size < 3)
        assert.unreachable(`${what}: ring ${ring.join(',')} repeats a vertex or has under 3`);
      if (k === 0 ? ringArea(ring) <= 0 : ringArea(ring) >= 0)
        assert.unreachable(`${what}: ring ${k} of a polygon has the wrong orientation`);
    });
  }
  for (const [edge, count] of directed) {
    const [[x0, y0], [x1, y1]] = edge.split('>').map((p) => p.split(',').map(Number)) as [
      [number, number],
      [number, number],
    ];
    const onBorder = (x0 === x1 && (x0 === 0 || x0 === width)) || (y0 === y1 && (y0 === 0 || y0 === height));
    const reverse = directed.get(`${x1},${y1}>${x0},${y0}`) ?? 0;
    if (count !== 1 || reverse !== (onBorder ? 0 : 1))
      assert.unreachable(`${what}: edge ${edge} walked ${count} times, the other way ${reverse} times`);
  }
}

// Sieve

test('sieve: a speck joins the neighbour it shares the longest border with; ties go to the larger neighbour', () => {
  const mask = maskOf(['1111222', '1113222', '1111222']);
  assert.equal(
    [...sieveMask(mask, { minArea: 2 }).data],
    [...maskOf(['1111222', '1111222', '1111222']).data],
  );
  // One edge each: 1 has 5 pixels, 2 has 6.
  const tie = maskOf(['3222', '1222', '1111']);
  assert.equal([...sieveMask(tie, { minArea: 2 }).data], [...maskOf(['2222', '1222', '1111']).data]);
  // A two-pixel region stays at minArea 2 and goes at 3; merging it joins the two 1 regions into one.
  const bridge = maskOf(['111', '222', '111']);
  assert.equal([...sieveMask(bridge, { minArea: 3 }).data], [...maskOf(['111', '222', '111']).data]);
  assert.equal(
    [...sieveMask(maskOf(['1111', '1221', '1111']), { minArea: 3 }).data],
    [...maskOf(['1111', '1111', '1111']).data],
  );
});

test('sieve: ignore-value regions stay whatever their size and are never a merge target; a speck only they border stays', () => {
  const mask = {
    ...maskOf(['1119', '1191', '1111']),
    data: maskOf(['1119', '1191', '1111']).data.map((v) => (v === 9 ? 255 : v)),
  };
  // The lone 1 at (3, 1) borders the ignored pixels and the image border and one 1 pixel below: it is part of the big 1 region.
  assert.equal([...sieveMask(mask, { minArea: 4, ignoreValue: 255 }).data], [...mask.data]);
  const islands = { data: Uint8Array.from([255, 255, 255, 255, 2, 255, 255, 255, 255]), width: 3, height: 3 };
  assert.equal([...sieveMask(islands, { minArea: 4, ignoreValue: 255 }).data], [...islands.data]);
  const inIgnoreAndClass = {
    data: Uint8Array.from([255, 255, 1, 255, 2, 1, 255, 1, 1]),
    width: 3,
    height: 3,
  };
  assert.equal(
    [...sieveMask(inIgnoreAndClass, { minArea: 2, ignoreValue: 255 }).data],
    [255, 255, 1, 255, 1, 1, 255, 1, 1],
  );
});

test('sieve: minArea 0 or 1 returns a copy; bad sizes and areas are named', () => {
  const mask = maskOf(['12', '21']);
  const copy = sieveMask(mask, { minArea: 1 });
  assert.equal([...copy.data], [...mask.data]);
  assert.is.not(copy.data, mask.data);
  assert.throws(
    () => sieveMask({ data: new Uint8Array(3), width: 2, height: 2 }, { minArea: 4 }),
    /sieveMask: 3 values for a 2x2 mask/,
  );
  assert.throws(
    () => sieveMask(mask, { minArea: 2.5 }),
    /minArea must be a whole number of pixels >= 0, got 2.5/,
  );
});

test('property: after the sieve no class region is under minArea (unless only ignored pixels border it), and only pixels of small regions changed', () => {
  fc.assert(
    fc.property(randomMask(14, 4, 6), fc.integer({ min: 2, max: 12 }), (mask, minArea) => {
      const sieved = sieveMask(mask, { minArea, ignoreValue: 255 });
      const before = regions(mask);
      for (let i = 0; i < mask.data.length; i++) {
        if (sieved.data[i] === mask.data[i]) continue;
        assert.ok(mask.data[i] !== 255 && sieved.data[i] !== 255, 'ignored pixels neither change nor spread');
        assert.ok(
          before.size.get(before.rootOf[i]!)! < minArea,
          `pixel ${i} of a region of ${before.size.get(before.rootOf[i]!)} changed`,
        );
      }
      const after = regions(sieved);
      for (const [root, size] of after.size) {
        if (size >= minArea || sieved.data[root] === 255) continue;
        assert.ok(
          [...neighbourValues(sieved, after.rootOf, root)].every((v) => v === 255),
          `a region of ${size} pixels with class neighbours is left`,
        );
      }
    }),
    { numRuns: 400 },
  );
});

// Simplification

test("tolerance 0 gives exactly maskToPolygons' polygons (the --simplify 0 default)", () => {
  fc.assert(
    fc.property(randomMask(12, 4, 5), (mask) => {
      assert.equal(
        maskToSimplifiedPolygons(mask, { tolerance: 0, ignoreValue: 255 }),
        maskToPolygons(mask, { ignoreValue: 255 }),
      );
    }),
    { numRuns: 200 },
  );
  assert.throws(
    () => maskToSimplifiedPolygons(maskOf(['1']), { tolerance: -1 }),
    /tolerance must be a number of pixels >= 0, got -1/,
  );
});

test('a noisy staircase loses most of its vertices and stays within the tolerance of its pixels', () => {
  // A diagonal boundary, one pixel of noise on every few rows, between classes 1 and 2.
  const [width, height] = [64, 64];
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) data[y * width + x] = x + (y % 5 === 2 ? 1 : 0) < y ? 1 : 2;
  const mask = { data, width, height };
  const exact = maskToPolygons(mask, { background: -1 });
  const simplified = maskToSimplifiedPolygons(mask, { tolerance: 1.5, background: -1 });
  assert.is(simplified.length, 2);
  assert.ok(
    vertexCount(simplified) * 10 < vertexCount(exact),
    `${vertexCount(exact)} -> ${vertexCount(simplified)} vertices`,
  );
  assertTiles(simplified, width, height, 'staircase');
  // Tolerance 1.5 moves no boundary by more than that: pixels change only next to it.
  const painted = { data: new Uint8Array(width * height), width, height };
  rasterizeShapes(
    painted,
    simplified.map(({ rings, classId }) => ({ rings, value: classId })),
  );
  for (let i = 0; i < data.length; i++) {
    const [x, y] = [i % width, Math.floor(i / width)];
    if (painted.data[i] !== data[i])
      assert.ok(Math.abs(x + 0.5 - (y + 0.5)) <= 2.5, `pixel (${x}, ${y}) far from the boundary changed`);
  }
});

test('property: simplified regions tile the image: each pixel covered once, shared boundaries with identical vertices', () => {
  fc.assert(
    fc.property(
      randomMask(20, 4),
      fc.constantFrom(0.5, 1, 2, 4),
      fc.integer({ min: 0, max: 6 }),
      (mask, tolerance, minArea) => {
        const sieved = sieveMask(mask, { minArea });
        assertTiles(
          maskToSimplifiedPolygons(sieved, { tolerance, background: -1 }),
          mask.width,
          mask.height,
          `tolerance ${tolerance}, minArea ${minArea}`,
        );
      },
    ),
    { numRuns: 300 },
  );
});

test('background and ignored regions are left out but still fix the boundaries they share', () => {
  const mask = noisyLandCover(80, 60, 7, 20, 3, 0.03);
  mask.data[0] = 255;
  const all = maskToSimplifiedPolygons(mask, { tolerance: 2, background: -1 });
  const kept = maskToSimplifiedPolygons(mask, { tolerance: 2, ignoreValue: 255 });
  assert.equal(
    kept,
    all.filter(({ classId }) => classId !== 0 && classId !== 255),
  );
});

test('written as xbd, geojson and coco, simplified polygons read back as the mask they paint', async () => {
  const mask = noisyLandCover(96, 80, 3, 24, 3, 0.05);
  const polygons = maskToSimplifiedPolygons(mask, { tolerance: 1.5 });
  assert.ok(
    polygons.some(({ rings }) => rings.length > 1),
    'some polygon has a hole (COCO bridges it)',
  );
  const painted = { data: new Uint8Array(mask.data.length), width: mask.width, height: mask.height };
  rasterizeShapes(
    painted,
    polygons.map(({ rings, classId }) => ({ rings, value: classId })),
  );
  for (const format of POLYGON_LABEL_FORMATS) {
    const path = join(scratch, `simplified.${format}.json`);
    await writePolygonLabels(polygons, path, {
      format,
      classMap: xbdClassMap(),
      width: mask.width,
      height: mask.height,
      imageFileName: 'scene.png',
    });
    const read = await readLabelMask(
      { id: 'scene', imagePath: '', labelPath: path, labelKey: 'scene.png' },
      mask,
      xbdClassMap(),
    );
    assert.equal([...read.data], [...painted.data], format);
  }
});

test('property: COCO keyhole rings of simplified polygons with holes read back as the mask the polygons paint', async () => {
  // Six pixels in ten of class 1: regions full of holes, touching each other at corners.
  const holey = fc
    .record({ width: fc.integer({ min: 2, max: 16 }), height: fc.integer({ min: 2, max: 16 }) })
    .chain(({ width, height }) =>
      fc
        .array(
          fc.integer({ min: 0, max: 9 }).map((v) => (v < 6 ? 1 : 0)),
          { minLength: width * height, maxLength: width * height },
        )
        .map((values) => ({ data: Uint8Array.from(values), width, height })),
    );
  // Found by this property (seed -2140476536): a bridge lands inside a slanted hole edge that runs exactly
  // through a pixel centre, and the two parts of the split edge put that centre on opposite sides.
  const edgeThroughCentre = maskOf([
    ...Array(4).fill('111111111111111'),
    '111100011111111',
    '111011000011111',
    '111111111001111',
    '111111011101111',
    ...Array(8).fill('111111111111111'),
  ]);
  const path = join(scratch, 'holey.json');
  await fc.assert(
    fc.asyncProperty(holey, fc.constantFrom(0.75, 1.5, 3), async (mask, tolerance) => {
      const polygons = maskToSimplifiedPolygons(mask, { tolerance });
      const painted = { data: new Uint8Array(mask.data.length), width: mask.width, height: mask.height };
      rasterizeShapes(
        painted,
        polygons.map(({ rings, classId }) => ({ rings, value: classId })),
      );
      await writePolygonLabels(polygons, path, {
        format: 'coco',
        classMap: xbdClassMap(),
        width: mask.width,
        height: mask.height,
        imageFileName: 'scene.png',
      });
      const read = await readLabelMask(
        { id: 'scene', imagePath: '', labelPath: path, labelKey: 'scene.png' },
        mask,
        xbdClassMap(),
      );
      assert.equal([...read.data], [...painted.data]);
    }),
    { numRuns: 150, examples: [[edgeThroughCentre, 1.5]] },
  );
});

test('an 859x838 noisy land-cover mask: --min-area 16 --simplify 1 polygons and vertices before and after, still a tiling', () => {
  const [width, height] = [859, 838];
  const mask = noisyLandCover(width, height, 23, 40, 6, 0.01);
  const exact = maskToPolygons(mask);
  const started = performance.now();
  const sieved = sieveMask(mask, { minArea: 16 });
  const sievedAt = performance.now();
  const simplified = maskToSimplifiedPolygons(sieved, { tolerance: 1 });
  const simplifiedAt = performance.now();
  const sievedOnly = maskToPolygons(sieved);
  console.log(
    `  ${width}x${height}: exact ${exact.length} polygons / ${vertexCount(exact)} vertices; --min-area 16: ${sievedOnly.length} / ${vertexCount(sievedOnly)}; ` +
      `--min-area 16 --simplify 1: ${simplified.length} / ${vertexCount(simplified)} (sieve ${(sievedAt - started).toFixed(0)} ms, simplify ${(simplifiedAt - sievedAt).toFixed(0)} ms)`,
  );
  assert.is(simplified.length, sievedOnly.length, 'simplifying keeps every region');
  assert.ok(simplified.length * 10 < exact.length && vertexCount(simplified) * 2 < vertexCount(sievedOnly));
  assertTiles(maskToSimplifiedPolygons(sieved, { tolerance: 1, background: -1 }), width, height, '859x838');
});

test.after(() => rmSync(scratch, { recursive: true, force: true }));
test.run();
