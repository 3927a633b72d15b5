import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { crc32, createDeflate } from 'node:zlib';
import fc from 'fast-check';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InputError } from '../src/errors.js';
import { type ClassMap, IGNORE_VALUE, labelMeClassMap, xbdClassMap } from '../src/labels/classMap.js';
import { cocoImageKeys } from '../src/labels/coco.js';
import { encodeRleString } from '../src/labels/cocoRle.js';
import { checkDeclaredSize, classValue, readJsonLabel } from '../src/labels/labelFile.js';
import { detectLabelFormat, LABEL_FORMATS, readLabelMask } from '../src/labels/readLabelMask.js';
import type { ClassMask } from '../src/types.js';
import { lcg } from './train-fixtures.js';

// Properties of every label reader, called the way the pipeline calls them (readLabelMask with a pair and the
// image's size): a mask of exactly that size holding only class ids and the ignore value, or an InputError that
// names the label file; never another error, never a hang, memory bounded.

const scratch = mkdtempSync(join(tmpdir(), 'segstream-label-properties-'));
const rssAtStart = process.memoryUsage().rss;
/** A read of a generated label (at most a few MB) that takes longer than this has hung. */
const READ_LIMIT_MS = 5_000;
/** A million-vertex label is tens of MB of JSON: parsing and painting it take seconds, not minutes. */
const MILLION_VERTEX_LIMIT_MS = 20_000;
const MEMORY_BOUND_BYTES = 500 * 2 ** 20;

type Size = { width: number; height: number };
type Json = unknown;

const xbdMap = xbdClassMap();
const labelMeMap = labelMeClassMap('__ignore__\n_background_\ncar\nperson\n');
const cocoMap: ClassMap = {
  names: ['background', 'building', 'road'],
  ids: new Map([
    ['building', 1],
    ['road', 2],
    ['unlabelled', IGNORE_VALUE],
  ]),
  ignoreValue: IGNORE_VALUE,
  colors: [
    [0, 0, 0],
    [255, 0, 0],
    [0, 0, 255],
  ],
};
const COCO_CATEGORIES = [
  { id: 1, name: 'building' },
  { id: 2, name: 'road' },
  { id: 9, name: 'unlabelled' },
];

let written = 0;
/** Writes a label into the scratch folder under a name of its own (the JSON reader caches by path). */
function writeLabel(contents: string | Uint8Array, extension: string): string {
  const path = join(scratch, `label-${written++}${extension}`);
  writeFileSync(path, contents);
  return path;
}

interface ReadCase {
  labelPath: string;
  size: Size;
  classMap: ClassMap;
  format?: string | undefined;
  labelKey?: string | undefined;
  /** Leave out degenerate shapes instead of failing on them. */
  skipDegenerate?: boolean;
}

const describeCase = (c: ReadCase) =>
  `${c.labelPath} (format ${c.format ?? 'auto'}, ${c.size.width}x${c.size.height})`;

/**
 * Reads a label as the pipeline does and checks the contract: a mask of the asked size whose values are class
 * ids or the ignore value, or an InputError naming the label file; either within READ_LIMIT_MS.
 */
async function readWithContract(c: ReadCase, limitMs = READ_LIMIT_MS): Promise<ClassMask | InputError> {
  const skippedFiles: string[] = [];
  const options = {
    ...(c.format === undefined ? {} : { format: c.format }),
    ...(c.skipDegenerate
      ? { degenerateShapes: 'skip' as const, onSkippedShape: (file: string) => skippedFiles.push(file) }
      : {}),
  };
  const pair = {
    id: 'case',
    imagePath: join(scratch, 'image.png'),
    labelPath: c.labelPath,
    ...(c.labelKey === undefined ? {} : { labelKey: c.labelKey }),
  };
  const started = performance.now();
  let result: unknown;
  try {
    result = await readLabelMask(pair, c.size, c.classMap, options);
  } catch (error) {
    result = error;
  }
  const elapsed = performance.now() - started;
  assert.ok(elapsed < limitMs, `${describeCase(c)}: the read took ${elapsed.toFixed(0)} ms`);
  for (const file of skippedFiles) assert.is(file, c.labelPath, 'a skipped shape is reported with its file');
  if (result instanceof InputError) {
    assert.is(result.file, c.labelPath);
    assert.ok(
      result.message.includes(c.labelPath),
      `the message names the file: ${result.message.slice(0, 200)}`,
    );
    return result;
  }
  if (result instanceof Error || typeof result !== 'object' || result === null || !('data' in result)) {
    const error = result as Error;
    assert.unreachable(
      `${describeCase(c)}: neither a mask nor an InputError but ${error?.name}: ${String(error?.message).slice(0, 300)}\n${error?.stack?.split('\n').slice(1, 6).join('\n')}`,
    );
  }
  const mask = result as ClassMask;
  assert.is(mask.width, c.size.width);
  assert.is(mask.height, c.size.height);
  assert.is(mask.data.length, c.size.width * c.size.height);
  const classCount = c.classMap.names.length;
  const stray = mask.data.find((v) => v >= classCount && v !== c.classMap.ignoreValue);
  assert.is(
    stray,
    undefined,
    `${describeCase(c)}: mask value ${stray} is neither a class id nor the ignore value`,
  );
  return mask;
}

async function expectMask(c: ReadCase): Promise<ClassMask> {
  const result = await readWithContract(c);
  if (result instanceof InputError)
    assert.unreachable(`${describeCase(c)}: a valid label failed: ${result.message.slice(0, 300)}`);
  return result as ClassMask;
}

