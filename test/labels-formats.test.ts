import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveClassMap } from '../src/cli/classes.js';
import { InputError } from '../src/errors.js';
import { writeClassMaskPng } from '../src/io/writeClassMaskPng.js';
import { type ClassMap, labelMeClassMap, xbdClassMap } from '../src/labels/classMap.js';
import { cocoImageKeys } from '../src/labels/coco.js';
import { decodeRleString, encodeRleString, encodeRuns } from '../src/labels/cocoRle.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { pairFiles } from '../src/sources/pairFiles.js';
import { COCO_DIR, LABELME_DIR, syntheticXbd } from './helpers/data.js';
import { realDataTest } from './helpers/skips.js';

const scratch = mkdtempSync(join(tmpdir(), 'segstream-labels-'));
// xBD labels of 1024x1024 tiles, with un-classified (ignored) buildings as in the real set.
const xbd = await syntheticXbd(3, { buildingsPerImage: 30, unclassifiedEvery: 7 });
const xbdFiles = xbd.labels;
const xbdPair = (file: string) => ({ id: file, imagePath: '', labelPath: join(xbd.labelsDir, file) });
const size1024 = { width: 1024, height: 1024 };
const buildingMap = (): ClassMap => ({
  names: ['background', 'building'],
  ids: new Map([['building', 1]]),
  ignoreValue: 255,
  colors: [
    [0, 0, 0],
    [255, 0, 0],
  ],
});
const count = (data: Uint8Array, value: number) => data.reduce((n, v) => n + (v === value ? 1 : 0), 0);

async function expectInputError(promise: Promise<unknown>, file: string, problem: RegExp): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, InputError);
    assert.is((error as InputError).file, file);
    assert.match((error as InputError).problem, problem);
    return;
  }
  assert.unreachable(`no error for ${file}`);
}

test('COCO RLE string decoding follows the format by hand: runs 3, 2, 100 encode as "32T3"', () => {
  // 100 = 0b11_00100: low group 00100 with the continuation bit (36 + 48 = 'T'), then 00011 ('3').
  assert.equal(decodeRleString('32T3'), [3, 2, 100]);
  assert.is(encodeRleString([3, 2, 100]), '32T3');
  // From the third run on, the difference to the run two before is stored: 5 - 3 = 2 -> '2'.
  assert.equal(decodeRleString(encodeRleString([3, 2, 5, 1])), [3, 2, 5, 1]);
  assert.equal(decodeRleString(encodeRleString([7, 1, 2, 900, 3])), [7, 1, 2, 900, 3]);
});

test('COCO: RLE masks, compressed and not, reproduce xBD building masks; crowd regions are ignored', async () => {
  const original = await readLabelMask(xbdPair(xbdFiles[0]!), size1024, xbdClassMap());
  const building = original.data.map((v) => (v >= 1 && v <= 4 ? 1 : 0));
  const runs = encodeRuns(building, 1024, 1024);
  const image = { id: 7, file_name: 'tile.png', width: 1024, height: 1024 };
  const coco = {
    images: [image],
    categories: [{ id: 3, name: 'building' }],
    annotations: [
      {
        image_id: 7,
        category_id: 3,
        iscrowd: 0,
        segmentation: { size: [1024, 1024], counts: encodeRleString(runs) },
      },
      { image_id: 7, category_id: 3, iscrowd: 0, segmentation: { size: [1024, 1024], counts: runs } },
      { image_id: 7, category_id: 3, iscrowd: 1, segmentation: [[0, 0, 10, 0, 10, 10, 0, 10]] },
    ],
  };
  const file = join(scratch, 'rle.json');
  writeFileSync(file, JSON.stringify(coco));
  const mask = await readLabelMask(
    { id: 'tile', imagePath: '', labelPath: file, labelKey: 'tile.png' },
    size1024,
    buildingMap(),
  );
  for (let y = 0; y < 1024; y++) {
    for (let x = 0; x < 1024; x++) {
      const i = y * 1024 + x;
      const expected = x < 10 && y < 10 ? 255 : building[i];
      if (mask.data[i] !== expected) assert.unreachable(`pixel ${x},${y}: ${mask.data[i]} != ${expected}`);
    }
  }
  assert.ok(count(mask.data, 1) > 1000);
});

