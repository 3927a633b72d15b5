import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { deserialize } from 'flatgeobuf/lib/mjs/geojson.js';
import { writeArrayBuffer } from 'geotiff';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GeoTiffReader } from '../src/io/geoTiff.js';
import type { ClassMap } from '../src/labels/classMap.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { WHOLE_MASK_PIXELS } from '../src/predict/predictRaster.js';
import { GeoTiffStripWriter, geoTiffTags } from '../src/predict/writeClassGeoTiff.js';
import type { GeoReference } from '../src/types.js';
import { PROJECT_ROOT } from './helpers/data.js';
import { RED_BUILDING_CLASSES, writeRedBuildingRun } from './helpers/runs.js';
import { testUnlessMissing } from './helpers/skips.js';

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'segstream-predict-geotiff-'));
const gdalMissing = await run('gdalinfo', ['--version']).then(
  () => undefined,
  () => "needs GDAL's gdalinfo and ogrinfo (Debian gdal-bin), not installed",
);

// An RGB GeoTIFF in UTM zone 36N whose red band is bright on two "buildings": a model that predicts a
// building where red is bright must give exactly that mask, so every output can be checked.
const [WIDTH, HEIGHT] = [90, 70];
const geo: GeoReference = { transform: [452_000, 0.3, 0, 38_000, 0, -0.3], epsg: 32636 };
const expected = new Uint8Array(WIDTH * HEIGHT);
for (let y = 0; y < HEIGHT; y++)
  for (let x = 0; x < WIDTH; x++)
    expected[y * WIDTH + x] =
      (x >= 10 && x < 35 && y >= 5 && y < 30) || (x >= 50 && y >= 40 && x - 50 < y - 40) ? 1 : 0;
const images = join(scratch, 'scenes');
mkdirSync(images);
const rgb = new Uint8Array(WIDTH * HEIGHT * 3).map((_, i) =>
  i % 3 === 0 && expected[Math.floor(i / 3)] ? 255 : 40,
);
writeFileSync(
  join(images, 'scene.tif'),
  new Uint8Array(
    writeArrayBuffer(rgb, { width: WIDTH, height: HEIGHT, BitsPerSample: [8, 8, 8], ...geoTiffTags(geo) }),
  ),
);

const classes = RED_BUILDING_CLASSES;
const buildingMap: ClassMap = {
  names: classes.names,
  ids: new Map([['building', 1]]),
  ignoreValue: 255,
  colors: classes.colors,
};
const runDir = join(scratch, 'run');
await writeRedBuildingRun(runDir);
const stream = (out: string, crs: string, polygons = 'geojson') =>
  run(join(PROJECT_ROOT, 'bin', 'stream-train'), [
    'predict',
    '--run',
    runDir,
    '--images',
    images,
    '--out',
    out,
    '--polygons',
    polygons,
    '--polygon-crs',
    crs,
    '--probabilities',
    '--backend',
    'cpu',
  ]);

test('stream-train predict on a GeoTIFF writes a class GeoTIFF with its georeference and polygons in map coordinates that land on the predicted pixels', async () => {
  for (const crs of ['raster', 'wgs84']) {
    const out = join(scratch, `out-${crs}`);
    const { stderr } = await stream(out, crs);
    assert.match(
      stderr,
      /scene: 90x70, \d+ windows -> scene\.classes\.png, scene\.overlay\.png, scene\.classes\.tif, scene\.probabilities\.tif, scene\.json \(2 geojson polygons\)/,
    );
    const written = await GeoTiffReader.open(join(out, 'scene.classes.tif'));
    assert.equal(written.info.georeference, geo);
    const [band] = await written.readWindow({ x: 0, y: 0, width: WIDTH, height: HEIGHT });
    await written.close();
    assert.equal(Uint8Array.from(band!), expected);
    // Read back as a label of the source raster, the map-coordinate polygons give the predicted mask.
    const back = await readLabelMask(
      { id: 'scene', imagePath: '', labelPath: join(out, 'scene.json') },
      { width: WIDTH, height: HEIGHT },
      buildingMap,
      { georeference: geo },
    );
    assert.equal(back.data, expected, `polygons in ${crs}`);
  }
});

