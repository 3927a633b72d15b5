import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeMapPolygons } from '../src/predict/mapPolygons.js';
import { type MaskPolygon, maskToPolygons } from '../src/predict/maskToPolygons.js';
import { polygonsToFlatGeobuf } from '../src/predict/writeFlatGeobuf.js';
import { PolygonStreamWriter } from '../src/predict/writePolygonStream.js';
import { writePolygonLabels } from '../src/predict/writePolygons.js';
import type { GeoReference } from '../src/types.js';
import { paintedMasks } from './helpers/masks.js';
import { namedClassMap, readFlatGeobuf } from './helpers/polygonFiles.js';
import { testUnlessMissing } from './helpers/skips.js';

const run = promisify(execFile);
const gdalMissing = await run('ogrinfo', ['--version']).then(
  () => undefined,
  () => "needs GDAL's ogrinfo (Debian gdal-bin), not installed",
);
const scratch = mkdtempSync(join(tmpdir(), 'segstream-polygon-stream-'));
const names = ['background', 'road', 'building', 'tree'];
const classMap = namedClassMap(names);
const geo: GeoReference = { transform: [452_000, 0.3, 0, 38_000, 0, -0.3], epsg: 32636 };

/** Writes the polygons through a PolygonStreamWriter, a few at a time. */
async function streamed(
  polygons: MaskPolygon[],
  path: string,
  format: 'geojson' | 'flatgeobuf',
  placement?: { georeference: GeoReference; crs: 'raster' | 'wgs84' },
): Promise<number> {
  const writer = await PolygonStreamWriter.create({
    path,
    format,
    classMap,
    ...(placement ? { placement } : {}),
  });
  for (let i = 0; i < polygons.length; i += 3) await writer.write(polygons.slice(i, i + 3));
  return writer.close();
}

test('property: streamed GeoJSON is byte for byte the file written whole, in map and in pixel coordinates', async () => {
  await fc.assert(
    fc.asyncProperty(paintedMasks(24), fc.constantFrom('raster', 'wgs84' as const), async (mask, crs) => {
      const polygons = maskToPolygons(mask);
      const whole = join(scratch, 'whole.json');
      const stream = join(scratch, 'stream.json');
      await writeMapPolygons(polygons, whole, classMap, geo, crs as 'raster' | 'wgs84');
      assert.is(
        await streamed(polygons, stream, 'geojson', { georeference: geo, crs: crs as 'raster' | 'wgs84' }),
        polygons.length,
      );
      assert.is(readFileSync(stream, 'utf8'), readFileSync(whole, 'utf8'));
      const options = { format: 'geojson', classMap, width: 0, height: 0, imageFileName: '' } as const;
      await writePolygonLabels(polygons, whole, options);
      await streamed(polygons, stream, 'geojson');
      assert.is(readFileSync(stream, 'utf8'), readFileSync(whole, 'utf8'));
    }),
    { numRuns: 30, seed: 23 },
  );
});

test('property: streamed FlatGeobuf holds the features of the file written whole, its count left unknown', async () => {
  await fc.assert(
    fc.asyncProperty(paintedMasks(24), async (mask) => {
      const polygons = maskToPolygons(mask);
      const placement = { georeference: geo, crs: 'raster' as const };
      const path = join(scratch, 'stream.fgb');
      await streamed(polygons, path, 'flatgeobuf', placement);
      const stream = await readFlatGeobuf(readFileSync(path));
      const whole = await readFlatGeobuf(polygonsToFlatGeobuf(polygons, classMap, placement));
      assert.equal(stream.features, whole.features);
      assert.is(stream.header.featuresCount, 0);
      assert.is(stream.header.crs?.code, 32636);
      assert.equal(stream.header.columns, whole.header.columns);
    }),
    { numRuns: 30, seed: 23 },
  );
});

testUnlessMissing(
  'ogrinfo counts the features of a streamed FlatGeobuf and places them',
  gdalMissing,
  async () => {
    const mask = { data: Uint8Array.from([1, 1, 0, 2, 0, 0, 3, 3, 1]), width: 3, height: 3 };
    const polygons = maskToPolygons(mask);
    const path = join(scratch, 'counted.fgb');
    await streamed(polygons, path, 'flatgeobuf', { georeference: geo, crs: 'raster' });
    const summary = (await run('ogrinfo', ['-so', '-al', path])).stdout;
    assert.match(summary, new RegExp(`Feature Count: ${polygons.length}\\n`));
    assert.match(summary, /Extent: \(452000\.000000, 37999\.100000\) - \(452000\.900000, 38000\.000000\)/);
    assert.match(summary, /ID\["EPSG",32636\]\]/);
  },
);

test.run();
