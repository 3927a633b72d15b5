import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { writeArrayBuffer } from 'geotiff';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeImage } from '../src/io/decodeImage.js';
import { bandStatistics, GeoTiffReader } from '../src/io/geoTiff.js';
import { readLabelledImage } from '../src/io/readLabelledImage.js';
import { type ClassMap, xbdClassMap } from '../src/labels/classMap.js';
import { crsTransform, pixelToMap } from '../src/labels/mapCoordinates.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { polygonsToMap, writeMapPolygons } from '../src/predict/mapPolygons.js';
import { maskToPolygons } from '../src/predict/maskToPolygons.js';
import { geoTiffTags, writeClassGeoTiff } from '../src/predict/writeClassGeoTiff.js';
import type { ClassMask, GeoReference } from '../src/types.js';
import { GEO_KAMPALA_DIR } from './helpers/data.js';
import { mapCoordinateOverlap } from './helpers/geoData.js';
import { realDataTest, testUnlessMissing } from './helpers/skips.js';

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'segstream-geotiff-'));
const gdalMissing = await run('gdalinfo', ['--version']).then(
  () => undefined,
  () => "needs GDAL's gdalinfo and ogrinfo (Debian gdal-bin), not installed",
);

const buildings = (): ClassMap => ({
  names: ['background', 'building'],
  ids: new Map([
    ['background', 0],
    ['building', 1],
  ]),
  ignoreValue: 255,
  colors: [
    [0, 0, 0],
    [255, 0, 0],
  ],
  defaultClass: 'building',
});

// A 4-band 16-bit raster in UTM zone 36N (Kampala's), 0.5 m pixels, north-up: band b of pixel (x, y) holds
// a value that names b, x and y, so every read can be checked sample by sample.
const WIDTH = 300;
const HEIGHT = 200;
const BANDS = 4;
const UTM = 32636;
const geo: GeoReference = { transform: [450_000, 0.5, 0, 40_000, 0, -0.5], epsg: UTM };
const sample = (b: number, x: number, y: number): number => 1000 * b + 7 * x + 13 * y;
const rasterPath = join(scratch, 'scene.tif');
const samples = new Uint16Array(WIDTH * HEIGHT * BANDS);
for (let y = 0; y < HEIGHT; y++)
  for (let x = 0; x < WIDTH; x++)
    for (let b = 0; b < BANDS; b++) samples[(y * WIDTH + x) * BANDS + b] = sample(b, x, y);
writeFileSync(
  rasterPath,
  new Uint8Array(
    writeArrayBuffer(samples, {
      width: WIDTH,
      height: HEIGHT,
      BitsPerSample: [16, 16, 16, 16],
      ...geoTiffTags(geo),
    }),
  ),
);

test('GeoTIFF header: size, bands, 16-bit samples, geotransform and EPSG code from the tags', async () => {
  const raster = await GeoTiffReader.open(rasterPath);
  assert.equal(raster.info, {
    width: WIDTH,
    height: HEIGHT,
    bands: BANDS,
    bitsPerSample: 16,
    sampleFormat: 'uint',
    georeference: geo,
  });
  await raster.close();
});

test('a window of selected bands reads exactly those samples; outside the raster reads 0', async () => {
  const raster = await GeoTiffReader.open(rasterPath);
  const window = { x: 290, y: 37, width: 16, height: 5 };
  const [band3, band1] = await raster.readWindow(window, [3, 1]);
  for (let row = 0; row < 5; row++) {
    for (let col = 0; col < 16; col++) {
      const x = window.x + col;
      assert.is(band3![row * 16 + col], x < WIDTH ? sample(3, x, window.y + row) : 0);
      assert.is(band1![row * 16 + col], x < WIDTH ? sample(1, x, window.y + row) : 0);
    }
  }
  try {
    await raster.readWindow(window, [4]);
    assert.unreachable('band 4 of 4 was read');
  } catch (error) {
    assert.match((error as Error).message, /band 4 does not exist/);
  }
  await raster.close();
});