test('--polygons flatgeobuf writes the GeoJSON features, the same geometries and classes, in the CRS chosen', async () => {
  for (const crs of ['raster', 'wgs84']) {
    const [geojsonOut, flatgeobufOut] = [join(scratch, `geojson-${crs}`), join(scratch, `fgb-${crs}`)];
    await stream(geojsonOut, crs);
    const { stderr } = await stream(flatgeobufOut, crs, 'flatgeobuf');
    assert.match(stderr, /scene\.fgb \(2 flatgeobuf polygons\)/);
    const geojson = JSON.parse(readFileSync(join(geojsonOut, 'scene.json'), 'utf8'));
    const features = [];
    for await (const feature of deserialize(new Uint8Array(readFileSync(join(flatgeobufOut, 'scene.fgb')))))
      features.push({ type: 'Feature', properties: feature.properties, geometry: feature.geometry });
    assert.equal(features, geojson.features, `polygons in ${crs}`);
  }
});

testUnlessMissing(
  "gdalinfo and ogrinfo open predict's outputs where the input GeoTIFF lies",
  gdalMissing,
  async () => {
    const out = join(scratch, 'out-gdal');
    await stream(out, 'raster');
    const [source, predicted, probabilities] = await Promise.all(
      ['scene.tif', 'scene.classes.tif', 'scene.probabilities.tif'].map(async (name, i) =>
        JSON.parse((await run('gdalinfo', ['-json', join(i === 0 ? images : out, name)])).stdout),
      ),
    );
    assert.equal(predicted.geoTransform, source.geoTransform);
    assert.is(predicted.coordinateSystem.wkt, source.coordinateSystem.wkt);
    assert.match(predicted.coordinateSystem.wkt, /ID\["EPSG",32636\]\]$/);
    assert.equal(probabilities.geoTransform, source.geoTransform);
    assert.is(probabilities.coordinateSystem.wkt, source.coordinateSystem.wkt);
    assert.equal(
      probabilities.bands.map((band: { description: string }) => band.description),
      classes.names,
    );
    await stream(out, 'raster', 'flatgeobuf');
    for (const file of ['scene.json', 'scene.fgb']) {
      const summary = (await run('ogrinfo', ['-so', '-al', join(out, file)])).stdout;
      assert.match(summary, /Feature Count: 2\n/, file);
      // The square's top-left corner is pixel (10, 5): map (452003, 37998.5); the triangle reaches column 79 and the last row.
      assert.match(summary, /Extent: \(452003\.0+, 37979\.0+\) - \(452023\.70+, 37998\.50+\)/, file);
      assert.match(summary, /ID\["EPSG",32636\]\]/, file);
      assert.match(summary, /class: String/, file);
    }
  },
);

test('predict refuses, before predicting, polygon options that need the whole mask for a raster over 8192x8192', async () => {
  const hugeImages = join(scratch, 'huge');
  mkdirSync(hugeImages);
  const side = Math.sqrt(WHOLE_MASK_PIXELS) + 1;
  const writer = await GeoTiffStripWriter.create(join(hugeImages, 'huge.tif'), {
    width: side,
    height: side,
    bands: 3,
    georeference: geo,
  });
  const band = new Uint8Array(side * 3 * 1024);
  for (let y = 0; y < side; y += 1024)
    await writer.writeRows(band.subarray(0, side * 3 * Math.min(1024, side - y)));
  await writer.close();
  const refusal = (extra: string[]) =>
    run(join(PROJECT_ROOT, 'bin', 'stream-train'), [
      'predict',
      ...['--run', runDir, '--images', hugeImages, '--out', join(scratch, 'huge-out'), '--backend', 'cpu'],
      ...extra,
    ]).then(
      () => 'predicted',
      (error: { stderr: string }) => error.stderr,
    );
  assert.match(
    await refusal(['--polygons', 'geojson', '--min-area', '4']),
    /huge\.tif is over 8192x8192 pixels; .*--min-area and --simplify need the whole mask/,
  );
  assert.match(
    await refusal(['--polygons', 'flatgeobuf', '--simplify', '1']),
    /--min-area and --simplify need/,
  );
  assert.match(
    await refusal(['--polygons', 'xbd']),
    /as geojson or flatgeobuf only; --polygons xbd needs the whole mask/,
  );
  assert.not.ok(existsSync(join(scratch, 'huge-out', 'huge.classes.tif')), 'nothing predicted');
});

test.run();