/** The mask values a document may paint: background and the values of its shapes. */
function assertValuesWithin(mask: ClassMask, values: Iterable<number>): void {
  const allowed = new Set([0, ...values]);
  const stray = mask.data.find((v) => !allowed.has(v));
  assert.is(stray, undefined, `mask value ${stray} belongs to no shape (allowed ${[...allowed].join(', ')})`);
}

// ---------------------------------------------------------------------------------------------------------
// Geometry

const imageSize = fc.record({
  width: fc.integer({ min: 4, max: 48 }),
  height: fc.integer({ min: 4, max: 48 }),
});
const unit = fc.double({ min: 0, max: 1, noNaN: true });

/**
 * A star-shaped ring inside the image: vertices around a centre by increasing angle, neighbours less than π
 * apart, radii above zero. Such a ring never crosses itself and has a positive area, so it is always valid.
 */
function validRing(size: Size, maxVertices = 10): fc.Arbitrary<number[]> {
  return fc.integer({ min: 3, max: maxVertices }).chain((k) =>
    fc
      .tuple(
        fc.array(fc.double({ min: 0, max: 0.4, noNaN: true }), { minLength: k, maxLength: k }),
        fc.array(fc.double({ min: 0.1, max: 1, noNaN: true }), { minLength: k, maxLength: k }),
        unit,
        unit,
        fc.double({ min: 0, max: 2 * Math.PI, noNaN: true }),
      )
      .map(([jitters, radii, u, v, rotation]) => {
        const reach = Math.min(size.width, size.height) / 2;
        const cx = reach + u * (size.width - 2 * reach);
        const cy = reach + v * (size.height - 2 * reach);
        return jitters.flatMap((jitter, i) => {
          const angle = rotation + (2 * Math.PI * (i + jitter)) / k;
          return [cx + radii[i]! * reach * Math.cos(angle), cy + radii[i]! * reach * Math.sin(angle)];
        });
      }),
  );
}

/** Coordinates no image has: huge, negative, not finite (JSON writes NaN and Infinity as null). */
const strangeCoordinate = fc.constantFrom(
  Number.NaN,
  Infinity,
  -Infinity,
  1e308,
  -1e308,
  -1e9,
  5e-324,
  -0,
  2 ** 53,
);

/** Any ring: valid ones, random (often self-intersecting) ones, zero-area and outside ones. */
function anyRing(size: Size): fc.Arbitrary<number[]> {
  const coordinate = (extent: number) =>
    fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: -2, max: extent + 2 }) },
      { weight: 4, arbitrary: fc.double({ min: -2, max: extent + 2, noNaN: true }) },
      { weight: 1, arbitrary: strangeCoordinate },
    );
  const point = fc.tuple(coordinate(size.width), coordinate(size.height));
  const { width: w, height: h } = size;
  return fc.oneof(
    validRing(size),
    fc.array(point, { maxLength: 10 }).map((points) => points.flat()),
    // Collinear points and a repeated point: no area.
    fc
      .tuple(
        point,
        fc.integer({ min: -3, max: 3 }),
        fc.integer({ min: -3, max: 3 }),
        fc.integer({ min: 2, max: 6 }),
      )
      .map(([[x, y], dx, dy, n]) => Array.from({ length: n }, (_, t) => [x + t * dx, y + t * dy]).flat()),
    // Bow ties: symmetric (net area zero) and lopsided.
    fc.constantFrom<number[]>([0, 0, w, h, w, 0, 0, h], [0, 0, w, h, w, 0, 0, h / 2]),
  );
}

/** Flat ring -> [[x, y], ...]. */
const points = (ring: number[]) =>
  Array.from({ length: ring.length / 2 }, (_, i) => [ring[2 * i]!, ring[2 * i + 1]!]);
/** The closed form GeoJSON and WKT rings take (first point repeated). */
const closed = (ring: number[]) =>
  ring.length >= 2 ? [...points(ring), [ring[0]!, ring[1]!]] : points(ring);

// ---------------------------------------------------------------------------------------------------------
// Damage: the ways a JSON label file goes wrong

/** Stand-ins replaced in the written text, so that fast-check's counterexamples stay printable. */
const DEEP_NESTING = '\u0000deep\u0000';
const HUGE_STRING = '\u0000huge\u0000';
const deepNestingText = `${'['.repeat(10_000)}1${']'.repeat(10_000)}`;
const hugeStringText = JSON.stringify('x'.repeat(4 * 2 ** 20));

/** A JSON value of any kind: wrong types, strange numbers, 10,000 nested arrays, 4 MB strings, unconvertible objects. */
const strangeValue: fc.Arbitrary<Json> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(
    null,
    'NaN',
    'Infinity',
    '-1e999',
    1e308,
    -1e308,
    -1,
    0,
    0.5,
    2 ** 53,
    1e-320,
    '',
    true,
    [],
    {},
    [[]],
    [null, null],
    DEEP_NESTING,
    HUGE_STRING,
  ),
  // String() and template literals throw on these.
  fc.constantFrom({ toString: 1, valueOf: 1 }, [{ toString: null }], { toJSON: 1 }),
);

type Path = Array<string | number>;

/** The paths of a JSON tree's nodes, root first, breadth-first, at most `limit`. */
function nodePaths(root: Json, limit = 4000): Path[] {
  const paths: Path[] = [[]];
  for (let i = 0; i < paths.length && paths.length < limit; i++) {
    const node = valueAt(root, paths[i]!);
    if (node !== null && typeof node === 'object')
      for (const key of Object.keys(node))
        paths.push([...paths[i]!, Array.isArray(node) ? Number(key) : key]);
  }
  return paths.slice(0, limit);
}