test('streaming band statistics over 1024 px windows equal a direct pass', async () => {
  const raster = await GeoTiffReader.open(rasterPath);
  const [stats] = await bandStatistics(raster, [2]);
  await raster.close();
  let sum = 0,
    sumSquares = 0;
  const values: number[] = [];
  for (let y = 0; y < HEIGHT; y++) for (let x = 0; x < WIDTH; x++) values.push(sample(2, x, y));
  for (const v of values) sum += v;
  const mean = sum / values.length;
  for (const v of values) sumSquares += (v - mean) ** 2;
  assert.is(stats!.min, Math.min(...values));
  assert.is(stats!.max, Math.max(...values));
  assert.ok(Math.abs(stats!.mean - mean) < 1e-9);
  assert.ok(Math.abs(stats!.std - Math.sqrt(sumSquares / values.length)) < 1e-9);
});

test('decodeImage: a 16-bit GeoTIFF becomes one 8-bit channel per selected band, scaled by the given ranges, with its georeference', async () => {
  const image = await decodeImage(rasterPath, {
    bands: [3, 0],
    ranges: [
      { low: 3000, high: 5000 },
      { low: 0, high: 4080 },
    ],
  });
  assert.is(image.channels, 2);
  assert.equal(image.georeference, geo);
  const at = (x: number, y: number, c: number) => image.data[(y * WIDTH + x) * 2 + c]!;
  assert.is(at(0, 0, 0), Math.round((sample(3, 0, 0) - 3000) * (255 / 2000)));
  assert.is(at(150, 100, 1), Math.round(sample(0, 150, 100) * (255 / 4080)));
  assert.is(at(299, 199, 1), 255); // 7 * 299 + 13 * 199 = 4680 lies above the range: clamped
  const computed = await decodeImage(rasterPath);
  assert.is(computed.channels, BANDS);
  const [darkest, brightest] = computed.data.reduce(
    ([low, high], v) => [Math.min(low, v), Math.max(high, v)],
    [255, 0],
  );
  assert.equal([darkest, brightest], [0, 255], 'computed ranges span 0..255');
});

/** A GeoJSON label file of one rectangle given by its pixel corners on `reference`, written in WGS 84 lon/lat. */
function wgs84Rectangle(reference: GeoReference, x0: number, y0: number, x1: number, y1: number): unknown {
  const toMap = pixelToMap(reference);
  const toWgs84 = crsTransform(reference.epsg, 4326);
  const corner = (x: number, y: number) => toWgs84(...toMap(x, y));
  const ring = [corner(x0, y0), corner(x0, y1), corner(x1, y1), corner(x1, y0), corner(x0, y0)];
  return { type: 'Feature', properties: {}, geometry: { type: 'Polygon', coordinates: [ring] } };
}

test('labels in WGS 84 land on the UTM raster exactly as the same rectangle in pixels; one file covers many rasters', async () => {
  const labelPath = join(scratch, 'area.geojson');
  // The second rectangle lies 1000 px east: on none of this raster's pixels, so it is left out, not an error.
  const features = [
    wgs84Rectangle(geo, 10, 20, 40, 50),
    wgs84Rectangle(geo, 290, 190, 320, 230),
    wgs84Rectangle(geo, 1000, 0, 1010, 10),
  ];
  writeFileSync(labelPath, JSON.stringify({ type: 'FeatureCollection', features }));
  const { mask } = await readLabelledImage(
    { id: 'scene', imagePath: rasterPath, labelPath },
    { classMap: buildings(), readMask: readLabelMask },
  );
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const inside = (x >= 10 && x < 40 && y >= 20 && y < 50) || (x >= 290 && y >= 190);
      if (mask.data[y * WIDTH + x] !== (inside ? 1 : 0))
        assert.unreachable(`pixel (${x}, ${y}) is ${mask.data[y * WIDTH + x]}`);
    }
  }
});

/** WKT of a polygon given as rings of [x, y] points (closed here). */
const wktPolygon = (rings: Array<Array<[number, number]>>): string =>
  `POLYGON (${rings.map((ring) => `(${[...ring, ring[0]!].map(([x, y]) => `${x} ${y}`).join(', ')})`).join(', ')})`;