realDataTest(
  'COCO: the crowdAI rooftops pair by file_name with the train_/val_ prefix and rasterize to their areas',
  COCO_DIR,
  'real crowdAI COCO annotations and their areas',
  async () => {
    const result = await pairFiles({
      imagesDir: join(COCO_DIR, 'images'),
      labelsDir: join(COCO_DIR, 'labels'),
      multiImageLabelKeys: cocoImageKeys,
    });
    assert.is(result.pairs.length, 40);
    let pixels = 0;
    let area = 0;
    const skipped: string[] = [];
    for (const labelFile of ['train_annotation.json', 'val_annotation.json']) {
      const json = JSON.parse(readFileSync(join(COCO_DIR, 'labels', labelFile), 'utf8'));
      area += json.annotations.reduce((sum: number, a: { area: number }) => sum + a.area, 0);
    }
    for (const pair of result.pairs) {
      const options = {
        degenerateShapes: 'skip' as const,
        onSkippedShape: (file: string, problem: string) => skipped.push(`${file}: ${problem}`),
      };
      const mask = await readLabelMask(pair, { width: 300, height: 300 }, buildingMap(), options);
      pixels += count(mask.data, 1);
    }
    // The real set holds degenerate polygons: strict by default, counted when skipped.
    assert.ok(skipped.length > 0 && skipped.length < 10, skipped.join('\n'));
    assert.match(
      skipped[0]!,
      /annotations\[\d+\]\.segmentation\[0\]: a ring has fewer than 3 distinct points/,
    );
    const strict = result.pairs.find((pair) => skipped[0]!.startsWith(pair.labelPath))!;
    let strictError: unknown;
    for (const pair of result.pairs.filter((p) => p.labelPath === strict.labelPath)) {
      await readLabelMask(pair, { width: 300, height: 300 }, buildingMap()).catch(
        (error) => (strictError ??= error),
      );
    }
    assert.instance(strictError, InputError);
    console.log(
      `  crowdAI: ${pixels} building pixels / ${area} annotated area = ${(pixels / area).toFixed(4)}; ${skipped.length} degenerate polygons skipped`,
    );
    assert.ok(Math.abs(pixels / area - 1) < 0.03);
  },
);

