import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { decodeImage } from '../src/io/decodeImage.js';
import { GeoTiffReader } from '../src/io/geoTiff.js';
import { polygonsToMapGeoJson } from '../src/predict/mapPolygons.js';
import { maskToPolygons } from '../src/predict/maskToPolygons.js';
import { predictRasterFile } from '../src/predict/predictRaster.js';
import { predictFullImage } from '../src/predict/slidingWindow.js';
import { writeMultibandRasterSet } from './helpers/geoData.js';

const scratch = mkdtempSync(join(tmpdir(), 'segstream-predict-raster-'));
// Taller than many bands of rows: 200 rows through 32-row windows.
const { imagesDir } = await writeMultibandRasterSet(scratch, 1, { bands: 4, size: 200 });
const rasterPath = join(imagesDir, 'scene-0.tif');

/** A model of 4 input channels whose 3x3 convolutions see across window edges, so blending matters. */
function fourBandModel(): tf.LayersModel {
  const input = tf.input({ shape: [null, null, 4] });
  const hidden = tf.layers
    .conv2d({
      filters: 4,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
    })
    .apply(input) as tf.SymbolicTensor;
  const logits = tf.layers
    .conv2d({
      filters: 3,
      kernelSize: 3,
      padding: 'same',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }),
    })
    .apply(hidden) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}

test('a GeoTIFF predicted window by window from the file gives the classes of the whole decoded image, in its class GeoTIFF too', async () => {
  await selectBackend({ backend: 'cpu' });
  const model = fourBandModel();
  const windows = { tileSize: 32, overlap: 8, batchSize: 3 };
  const whole = await predictFullImage(model, await decodeImage(rasterPath), windows);
  const before = tf.memory().numTensors;
  const classesPath = join(scratch, 'scene.classes.tif');
  const streamed = await predictRasterFile(model, rasterPath, classesPath, windows);
  assert.is(tf.memory().numTensors, before, 'no tensor left behind');
  assert.is(streamed.windows, whole.windows);
  assert.equal(streamed.classes?.data, whole.classes.data);
  assert.ok(new Set(whole.classes.data).size > 1, 'the model predicts more than one class');
  const written = await GeoTiffReader.open(classesPath);
  const [band] = await written.readWindow({ x: 0, y: 0, width: 200, height: 200 });
  assert.equal(written.info.georeference?.epsg, 32636);
  await written.close();
  assert.equal(Uint8Array.from(band!), whole.classes.data);
  // Over the size kept whole, only the class GeoTIFF is written, the same.
  const large = await predictRasterFile(model, rasterPath, join(scratch, 'large.classes.tif'), {
    ...windows,
    keepMaskUpTo: 199 * 200,
  });
  assert.is(large.classes, undefined);
  const again = await GeoTiffReader.open(join(scratch, 'large.classes.tif'));
  assert.equal(
    Uint8Array.from((await again.readWindow({ x: 0, y: 0, width: 200, height: 200 }))[0]!),
    whole.classes.data,
  );
  await again.close();
  model.dispose();
});

test("polygons traced from the rows as they finish are the whole mask's polygons, written as their regions close", async () => {
  await selectBackend({ backend: 'cpu' });
  const model = fourBandModel();
  // 32-pixel windows finish the 200 rows in bands of 24: most regions span several bands.
  const windows = { tileSize: 32, overlap: 8, batchSize: 3 };
  const classMap = {
    names: ['a', 'b', 'c'],
    ids: new Map([
      ['a', 0],
      ['b', 1],
      ['c', 2],
    ]),
    ignoreValue: 255,
    colors: [],
  };
  const polygonsPath = join(scratch, 'scene.json');
  const header = await GeoTiffReader.open(rasterPath);
  const geo = header.info.georeference!;
  await header.close();
  const streamed = await predictRasterFile(model, rasterPath, join(scratch, 'polygons.classes.tif'), {
    ...windows,
    polygons: {
      path: polygonsPath,
      format: 'geojson',
      classMap,
      crs: 'raster',
    },
  });
  const whole = polygonsToMapGeoJson(maskToPolygons(streamed.classes!), classMap, geo, 'raster');
  const written = JSON.parse(readFileSync(polygonsPath, 'utf8')) as typeof whole;
  const features = (json: typeof whole): string[] =>
    (json.features as unknown[]).map((feature) => JSON.stringify(feature)).sort();
  assert.ok((whole.features as unknown[]).length > 10, 'the model predicts many regions');
  assert.is(streamed.polygons, (whole.features as unknown[]).length);
  assert.equal(features(written), features(whole));
  assert.equal(written.crs, whole.crs);
  const part = predictRasterFile(model, rasterPath, join(scratch, 'part.classes.tif'), {
    ...windows,
    rows: { start: 0, end: 100 },
    polygons: { path: polygonsPath, format: 'geojson', classMap, crs: 'raster' },
  });
  assert.match(
    String(await part.catch((error: Error) => error.message)),
    /polygons need the whole raster's rows/,
  );
  // Past the polygonizer's bound on an open region, tracing stops: no polygon file, the classes finished.
  const boundedPath = join(scratch, 'bounded.json');
  const bounded = await predictRasterFile(model, rasterPath, join(scratch, 'bounded.classes.tif'), {
    ...windows,
    polygons: { path: boundedPath, format: 'geojson', classMap, crs: 'raster', maxHeldVertices: 0 },
  });
  assert.match(bounded.polygonsRefused ?? '', /holes\), over the limit of 0$/);
  assert.is(bounded.polygons, undefined);
  assert.not.ok(existsSync(boundedPath), 'the unfinished polygon file is removed');
  const classes = await GeoTiffReader.open(join(scratch, 'bounded.classes.tif'));
  assert.equal(
    Uint8Array.from((await classes.readWindow({ x: 0, y: 0, width: 200, height: 200 }))[0]!),
    streamed.classes!.data,
  );
  await classes.close();
  model.dispose();
});

test.run();