/**
 * An xBD label file for the generated raster: each building's pixel rings as `xy` WKT (moved by `xyShift`
 * pixels, to tell the two readings apart) and as WGS 84 longitude/latitude WKT in `lng_lat`.
 */
function xbdLabel(
  buildings: Array<{ subtype: string; rings: Array<Array<[number, number]>> }>,
  xyShift = 0,
): unknown {
  const toMap = pixelToMap(geo);
  const toWgs84 = crsTransform(geo.epsg, 4326);
  const feature = (subtype: string, rings: Array<Array<[number, number]>>) => ({
    properties: { feature_type: 'building', subtype },
    wkt: wktPolygon(rings),
  });
  return {
    features: {
      xy: buildings.map(({ subtype, rings }) =>
        feature(
          subtype,
          rings.map((ring) => ring.map(([x, y]): [number, number] => [x + xyShift, y])),
        ),
      ),
      lng_lat: buildings.map(({ subtype, rings }) =>
        feature(
          subtype,
          rings.map((ring) => ring.map(([x, y]) => toWgs84(...toMap(x, y)))),
        ),
      ),
    },
    metadata: { width: WIDTH, height: HEIGHT },
  };
}

test('xBD on a georeferenced raster: lng_lat polygons land on their pixels; they agree with xy where both describe the same shapes', async () => {
  const rectangle = (x0: number, y0: number, x1: number, y1: number): Array<[number, number]> => [
    [x0, y0],
    [x1, y0],
    [x1, y1],
    [x0, y1],
  ];
  // A building with a courtyard, one across the raster's south-east corner, one 1000 px east (on none of its pixels).
  const rectangles = [
    { subtype: 'no-damage', rings: [rectangle(10, 20, 60, 70), rectangle(30, 40, 40, 50)] },
    { subtype: 'destroyed', rings: [rectangle(280, 180, 330, 230)] },
    { subtype: 'destroyed', rings: [rectangle(1000, 0, 1010, 10)] },
  ];
  const shiftedPath = join(scratch, 'xbd-shifted-xy.json');
  // xy lies 100 px east of lng_lat: the mask must follow lng_lat.
  writeFileSync(shiftedPath, JSON.stringify(xbdLabel(rectangles, 100)));
  const { mask } = await readLabelledImage(
    { id: 'scene', imagePath: rasterPath, labelPath: shiftedPath },
    { classMap: xbdClassMap(), readMask: readLabelMask },
  );
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const inCourtyard = x >= 30 && x < 40 && y >= 40 && y < 50;
      const expected =
        x >= 10 && x < 60 && y >= 20 && y < 70 && !inCourtyard ? 1 : x >= 280 && y >= 180 ? 4 : 0;
      if (mask.data[y * WIDTH + x] !== expected)
        assert.unreachable(`pixel (${x}, ${y}) is ${mask.data[y * WIDTH + x]}, not ${expected}`);
    }
  }

  // Slanted edges and off-grid vertices, all on the raster: the lng_lat reading gives the xy reading's mask.
  const shapes = [
    {
      subtype: 'no-damage',
      rings: [
        [
          [20.3, 90.7],
          [110.2, 100.1],
          [95.6, 170.4],
          [15.9, 150.2],
        ] as Array<[number, number]>,
      ],
    },
    {
      subtype: 'destroyed',
      rings: [
        [
          [150.4, 10.2],
          [260.8, 60.9],
          [170.1, 130.6],
        ] as Array<[number, number]>,
      ],
    },
  ];
  const samePath = join(scratch, 'xbd-same.json');
  writeFileSync(samePath, JSON.stringify(xbdLabel(shapes)));
  const fromLngLat = await readLabelMask(
    { id: 'scene', imagePath: rasterPath, labelPath: samePath },
    { width: WIDTH, height: HEIGHT },
    xbdClassMap(),
    { georeference: geo },
  );
  const fromXy = await readLabelMask(
    { id: 'scene', imagePath: rasterPath, labelPath: samePath },
    { width: WIDTH, height: HEIGHT },
    xbdClassMap(),
  );
  assert.ok(fromXy.data.some((v) => v === 1) && fromXy.data.some((v) => v === 4));
  assert.equal(fromLngLat.data, fromXy.data);

  // Files without lng_lat (segstream's own predictions write none) keep the xy reading on a georeferenced raster.
  const xyOnly = xbdLabel(shapes) as { features: { lng_lat: unknown[] } };
  xyOnly.features.lng_lat = [];
  const xyOnlyPath = join(scratch, 'xbd-xy-only.json');
  writeFileSync(xyOnlyPath, JSON.stringify(xyOnly));
  const { mask: fromXyOnly } = await readLabelledImage(
    { id: 'scene', imagePath: rasterPath, labelPath: xyOnlyPath },
    { classMap: xbdClassMap(), readMask: readLabelMask },
  );
  assert.equal(fromXyOnly.data, fromXy.data);
});