function valueAt(root: Json, path: Path): Json {
  return path.reduce<Json>((node, key) => (node as Record<string | number, Json>)[key], root);
}

type Damage =
  | { kind: 'replace'; at: number; value: Json }
  | { kind: 'delete'; at: number }
  | { kind: 'number'; at: number; value: Json }
  | { kind: 'wkt'; at: number; token: string }
  | { kind: 'truncate'; keep: number };

const damage: fc.Arbitrary<Damage> = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: strangeValue }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('number' as const),
    at: fc.nat(),
    value: fc.constantFrom<Json>(
      1e308,
      -1e308,
      -1e6,
      1e6,
      'NaN',
      'Infinity',
      null,
      -0.5,
      5e-324,
      2 ** 31,
      '12',
    ),
  }),
  fc.record({
    kind: fc.constant('wkt' as const),
    at: fc.nat(),
    token: fc.constantFrom(
      'NaN',
      'Infinity',
      '-Infinity',
      '1e308',
      '-1e999',
      '1e',
      '--1',
      '',
      'x',
      '(',
      ')',
      ',',
      '0x10',
      '1 2 3 4 5',
    ),
  }),
  fc.record({ kind: fc.constant('truncate' as const), keep: unit }),
);

/** The text of a damaged copy of a document. */
function damagedText(document: Json, change: Damage): string {
  if (change.kind === 'truncate') {
    const text = JSON.stringify(document);
    return text.slice(0, Math.floor(change.keep * text.length));
  }
  const copy = structuredClone(document);
  const paths = nodePaths(copy);
  const set = (path: Path, value: Json) => {
    if (path.length === 0) return value;
    (valueAt(copy, path.slice(0, -1)) as Record<string | number, Json>)[path.at(-1)!] = value;
    return copy;
  };
  let result: Json = copy;
  if (change.kind === 'replace') result = set(paths[change.at % paths.length]!, change.value);
  else if (change.kind === 'delete') {
    const path = paths[change.at % paths.length]!;
    if (path.length === 0) result = undefined;
    else {
      const parent = valueAt(copy, path.slice(0, -1)) as Json[] | Record<string, Json>;
      if (Array.isArray(parent)) parent.splice(path.at(-1) as number, 1);
      else delete parent[path.at(-1) as string];
    }
  } else if (change.kind === 'number') {
    const numbers = paths.filter((path) => typeof valueAt(copy, path) === 'number');
    if (numbers.length > 0) set(numbers[change.at % numbers.length]!, change.value);
  } else {
    const wkts = paths.filter((path) => path.at(-1) === 'wkt' && typeof valueAt(copy, path) === 'string');
    if (wkts.length > 0) {
      const path = wkts[change.at % wkts.length]!;
      const tokens = (valueAt(copy, path) as string).split(/(?<=[ (),])|(?=[ (),])/);
      tokens[change.at % tokens.length] = change.token;
      set(path, tokens.join(''));
    }
  }
  return (JSON.stringify(result) ?? '')
    .replaceAll(JSON.stringify(DEEP_NESTING), deepNestingText)
    .replaceAll(JSON.stringify(HUGE_STRING), hugeStringText);
}

/** Some of the format names readLabelMask takes; mostly auto-detection. */
const formatChoice = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constantFrom(...LABEL_FORMATS) },
);

/**
 * The two properties every JSON format must have: valid documents give a mask (whether detected or forced,
 * the same one; another forced format is an InputError), and any document, however damaged, keeps the contract.
 */