realDataTest(
  'COCO and LabelMe readers give the same masks for the same annotations (labelme2coco output)',
  LABELME_DIR,
  "LabelMe's own labelme2coco output",
  async () => {
    const classMap = labelMeClassMap(readFileSync(join(LABELME_DIR, 'class_names.txt'), 'utf8'));
    const cocoFile = join(LABELME_DIR, 'reference-coco', 'annotations.json');
    const keys = (await cocoImageKeys(cocoFile))!;
    assert.is(keys.length, 3);
    for (const key of keys) {
      const stem = key.replace(/^.*\//, '').replace(/\.jpg$/, '');
      const labelme = JSON.parse(readFileSync(join(LABELME_DIR, 'labels', `${stem}.json`), 'utf8'));
      const size = { width: labelme.imageWidth, height: labelme.imageHeight };
      const fromLabelMe = await readLabelMask(
        { id: stem, imagePath: '', labelPath: join(LABELME_DIR, 'labels', `${stem}.json`) },
        size,
        classMap,
      );
      const fromCoco = await readLabelMask(
        { id: stem, imagePath: '', labelPath: cocoFile, labelKey: key },
        size,
        classMap,
      );
      let compared = 0;
      let agree = 0;
      for (let i = 0; i < fromLabelMe.data.length; i++) {
        if (fromLabelMe.data[i] === 255) continue; // labelme2coco leaves __ignore__ shapes out
        compared++;
        if (fromLabelMe.data[i] === fromCoco.data[i]) agree++;
      }
      assert.ok(agree / compared > 0.999, `${stem}: ${agree / compared}`);
    }
  },
);

test("GeoJSON in pixel coordinates gives the xBD reader's mask for the same polygons", async () => {
  const file = xbdFiles[1]!;
  const json = JSON.parse(readFileSync(join(xbd.labelsDir, file), 'utf8'));
  const features = json.features.xy.map((f: { wkt: string; properties: { subtype: string } }) => ({
    type: 'Feature',
    properties: { class: f.properties.subtype },
    geometry: {
      type: 'Polygon',
      coordinates: f.wkt
        .replace(/^POLYGON\s*\(\(/, '')
        .replace(/\)\)$/, '')
        .split(/\)\s*,\s*\(/)
        .map((ring) => ring.split(',').map((p) => p.trim().split(/\s+/).map(Number))),
    },
  }));
  const geojsonFile = join(scratch, 'pixels.geojson.json');
  writeFileSync(geojsonFile, JSON.stringify({ type: 'FeatureCollection', features }));
  const fromXbd = await readLabelMask(xbdPair(file), size1024, xbdClassMap());
  const fromGeoJson = await readLabelMask(
    { id: 'g', imagePath: '', labelPath: geojsonFile },
    size1024,
    xbdClassMap(),
  );
  assert.ok(count(fromXbd.data, 0) < 1024 * 1024);
  assert.equal(fromGeoJson.data, fromXbd.data);
});

/** An OpenStreetMap-style footprint: a pixel rectangle with the given properties. */
const footprint = (properties: Record<string, unknown>, [x0, y0, x1, y1]: number[]) => ({
  type: 'Feature',
  properties,
  geometry: {
    type: 'Polygon',
    coordinates: [
      [
        [x0, y0],
        [x1, y0],
        [x1, y1],
        [x0, y1],
        [x0, y0],
      ],
    ],
  },
});

test("a class file's classProperty reads OSM footprints' building tag; absent or empty values take defaultClass", async () => {
  const classFile = join(scratch, 'osm-classes.json');
  writeFileSync(
    classFile,
    JSON.stringify({
      names: ['background', 'building', 'shed'],
      labels: { yes: 1, house: 1, shed: 2, roof: 'ignore' },
      classProperty: 'building',
      defaultClass: 'shed',
    }),
  );
  const classMap = await resolveClassMap(classFile);
  // OSM footprints carry an empty or free-text name, which must not be read as the class.
  const footprints = [
    { properties: { building: 'yes', name: '' }, box: [2, 2, 10, 8], value: 1 },
    { properties: { building: 'house', name: 'Town hall' }, box: [12, 2, 20, 8], value: 1 },
    { properties: { building: 'shed' }, box: [2, 10, 10, 16], value: 2 },
    { properties: { building: '', name: 'Shop' }, box: [12, 10, 20, 16], value: 2 },
    { properties: { building: null }, box: [2, 18, 10, 24], value: 2 },
    { properties: {}, box: [12, 18, 20, 24], value: 2 },
    { properties: { building: 'roof', class: 'yes' }, box: [22, 2, 30, 24], value: 255 },
  ];
  const size = { width: 32, height: 26 };
  const labelPath = join(scratch, 'osm.geojson');
  writeFileSync(
    labelPath,
    JSON.stringify({
      type: 'FeatureCollection',
      features: footprints.map((f) => footprint(f.properties, f.box)),
    }),
  );
  const mask = await readLabelMask({ id: 'osm', imagePath: '', labelPath }, size, classMap);
  const expected = new Uint8Array(size.width * size.height);
  for (const { box, value } of footprints) {
    const [x0, y0, x1, y1] = box as [number, number, number, number];
    for (let y = y0; y < y1; y++) expected.fill(value, y * size.width + x0, y * size.width + x1);
  }
  assert.equal(mask.data, expected);

  const unknownPath = join(scratch, 'osm-unknown.geojson');
  writeFileSync(
    unknownPath,
    JSON.stringify({
      type: 'FeatureCollection',
      features: [
        footprint({ building: 'yes' }, [0, 0, 4, 4]),
        footprint({ building: 'church' }, [4, 4, 8, 8]),
      ],
    }),
  );
  await expectInputError(
    readLabelMask({ id: 'osm', imagePath: '', labelPath: unknownPath }, size, classMap),
    unknownPath,
    /^features\[1\]\.properties\.building: unknown class 'church' \(known: yes, house, shed, roof\)/,
  );
  const { defaultClass: _, ...withoutDefault } = classMap;
  await expectInputError(
    readLabelMask({ id: 'osm', imagePath: '', labelPath }, size, withoutDefault),
    labelPath,
    /^features\[3\]: no class \(building absent or empty\) and the class file gives no "defaultClass"/,
  );
});

test('xBD: classProperty names the property to read (feature_type); features without it take defaultClass', async () => {
  const buildings = [
    { feature_type: 'building', subtype: 'destroyed', box: [1, 1, 6, 5], value: 1 },
    { feature_type: '', subtype: 'no-damage', box: [8, 1, 14, 5], value: 255 },
    { subtype: 'minor-damage', box: [1, 7, 6, 12], value: 255 },
    { feature_type: 'building', box: [8, 7, 14, 12], value: 1 },
  ];
  const wkt = ([x0, y0, x1, y1]: number[]) =>
    `POLYGON ((${x0} ${y0}, ${x1} ${y0}, ${x1} ${y1}, ${x0} ${y1}, ${x0} ${y0}))`;
  const labelPath = join(scratch, 'feature-type.json');
  writeFileSync(
    labelPath,
    JSON.stringify({
      features: {
        lng_lat: [],
        xy: buildings.map(({ box, value: _, ...properties }) => ({ properties, wkt: wkt(box) })),
      },
    }),
  );
  const size = { width: 16, height: 14 };
  const mask = await readLabelMask({ id: 't', imagePath: '', labelPath }, size, {
    ...buildingMap(),
    ids: new Map<string, number>([
      ['building', 1],
      ['unknown', 255],
    ]),
    classProperty: 'feature_type',
    defaultClass: 'unknown',
  });
  const expected = new Uint8Array(size.width * size.height);
  for (const { box, value } of buildings) {
    const [x0, y0, x1, y1] = box as [number, number, number, number];
    for (let y = y0; y < y1; y++) expected.fill(value, y * size.width + x0, y * size.width + x1);
  }
  assert.equal(mask.data, expected);
});

test('PNG masks: class-index masks read back as written; colour masks map colours to classes', async () => {
  const mask = await readLabelMask(xbdPair(xbdFiles[2]!), size1024, xbdClassMap());
  const indexPng = join(scratch, 'index.png');
  await writeClassMaskPng(indexPng, mask);
  assert.is((await sharp(indexPng).metadata()).channels, 1);
  const fromIndex = await readLabelMask(
    { id: 'i', imagePath: '', labelPath: indexPng },
    size1024,
    xbdClassMap(),
  );
  assert.equal(fromIndex.data, mask.data);
  const colours = xbdClassMap().colors;
  const rgb = Buffer.alloc(1024 * 1024 * 3);
  mask.data.forEach((v, i) => rgb.set(colours[v === 255 ? 0 : v]!, 3 * i));
  const colourPng = join(scratch, 'colour.png');
  await sharp(rgb, { raw: { width: 1024, height: 1024, channels: 3 } })
    .png()
    .toFile(colourPng);
  const fromColour = await readLabelMask(
    { id: 'c', imagePath: '', labelPath: colourPng },
    size1024,
    xbdClassMap(),
  );
  assert.equal(
    fromColour.data,
    mask.data.map((v) => (v === 255 ? 0 : v)),
  );
  rgb.set([1, 2, 3], 0);
  await sharp(rgb, { raw: { width: 1024, height: 1024, channels: 3 } })
    .png()
    .toFile(colourPng);
  await expectInputError(
    readLabelMask({ id: 'c', imagePath: '', labelPath: colourPng }, size1024, xbdClassMap()),
    colourPng,
    /colour rgb\(1, 2, 3\)/,
  );
  // A colour the class map marks as ignored reads as the ignore value, and only there.
  const ignoring = { ...xbdClassMap(), ignoreColors: [[1, 2, 3]] as Array<[number, number, number]> };
  const withIgnored = await readLabelMask(
    { id: 'c', imagePath: '', labelPath: colourPng },
    size1024,
    ignoring,
  );
  assert.is(withIgnored.data[0], 255);
  assert.equal(
    withIgnored.data.subarray(1),
    mask.data.subarray(1).map((v) => (v === 255 ? 0 : v)),
  );
  await expectInputError(
    readLabelMask(
      { id: 'i', imagePath: '', labelPath: indexPng },
      { width: 512, height: 1024 },
      xbdClassMap(),
    ),
    indexPng,
    /1024x1024 but the image is 512x1024/,
  );
});

/** Writes a variant of a good xBD label with one change, and the error it must give. */
async function badXbd(
  name: string,
  // biome-ignore lint/suspicious/noExplicitAny: each edit reaches into a different part of the xBD JSON
  edit: (json: any) => unknown,
  problem: RegExp,
  size = size1024,
): Promise<void> {
  const json = JSON.parse(readFileSync(join(xbd.labelsDir, xbdFiles[0]!), 'utf8'));
  const file = join(scratch, name);
  const edited = edit(json);
  writeFileSync(file, typeof edited === 'string' ? edited : JSON.stringify(json));
  await expectInputError(
    readLabelMask({ id: name, imagePath: '', labelPath: file }, size, xbdClassMap()),
    file,
    problem,
  );
}

test('bad label input: each problem is an InputError naming the file and what is wrong', async () => {
  const text = readFileSync(join(xbd.labelsDir, xbdFiles[0]!), 'utf8');
  await badXbd('truncated.json', () => text.slice(0, text.length / 2), /malformed JSON/);
  await badXbd('not-a-label.json', () => '{"hello": 1}', /unrecognised label format/);
  await badXbd(
    'unknown-class.json',
    (j) => {
      j.features.xy[0].properties.subtype = 'flooded';
    },
    /features\.xy\[0\]\.properties\.subtype: unknown class 'flooded'/,
  );
  await badXbd(
    'outside.json',
    (j) => {
      j.features.xy[0].wkt = 'POLYGON ((10 10, 2000 10, 10 20, 10 10))';
    },
    /vertex \(2000, 10\) lies outside the 1024x1024 image/,
  );
  await badXbd(
    'two-points.json',
    (j) => {
      j.features.xy[0].wkt = 'POLYGON ((10 10, 20 20, 10 10))';
    },
    /fewer than 3 distinct points/,
  );
  await badXbd(
    'zero-area.json',
    (j) => {
      j.features.xy[0].wkt = 'POLYGON ((10 10, 20 20, 30 30, 10 10))';
    },
    /zero area/,
  );
  await badXbd(
    'bad-wkt.json',
    (j) => {
      j.features.xy[0].wkt = 'POLYGON ((10 10, 20';
    },
    /malformed WKT/,
  );
  await badXbd('size.json', () => text, /label is for a 1024x1024 image but the image is 512x512/, {
    width: 512,
    height: 512,
  });
  const missing = join(scratch, 'missing.json');
  await expectInputError(
    readLabelMask({ id: 'm', imagePath: '', labelPath: missing }, size1024, xbdClassMap()),
    missing,
    /cannot read label file/,
  );
});

test.run();