/** A mask with two buildings and a courtyard (a hole), on the generated raster's grid. */
function buildingMask(): ClassMask {
  const mask: ClassMask = { data: new Uint8Array(WIDTH * HEIGHT), width: WIDTH, height: HEIGHT };
  for (let y = 30; y < 90; y++)
    for (let x = 50; x < 140; x++) mask.data[y * WIDTH + x] = x >= 80 && x < 100 && y >= 50 && y < 70 ? 0 : 1;
  for (let y = 120; y < 180; y++) for (let x = 200 + (y - 120); x < 280; x++) mask.data[y * WIDTH + x] = 1;
  return mask;
}

test('polygons in map coordinates (UTM or WGS 84) read back onto the raster as the mask they came from', async () => {
  const mask = buildingMask();
  for (const crs of ['raster', 'wgs84'] as const) {
    const labelPath = join(scratch, `predicted-${crs}.json`);
    await writeMapPolygons(maskToPolygons(mask), labelPath, buildings(), geo, crs);
    const json = JSON.parse(await readFile(labelPath, 'utf8'));
    assert.is(json.crs?.properties?.name, crs === 'raster' ? 'urn:ogc:def:crs:EPSG::32636' : undefined);
    const back = await readLabelMask(
      { id: 'scene', imagePath: rasterPath, labelPath },
      { width: WIDTH, height: HEIGHT },
      buildings(),
      { georeference: geo },
    );
    assert.equal(back.data, mask.data, `round trip through ${crs}`);
  }
  // Outer rings counter-clockwise in map axes (positive shoelace area with y north), holes clockwise.
  const [polygon] = polygonsToMap(maskToPolygons(mask), geo, UTM);
  const area = (ring: number[]) =>
    ring.reduce(
      (sum, _, i) =>
        i % 2
          ? sum
          : sum + ring[i]! * ring[(i + 3) % ring.length]! - ring[(i + 2) % ring.length]! * ring[i + 1]!,
      0,
    ) / 2;
  assert.ok(area(polygon!.rings[0]!) > 0 && area(polygon!.rings[1]!) < 0);
});

testUnlessMissing(
  'gdalinfo places the class GeoTIFF where the source is; ogrinfo opens the polygons in their CRS',
  gdalMissing,
  async () => {
    const classesPath = join(scratch, 'scene.classes.tif');
    await writeClassGeoTiff(buildingMask(), geo, classesPath);
    const [source, classes] = await Promise.all(
      [rasterPath, classesPath].map(async (path) =>
        JSON.parse((await run('gdalinfo', ['-json', '-stats', path])).stdout),
      ),
    );
    assert.equal(classes.geoTransform, source.geoTransform);
    assert.equal(classes.geoTransform, geo.transform);
    assert.is(
      classes.stac['proj:epsg'] ?? classes.coordinateSystem.wkt.match(/ID\["EPSG",(\d+)\]\]$/)?.[1],
      32636,
    );
    assert.equal(classes.size, [WIDTH, HEIGHT]);
    // gdalinfo prints the mean to 3 decimals; the samples themselves are compared through geotiff.js.
    const buildingShare = buildingMask().data.reduce((n, v) => n + v, 0) / (WIDTH * HEIGHT);
    assert.ok(
      Math.abs(classes.bands[0].mean - buildingShare) < 5e-4,
      `band mean ${classes.bands[0].mean} vs ${buildingShare}`,
    );
    const written = await GeoTiffReader.open(classesPath);
    const [band] = await written.readWindow({ x: 0, y: 0, width: WIDTH, height: HEIGHT });
    await written.close();
    assert.equal(Uint8Array.from(band!), buildingMask().data);
    for (const crs of ['raster', 'wgs84'] as const) {
      const polygonsPath = join(scratch, `gdal-${crs}.json`);
      await writeMapPolygons(maskToPolygons(buildingMask()), polygonsPath, buildings(), geo, crs);
      // Debian 12's GDAL 3.6 ogrinfo has no -json: its summary lines are read instead.
      const summary = (await run('ogrinfo', ['-so', '-al', polygonsPath])).stdout;
      assert.match(summary, /Feature Count: 2\n/);
      assert.is(Number(/ID\["EPSG",(\d+)\]\]\s*$/m.exec(summary)?.[1]), crs === 'raster' ? 32636 : 4326);
      if (crs === 'raster')
        assert.match(summary, /Extent: \(450025\.0+, 39910\.0+\) - \(450140\.0+, 39985\.0+\)/);
    }
  },
);