function jsonFormatProperties(
  name: Exclude<(typeof LABEL_FORMATS)[number], 'auto' | 'mask'>,
  classMap: ClassMap,
  valid: fc.Arbitrary<{ size: Size; document: Json; values: number[]; labelKey?: string }>,
  any: fc.Arbitrary<{ size: Size; document: Json; labelKey?: string }>,
): void {
  test(`${name}: valid documents are detected and give a mask of the image's size painted only with their classes`, async () => {
    await fc.assert(
      fc.asyncProperty(valid, async ({ size, document, values, labelKey }) => {
        const labelPath = writeLabel(JSON.stringify(document), '.json');
        assert.is(detectLabelFormat(labelPath, document), name);
        const detected = await expectMask({ labelPath, size, classMap, labelKey });
        assertValuesWithin(detected, values);
        const forced = await expectMask({ labelPath, size, classMap, labelKey, format: name });
        assert.equal(forced.data, detected.data);
        for (const otherFormat of LABEL_FORMATS.filter((f) => f !== name && f !== 'auto')) {
          assert.instance(
            await readWithContract({ labelPath, size, classMap, labelKey, format: otherFormat }),
            InputError,
            `read as ${otherFormat}`,
          );
        }
      }),
      { numRuns: 100 },
    );
  });

  test(`${name}: any document, damaged in any way, gives a mask of the image's size or an InputError naming the file`, async () => {
    await fc.assert(
      fc.asyncProperty(
        any,
        fc.option(damage, { freq: 3 }),
        formatChoice,
        fc.boolean(),
        async ({ size, document, labelKey }, change, format, skipDegenerate) => {
          const text = change === null ? JSON.stringify(document) : damagedText(document, change);
          const labelPath = writeLabel(text, '.json');
          try {
            await readWithContract({ labelPath, size, classMap, labelKey, format, skipDegenerate });
          } finally {
            rmSync(labelPath);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
}

// ---------------------------------------------------------------------------------------------------------
// xBD

const XBD_SUBTYPES = ['no-damage', 'minor-damage', 'major-damage', 'destroyed', 'un-classified'];
const wktRings = (rings: number[][]) =>
  `(${rings
    .map(
      (ring) =>
        `(${closed(ring)
          .map(([x, y]) => `${x} ${y}`)
          .join(', ')})`,
    )
    .join(', ')})`;
const wktOf = (polygons: number[][][]) =>
  polygons.length === 1
    ? `POLYGON ${wktRings(polygons[0]!)}`
    : `MULTIPOLYGON (${polygons.map(wktRings).join(', ')})`;

function xbdDocument(
  size: Size,
  features: Array<{ subtype: string; wkt: string }>,
  withMetadata: boolean,
): Json {
  return {
    features: {
      lng_lat: [],
      xy: features.map(({ subtype, wkt }, uid) => ({
        properties: { feature_type: 'building', subtype, uid: String(uid) },
        wkt,
      })),
    },
    ...(withMetadata
      ? { metadata: { width: size.width, height: size.height, disaster: 'test', img_name: 'test.png' } }
      : {}),
  };
}

/** Not a polygon, or not WKT at all. */
const wktGarbage = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc
    .array(
      fc.constantFrom(
        'POLYGON',
        'MULTIPOLYGON',
        'EMPTY',
        'Z',
        'M',
        '(',
        '((',
        ')',
        '))',
        ',',
        '1',
        '2.5',
        '-3',
        'NaN',
        '1e308',
        'POINT',
      ),
      { maxLength: 30 },
    )
    .map((tokens) => tokens.join(' ')),
  fc.constantFrom(
    'POINT (1 2)',
    'LINESTRING (0 0, 1 1)',
    'GEOMETRYCOLLECTION EMPTY',
    'POLYGON EMPTY',
    'MULTIPOLYGON EMPTY',
    'POLYGON ((0 0, 4 0, 4 4, 0 0)',
    'POLYGON (0 0, 4 0, 4 4)',
    'POLYGON ((0 0,, 4 4, 4 0, 0 0))',
    'SRID=4326;POLYGON ((0 0, 4 0, 4 4, 0 0))',
    'POLYGON Z ((0 0 1, 4 0 1, 4 4 1, 0 0 1))',
    `POLYGON ((${'1 1, '.repeat(5000)}1 1))`,
  ),
);

jsonFormatProperties(
  'xbd',
  xbdMap,
  imageSize.chain((size) =>
    fc
      .record({
        size: fc.constant(size),
        features: fc.array(
          fc.record({
            subtype: fc.constantFrom(...XBD_SUBTYPES),
            polygons: fc.array(fc.array(validRing(size), { minLength: 1, maxLength: 2 }), {
              minLength: 1,
              maxLength: 2,
            }),
          }),
          { maxLength: 6 },
        ),
        withMetadata: fc.boolean(),
      })
      .map(({ size, features, withMetadata }) => ({
        size,
        document: xbdDocument(
          size,
          features.map((f) => ({ subtype: f.subtype, wkt: wktOf(f.polygons) })),
          withMetadata,
        ),
        values: features.map((f) => xbdMap.ids.get(f.subtype)!),
      })),
  ),
  imageSize.chain((size) =>
    fc
      .record({
        size: fc.constant(size),
        features: fc.array(
          fc.record({
            subtype: fc.oneof(
              { weight: 5, arbitrary: fc.constantFrom(...XBD_SUBTYPES) },
              { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
            ),
            wkt: fc.oneof(
              {
                weight: 3,
                arbitrary: fc
                  .array(fc.array(anyRing(size), { minLength: 1, maxLength: 2 }), {
                    minLength: 1,
                    maxLength: 2,
                  })
                  .map(wktOf),
              },
              { weight: 1, arbitrary: wktGarbage },
            ),
          }),
          { maxLength: 6 },
        ),
        withMetadata: fc.boolean(),
      })
      .map(({ size, features, withMetadata }) => ({
        size,
        document: xbdDocument(size, features, withMetadata),
      })),
  ),
);

// ---------------------------------------------------------------------------------------------------------
// LabelMe

const LABELME_LABELS = ['_background_', 'car', 'person', '__ignore__'];

interface LabelMeShape {
  label: string;
  points: number[][];
  shape_type: string;
}

/** A valid LabelMe shape of each kind, its points inside the image. */
function validLabelMeShape(size: Size): fc.Arbitrary<LabelMeShape> {
  const inside = fc.tuple(
    fc.double({ min: 0, max: size.width, noNaN: true }),
    fc.double({ min: 0, max: size.height, noNaN: true }),
  );
  const label = fc.constantFrom(...LABELME_LABELS);
  const corner = (extent: number) =>
    fc
      .tuple(fc.integer({ min: 0, max: extent - 1 }), fc.integer({ min: 1, max: extent }))
      .filter(([a, b]) => a < b);
  return fc.oneof(
    fc.record({ label, points: validRing(size).map(points), shape_type: fc.constant('polygon') }),
    fc.record({
      label,
      points: fc.tuple(corner(size.width), corner(size.height)).map(([[x0, x1], [y0, y1]]) => [
        [x0, y0],
        [x1, y1],
      ]),
      shape_type: fc.constant('rectangle'),
    }),
    fc.record({ label, points: fc.tuple(inside, inside), shape_type: fc.constant('circle') }),
    fc.record({ label, points: inside.map((p) => [p]), shape_type: fc.constant('point') }),
    fc.record({
      label,
      points: fc.array(inside, { minLength: 2, maxLength: 2 }),
      shape_type: fc.constant('line'),
    }),
    fc.record({
      label,
      points: fc.array(inside, { minLength: 2, maxLength: 5 }),
      shape_type: fc.constant('linestrip'),
    }),
  );
}

const labelMeDocument = (size: Size, shapes: Json[]): Json => ({
  version: '5.2.1',
  flags: {},
  shapes,
  imagePath: 'image.jpg',
  imageData: null,
  imageHeight: size.height,
  imageWidth: size.width,
});

jsonFormatProperties(
  'labelme',
  labelMeMap,
  imageSize.chain((size) =>
    fc.array(validLabelMeShape(size), { maxLength: 6 }).map((shapes) => ({
      size,
      document: labelMeDocument(size, shapes),
      values: shapes.map((s) => labelMeMap.ids.get(s.label)!),
    })),
  ),
  imageSize.chain((size) =>
    fc
      .array(
        fc.oneof(
          validLabelMeShape(size),
          fc.record({
            label: fc.constantFrom(...LABELME_LABELS, 'dog'),
            points: anyRing(size).map(points),
            shape_type: fc.constantFrom(
              'polygon',
              'rectangle',
              'circle',
              'point',
              'line',
              'linestrip',
              'mask',
              'cuboid',
            ),
          }),
        ),
        { maxLength: 6 },
      )
      .map((shapes) => ({ size, document: labelMeDocument(size, shapes) })),
  ),
);

// ---------------------------------------------------------------------------------------------------------
// COCO

/** Column-major runs of 0s and 1s covering exactly `pixels`, as COCO RLE holds them. */
const validRuns = (pixels: number) =>
  fc.uniqueArray(fc.integer({ min: 0, max: pixels }), { maxLength: 12 }).map((cuts) => {
    const bounds = [0, ...cuts.sort((a, b) => a - b), pixels];
    return bounds.slice(1).map((bound, i) => bound - bounds[i]!);
  });

/** RLE counts that lie: runs that do not sum to the mask, negative, fractional, overflowing, not numbers, bad strings. */
const badCounts = (pixels: number): fc.Arbitrary<Json> =>
  fc.oneof(
    validRuns(pixels).chain((runs) =>
      fc
        .tuple(fc.nat(runs.length - 1), fc.constantFrom(1, -1, pixels, 2 ** 53, 1e308, -1e308, 0.5))
        .map(([i, delta]) => runs.map((run, k) => (k === i ? run + delta : run))),
    ),
    fc.array(fc.oneof(fc.integer(), fc.double(), fc.constantFrom<Json>('NaN', null, '3', 2 ** 64, [], {})), {
      maxLength: 8,
    }),
    validRuns(pixels).chain((runs) =>
      fc.tuple(fc.nat(), fc.string({ maxLength: 6 })).map(([at, text]) => {
        const counts = encodeRleString(runs);
        const cut = at % (counts.length + 1);
        return counts.slice(0, cut) + text + counts.slice(cut);
      }),
    ),
    fc.string({ maxLength: 30 }),
    // Groups with the continuation bit forever: one run of more bits than any number holds.
    fc.constant('o'.repeat(100_000) + '0'),
  );

interface CocoCase {
  size: Size;
  document: Json;
  labelKey: string;
  values: number[];
}

/** A COCO file of 1-3 images; the case reads the one named `labelKey`, whose annotations come from `segmentation`. */
function cocoCase(
  segmentation: (size: Size) => fc.Arbitrary<Json>,
  categoryId: fc.Arbitrary<number>,
): fc.Arbitrary<CocoCase> {
  return fc.tuple(imageSize, fc.array(imageSize, { maxLength: 2 })).chain(([size, others]) =>
    fc
      .record({
        target: fc.nat(others.length),
        annotations: fc.array(
          fc.record({
            image: fc.nat(others.length),
            category_id: categoryId,
            iscrowd: fc.constantFrom(0, 0, 1),
            segmentation: segmentation(size),
          }),
          { maxLength: 6 },
        ),
      })
      .map(({ target, annotations }) => {
        const sizes = [...others];
        sizes.splice(target, 0, size);
        const images = sizes.map((s, id) => ({
          id: id + 10,
          file_name: `image-${id}.png`,
          width: s.width,
          height: s.height,
        }));
        // Annotations of another image are painted with that image's size in mind only when they are its own.
        const own = annotations.map((a) => ({ ...a, image: sizes[a.image] === size ? target : a.image }));
        return {
          size,
          labelKey: images[target]!.file_name,
          document: {
            images,
            categories: COCO_CATEGORIES,
            annotations: own.map((a, id) => ({
              id,
              image_id: a.image + 10,
              category_id: a.category_id,
              iscrowd: a.iscrowd,
              segmentation: a.segmentation,
              area: 0,
              bbox: [],
            })),
          },
          values: own
            .filter((a) => a.image === target)
            .map((a) =>
              a.iscrowd
                ? IGNORE_VALUE
                : (cocoMap.ids.get(COCO_CATEGORIES.find((c) => c.id === a.category_id)?.name ?? '') ?? 0),
            ),
        };
      }),
  );
}

const validCocoSegmentation = (size: Size) =>
  fc.oneof(
    fc.array(validRing(size), { minLength: 1, maxLength: 2 }),
    validRuns(size.width * size.height).chain((runs) =>
      fc.boolean().map((compressed) => ({
        size: [size.height, size.width],
        counts: compressed ? encodeRleString(runs) : runs,
      })),
    ),
  );

jsonFormatProperties(
  'coco',
  cocoMap,
  cocoCase(validCocoSegmentation, fc.constantFrom(...COCO_CATEGORIES.map((c) => c.id))),
  cocoCase(
    (size) =>
      fc.oneof(
        validCocoSegmentation(size),
        fc.array(anyRing(size), { maxLength: 2 }),
        fc.record({
          size: fc.oneof(
            fc.constant([size.height, size.width]),
            fc.constant([size.width, size.height]),
            fc.jsonValue({ maxDepth: 1 }),
          ),
          counts: badCounts(size.width * size.height),
        }),
      ),
    fc.constantFrom(1, 2, 9, 4),
  ),
);

test('coco: cocoImageKeys gives the file names of a COCO file, undefined for other files, or an InputError naming it', async () => {
  await fc.assert(
    fc.asyncProperty(
      cocoCase(validCocoSegmentation, fc.constant(1)),
      fc.option(damage, { freq: 2 }),
      async ({ document }, change) => {
        const labelPath = writeLabel(
          change === null ? JSON.stringify(document) : damagedText(document, change),
          '.json',
        );
        let keys: unknown;
        try {
          keys = await cocoImageKeys(labelPath);
        } catch (error) {
          if (!(error instanceof InputError))
            assert.unreachable(`cocoImageKeys threw ${(error as Error)?.name}: ${(error as Error)?.message}`);
          assert.is((error as InputError).file, labelPath);
          return;
        }
        if (change === null)
          assert.equal(
            keys,
            (document as { images: Array<{ file_name: string }> }).images.map((image) => image.file_name),
          );
        else
          assert.ok(
            keys === undefined || (Array.isArray(keys) && keys.every((key) => typeof key === 'string')),
          );
      },
    ),
    { numRuns: 200 },
  );
});

// ---------------------------------------------------------------------------------------------------------
// GeoJSON

const GEOJSON_CLASS_KEYS = ['class', 'label', 'subtype', 'name'];
const geoJsonDocument = (features: Array<{ key: string; name: string; polygons: number[][][] }>): Json => ({
  type: 'FeatureCollection',
  features: features.map(({ key, name, polygons }) => ({
    type: 'Feature',
    properties: { [key]: name },
    geometry:
      polygons.length === 1
        ? { type: 'Polygon', coordinates: polygons[0]!.map(closed) }
        : { type: 'MultiPolygon', coordinates: polygons.map((rings) => rings.map(closed)) },
  })),
});

jsonFormatProperties(
  'geojson',
  xbdMap,
  imageSize.chain((size) =>
    fc
      .array(
        fc.record({
          key: fc.constantFrom(...GEOJSON_CLASS_KEYS),
          name: fc.constantFrom(...XBD_SUBTYPES),
          polygons: fc.array(fc.array(validRing(size), { minLength: 1, maxLength: 2 }), {
            minLength: 1,
            maxLength: 2,
          }),
        }),
        { maxLength: 6 },
      )
      .map((features) => ({
        size,
        document: geoJsonDocument(features),
        values: features.map((f) => xbdMap.ids.get(f.name)!),
      })),
  ),
  imageSize.chain((size) =>
    fc
      .array(
        fc.record({
          key: fc.constantFrom(...GEOJSON_CLASS_KEYS, 'kind'),
          name: fc.constantFrom(...XBD_SUBTYPES, 'flooded'),
          polygons: fc.array(fc.array(anyRing(size), { minLength: 1, maxLength: 2 }), {
            minLength: 1,
            maxLength: 2,
          }),
        }),
        { maxLength: 6 },
      )
      .map((features) => ({ size, document: geoJsonDocument(features) })),
  ),
);

// ---------------------------------------------------------------------------------------------------------
// Mask images

interface MaskImageCase {
  size: Size;
  fileSize: Size;
  channels: 1 | 2 | 3 | 4;
  /** Class ids (or the ignore value) per pixel, else any byte values. */
  classValues: boolean;
  seed: number;
  extension: '.png' | '.tif' | '.webp';
  damage:
    | { kind: 'none' }
    | { kind: 'truncate'; keep: number }
    | { kind: 'bytes'; bytes: Uint8Array }
    | { kind: 'json' };
}

const maskImageCase: fc.Arbitrary<MaskImageCase> = imageSize.chain((size) =>
  fc.record({
    size: fc.constant(size),
    fileSize: fc.oneof({ weight: 4, arbitrary: fc.constant(size) }, { weight: 1, arbitrary: imageSize }),
    channels: fc.constantFrom(1 as const, 2 as const, 3 as const, 4 as const),
    classValues: fc.oneof(
      { weight: 4, arbitrary: fc.constant(true) },
      { weight: 1, arbitrary: fc.constant(false) },
    ),
    seed: fc.nat(),
    extension: fc.constantFrom('.png' as const, '.png' as const, '.tif' as const, '.webp' as const),
    damage: fc.oneof(
      { weight: 4, arbitrary: fc.constant({ kind: 'none' as const }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), keep: unit }) },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('bytes' as const),
          bytes: fc.uint8Array({ maxLength: 300 }),
        }),
      },
      { weight: 1, arbitrary: fc.constant({ kind: 'json' as const }) },
    ),
  }),
);

/** Encodes a mask image: grey (+ alpha) holding ids, or colour (+ alpha) holding the classes' colours. */
async function maskImageBytes(c: MaskImageCase, ids: Uint8Array): Promise<Buffer> {
  const { width, height } = c.fileSize;
  const random = lcg(c.seed);
  const raw = Buffer.alloc(width * height * c.channels);
  for (let i = 0; i < width * height; i++) {
    const id = ids[i]!;
    if (c.channels <= 2) raw[i * c.channels] = id;
    else
      raw.set(
        c.classValues ? (xbdMap.colors[id] ?? [1, 2, 3]) : [id, Math.floor(random() * 256), id],
        i * c.channels,
      );
    if (c.channels % 2 === 0) raw[i * c.channels + c.channels - 1] = 255;
  }
  const image = sharp(raw, { raw: { width, height, channels: c.channels } });
  if (c.channels <= 2) image.toColourspace('b-w');
  // Lossless encodings only (sharp's TIFF default is JPEG).
  return c.extension === '.png'
    ? image.png().toBuffer()
    : c.extension === '.tif'
      ? image.tiff({ compression: 'deflate' }).toBuffer()
      : image.webp({ lossless: true }).toBuffer();
}

test('mask images: class-id and colour masks read back as their ids; wrong sizes, unknown values and broken files are InputErrors', async () => {
  await fc.assert(
    fc.asyncProperty(
      maskImageCase,
      formatChoice.filter((f) => f === undefined || f === 'mask'),
      async (c, format) => {
        const { width, height } = c.fileSize;
        const random = lcg(c.seed);
        const values = c.classValues
          ? [0, 1, 2, 3, 4, IGNORE_VALUE].filter((v) => c.channels <= 2 || v !== IGNORE_VALUE)
          : undefined;
        const ids = Uint8Array.from({ length: width * height }, () =>
          values ? values[Math.floor(random() * values.length)]! : Math.floor(random() * 256),
        );
        const bytes = await maskImageBytes(c, ids);
        const contents =
          c.damage.kind === 'truncate'
            ? bytes.subarray(0, Math.floor(c.damage.keep * bytes.length))
            : c.damage.kind === 'bytes'
              ? c.damage.bytes
              : c.damage.kind === 'json'
                ? JSON.stringify(xbdDocument(c.size, [], true))
                : bytes;
        const labelPath = writeLabel(contents, c.extension);
        const result = await readWithContract({ labelPath, size: c.size, classMap: xbdMap, format });
        const sameSize = width === c.size.width && height === c.size.height;
        // WebP has no grey: its grey masks decode as colours.
        const holdsIds = c.channels >= 3 || c.extension !== '.webp';
        if (c.damage.kind === 'none' && c.classValues && sameSize && holdsIds) {
          assert.not.instance(result, InputError, `${labelPath}: ${(result as InputError).message}`);
          assert.equal((result as ClassMask).data, ids);
        }
        if (!sameSize)
          assert.instance(result, InputError, 'a mask of another size than the image is an error');
      },
    ),
    { numRuns: 150 },
  );
});

/** An RGB PNG of zeros, built by hand: its rows are deflated as a stream, so even a huge one costs little memory to make. */
async function pngOfZeros(width: number, height: number): Promise<Buffer> {
  const deflate = createDeflate({ level: 1 });
  const compressed: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => compressed.push(chunk));
  const ended = new Promise((resolve) => deflate.on('end', resolve));
  const row = Buffer.alloc(1 + 3 * width); // filter byte 0, then the pixels
  for (let y = 0; y < height; y++) deflate.write(row);
  deflate.end();
  await ended;
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const frame = Buffer.alloc(8 + body.length);
    frame.writeUInt32BE(data.length, 0);
    body.copy(frame, 4);
    frame.writeUInt32BE(crc32(body), 4 + body.length);
    return frame;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no interlace
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', header),
    chunk('IDAT', Buffer.concat(compressed)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

test('mask images: a small file that decodes to a huge image is refused without decoding it', async () => {
  // 16,000 x 16,000 RGB: a few MB on disk, 768 MB decoded.
  const labelPath = writeLabel(await pngOfZeros(16_000, 16_000), '.png');
  const before = process.memoryUsage().rss;
  const result = await readWithContract({ labelPath, size: { width: 64, height: 64 }, classMap: xbdMap });
  assert.instance(result, InputError);
  const grown = process.memoryUsage().rss - before;
  assert.ok(grown < 200 * 2 ** 20, `reading it grew RSS by ${(grown / 2 ** 20).toFixed(0)} MiB`);
  rmSync(labelPath);
});

// ---------------------------------------------------------------------------------------------------------
// The JSON label file itself and the helpers every reader shares

test('labelFile: any bytes, a missing file or a folder give the parsed JSON or an InputError naming the file', async () => {
  const folder = join(scratch, 'a-folder.json');
  mkdirSync(folder);
  for (const path of [folder, join(scratch, 'missing.json')]) {
    const error = await readJsonLabel(path).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.instance(error, InputError, `${path}: ${(error as Error)?.message}`);
    assert.is((error as InputError).file, path);
  }
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        fc.jsonValue().map((value) => Buffer.from(JSON.stringify(value) ?? '')),
        fc.jsonValue().map((value) => Buffer.from(`\uFEFF${JSON.stringify(value)}`)),
        fc.string({ maxLength: 50 }).map((text) => Buffer.from(text)),
      ),
      async (bytes) => {
        const path = writeLabel(bytes, '.json');
        let text: string | undefined;
        let expected: unknown;
        try {
          text = Buffer.from(bytes).toString('utf8');
          expected = JSON.parse(text);
        } catch {
          text = undefined;
        }
        const result = await readJsonLabel(path).then(
          (json) => ({ json }),
          (error: unknown) => ({ error }),
        );
        if ('json' in result) {
          assert.ok(text !== undefined, 'parsed what JSON.parse refuses');
          assert.equal(result.json, expected);
        } else {
          assert.instance(result.error, InputError);
          assert.is((result.error as InputError).file, path);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('labelFile: class names and declared sizes of any JSON value give a class id, pass, or an InputError naming the file', () => {
  const file = join(scratch, 'helpers.json');
  const anyValue = fc.oneof(
    strangeValue.map((v) => (v === DEEP_NESTING ? JSON.parse(deepNestingText) : v)),
    fc.constantFrom(...xbdMap.ids.keys()),
  );
  fc.assert(
    fc.property(anyValue, anyValue, anyValue, (name, width, height) => {
      const outcome = (run: () => unknown) => {
        try {
          return { value: run() };
        } catch (error) {
          if (!(error instanceof InputError))
            assert.unreachable(`${(error as Error)?.name}: ${(error as Error)?.message}`);
          assert.is((error as InputError).file, file);
          return { error };
        }
      };
      const id = outcome(() => classValue(xbdMap, name, file, 'here'));
      if ('value' in id) assert.is(id.value, xbdMap.ids.get(name as string));
      else assert.not.ok(typeof name === 'string' && xbdMap.ids.has(name));
      const declared = outcome(() => checkDeclaredSize(file, { width, height }, { width: 32, height: 16 }));
      assert.is(
        'value' in declared,
        (width === undefined && height === undefined) || (width === 32 && height === 16),
      );
    }),
    { numRuns: 500 },
  );
});

// ---------------------------------------------------------------------------------------------------------
// Million-vertex polygons

test('million-vertex polygons in every JSON format rasterize within the time limit to their exact area', async () => {
  const size = { width: 1024, height: 1024 };
  const n = 1_000_000;
  const random = lcg(7);
  const ring = new Array<number>(2 * n);
  for (let k = 0; k < n; k++) {
    const angle = (2 * Math.PI * k) / n;
    const radius = 400 + 40 * Math.sin(9 * angle) + random();
    ring[2 * k] = Math.round((512 + radius * Math.cos(angle)) * 100) / 100;
    ring[2 * k + 1] = Math.round((512 + radius * Math.sin(angle)) * 100) / 100;
  }
  let twiceArea = 0;
  for (let k = 0; k < n; k++) {
    const next = (k + 1) % n;
    twiceArea += ring[2 * k]! * ring[2 * next + 1]! - ring[2 * next]! * ring[2 * k + 1]!;
  }
  const area = Math.abs(twiceArea) / 2;
  // Documents are made one at a time, so that only one is alive at once.
  const documents: Array<{ name: string; classMap: ClassMap; document: () => Json; labelKey?: string }> = [
    {
      name: 'xbd',
      classMap: xbdMap,
      document: () => xbdDocument(size, [{ subtype: 'destroyed', wkt: wktOf([[ring]]) }], true),
    },
    {
      name: 'geojson',
      classMap: xbdMap,
      document: () => geoJsonDocument([{ key: 'class', name: 'destroyed', polygons: [[ring]] }]),
    },
    {
      name: 'labelme',
      classMap: labelMeMap,
      document: () =>
        labelMeDocument(size, [{ label: 'person', points: points(ring), shape_type: 'polygon' }]),
    },
    {
      name: 'coco',
      classMap: cocoMap,
      labelKey: 'big.png',
      document: () => ({
        images: [{ id: 1, file_name: 'big.png', ...size }],
        categories: COCO_CATEGORIES,
        annotations: [{ id: 1, image_id: 1, category_id: 2, iscrowd: 0, segmentation: [ring] }],
      }),
    },
  ];
  for (const { name, classMap, document, labelKey } of documents) {
    const labelPath = writeLabel(JSON.stringify(document()), '.json');
    const started = performance.now();
    const result = await readWithContract({ labelPath, size, classMap, labelKey }, MILLION_VERTEX_LIMIT_MS);
    if (result instanceof InputError) assert.unreachable(`${name}: ${result.message.slice(0, 300)}`);
    const painted = (result as ClassMask).data.filter((v) => v !== 0).length;
    console.log(
      `  ${name}: 1,000,000 vertices in ${((performance.now() - started) / 1000).toFixed(1)} s; ${painted} pixels for an area of ${area.toFixed(0)}`,
    );
    assert.ok(Math.abs(painted / area - 1) < 0.005, `${name}: ${painted} pixels for an area of ${area}`);
    rmSync(labelPath);
  }
});

/**
 * Full garbage collections with pauses between them, so that RSS shows what is still held rather than what
 * V8 has not yet collected or its sweeper threads not yet given back.
 */
async function collectGarbage(): Promise<void> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let round = 0; round < 3; round++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('memory stays bounded over all the cases above', async () => {
  await collectGarbage();
  const grown = process.memoryUsage().rss - rssAtStart;
  console.log(`  RSS grew by ${(grown / 2 ** 20).toFixed(0)} MiB`);
  assert.ok(grown < MEMORY_BOUND_BYTES, `RSS grew by ${(grown / 2 ** 20).toFixed(0)} MiB`);
  rmSync(scratch, { recursive: true, force: true });
});

test.run();
