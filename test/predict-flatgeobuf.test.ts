import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { maskToPolygons } from '../src/predict/maskToPolygons.js';
import { polygonsToFlatGeobuf, writePolygonFlatGeobuf } from '../src/predict/writeFlatGeobuf.js';
import { polygonsToLabelJson } from '../src/predict/writePolygons.js';
import type { GeoReference } from '../src/types.js';
import { randomMasks } from './helpers/masks.js';
import { namedClassMap, readFlatGeobuf } from './helpers/polygonFiles.js';
import { testUnlessMissing } from './helpers/skips.js';

const run = promisify(execFile);
const gdalMissing = await run('ogrinfo', ['--version']).then(
  () => undefined,
  () => "needs GDAL's ogrinfo (Debian gdal-bin), not installed",
);
const scratch = mkdtempSync(join(tmpdir(), 'segstream-flatgeobuf-'));
const names = ['background', 'road', 'building', 'tree', 'water'];
const classMap = namedClassMap(names);
const geo: GeoReference = { transform: [452_000, 0.3, 0, 38_000, 0, -0.3], epsg: 32636 };

test('property: FlatGeobuf of random masks holds the GeoJSON features, geometries and classes alike, in pixel coordinates without a CRS', async () => {
  await fc.assert(
    fc.asyncProperty(randomMasks(10), async (mask) => {
      const polygons = maskToPolygons(mask);
      const geojson = polygonsToLabelJson(polygons, {
        format: 'geojson',
        classMap,
        width: mask.width,
        height: mask.height,
        imageFileName: '',
      });
      const { header, features } = await readFlatGeobuf(polygonsToFlatGeobuf(polygons, classMap));
      assert.equal(features, geojson.features);
      assert.is(header.featuresCount, polygons.length);
      assert.is(header.crs, null);
    }),
    { numRuns: 50, seed: 23 },
  );
});

test('a prediction without polygons gives a FlatGeobuf of no features, with the class column and the CRS', async () => {
  const { header, features } = await readFlatGeobuf(
    polygonsToFlatGeobuf([], classMap, { georeference: geo, crs: 'wgs84' }),
  );
  assert.equal(features, []);
  assert.is(header.featuresCount, 0);
  assert.is(header.crs?.code, 4326);
  assert.equal(
    header.columns?.map((column) => column.name),
    ['class'],
  );
});

testUnlessMissing(
  'ogrinfo reads an empty FlatGeobuf: no features, the class field, the CRS',
  gdalMissing,
  async () => {
    const path = join(scratch, 'empty.fgb');
    await writePolygonFlatGeobuf([], path, classMap, { georeference: geo, crs: 'raster' });
    const summary = (await run('ogrinfo', ['-so', '-al', path])).stdout;
    assert.match(summary, /Feature Count: 0\n/);
    assert.match(summary, /ID\["EPSG",32636\]\]/);
    assert.match(summary, /class: String/);
  },
);

test.run();