realDataTest(
  'geo-kampala: one unclipped labels file gives every chip the mask of its own clipped labels (within boundary pixels)',
  GEO_KAMPALA_DIR,
  'GeoTIFF chips with GeoJSON footprints',
  async () => {
    const chips = readdirSync(join(GEO_KAMPALA_DIR, 'images'))
      .filter((name) => name.endsWith('.tif'))
      .sort();
    assert.is(chips.length, 29);
    for (const chip of chips) {
      const id = basename(chip, '.tif');
      const imagePath = join(GEO_KAMPALA_DIR, 'images', chip);
      const read = (labelPath: string) =>
        readLabelledImage({ id, imagePath, labelPath }, { classMap: buildings(), readMask: readLabelMask });
      const clipped = await read(join(GEO_KAMPALA_DIR, 'labels', `${id}.geojson`));
      const unclipped = await read(join(GEO_KAMPALA_DIR, 'labels-unclipped.geojson'));
      assert.is(clipped.image.georeference?.epsg, 4326);
      let differing = 0,
        painted = 0;
      clipped.mask.data.forEach((v, i) => {
        differing += v === unclipped.mask.data[i] ? 0 : 1;
        painted += v;
      });
      assert.ok(painted > 0, `${id}: no building pixel`);
      // Clipping adds vertices on the chip's edge: pixels may differ only along it.
      assert.ok(differing <= 2 * 256, `${id}: ${differing} pixels differ`);
    }
  },
);

realDataTest(
  'geo-kampala: polygons from the rasterized footprints, in lon/lat, cover the labelled buildings (IoU on a 4x finer grid)',
  GEO_KAMPALA_DIR,
  'GeoTIFF chips with GeoJSON footprints',
  async () => {
    const chips = readdirSync(join(GEO_KAMPALA_DIR, 'images'))
      .filter((name) => name.endsWith('.tif'))
      .sort();
    let intersection = 0,
      union = 0;
    for (const chip of chips) {
      const id = basename(chip, '.tif');
      const labelPath = join(GEO_KAMPALA_DIR, 'labels', `${id}.geojson`);
      const { image, mask } = await readLabelledImage(
        { id, imagePath: join(GEO_KAMPALA_DIR, 'images', chip), labelPath },
        { classMap: buildings(), readMask: readLabelMask },
      );
      const polygonsPath = join(scratch, `${id}.predicted.json`);
      await writeMapPolygons(maskToPolygons(mask), polygonsPath, buildings(), image.georeference!, 'wgs84');
      const overlap = await mapCoordinateOverlap(
        { labelled: labelPath, predicted: polygonsPath },
        image.georeference!,
        mask,
        buildings(),
      );
      intersection += overlap.intersection;
      union += overlap.union;
    }
    const iou = intersection / union;
    console.log(
      `geo-kampala: map-coordinate IoU of polygonized footprints vs labels, 29 chips: ${iou.toFixed(4)}`,
    );
    assert.ok(iou > 0.9, `IoU ${iou}`);
  },
);

test.run();
