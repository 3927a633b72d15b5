import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { decodeImage } from '../src/io/decodeImage.js';
import { GeoTiffReader } from '../src/io/geoTiff.js';
import { predictRasterFile } from '../src/predict/predictRaster.js';
import { predictFullImage } from '../src/predict/slidingWindow.js';
import type { GeoTiffSampleType } from '../src/predict/writeClassGeoTiff.js';
import { PROJECT_ROOT } from './helpers/data.js';
import { writeMultibandRasterSet } from './helpers/geoData.js';
import { writeRedBuildingRun } from './helpers/runs.js';
import { testUnlessMissing } from './helpers/skips.js';

const run = promisify(execFile);
const gdalMissing = await run('gdalinfo', ['--version']).then(
  () => undefined,
  () => "needs GDAL's gdalinfo (Debian gdal-bin), not installed",
);
const scratch = mkdtempSync(join(tmpdir(), 'segstream-predict-probabilities-'));
const SIZE = 200;
const { imagesDir } = await writeMultibandRasterSet(scratch, 1, { bands: 4, size: SIZE });
const rasterPath = join(imagesDir, 'scene-0.tif');
const CLASS_NAMES = ['background', 'building', 'water & <shade>'];
const windows = { tileSize: 32, overlap: 8, batchSize: 3 };

await selectBackend({ backend: 'cpu' });
// Three classes from four bands through a 3x3 convolution, so windows disagree near their edges and blending shows.
const input = tf.input({ shape: [null, null, 4] });
const logits = tf.layers
  .conv2d({
    filters: CLASS_NAMES.length,
    kernelSize: 3,
    padding: 'same',
    kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }),
  })
  .apply(input) as tf.SymbolicTensor;
const model = tf.model({ inputs: input, outputs: logits });
const whole = await predictFullImage(model, await decodeImage(rasterPath), windows);

/** Predicts the raster with probabilities of `sampleType` and reads both GeoTIFFs back. */
async function predictWithProbabilities(sampleType: GeoTiffSampleType) {
  const paths = {
    classes: join(scratch, `${sampleType}.classes.tif`),
    probabilities: join(scratch, `${sampleType}.probabilities.tif`),
  };
  const prediction = await predictRasterFile(model, rasterPath, paths.classes, {
    ...windows,
    keepMaskUpTo: 0, // as for a raster too large to hold: every output is streamed
    probabilities: { path: paths.probabilities, sampleType, classNames: CLASS_NAMES },
  });
  const read = async (path: string) => {
    const raster = await GeoTiffReader.open(path);
    const bands = await raster.readWindow({ x: 0, y: 0, width: SIZE, height: SIZE });
    const { info } = raster;
    await raster.close();
    return { info, bands };
  };
  return {
    prediction,
    paths,
    classes: await read(paths.classes),
    probabilities: await read(paths.probabilities),
  };
}

test('float32 probabilities are the blended softmax, a band per class, placed like the input, and their arg-max is the class raster', async () => {
  const { prediction, classes, probabilities } = await predictWithProbabilities('float32');
  assert.is(prediction.classes, undefined);
  assert.ok(
    new Set(whole.classes.data).size === CLASS_NAMES.length,
    'the model predicts every class somewhere',
  );
  assert.equal(Uint8Array.from(classes.bands[0]!), whole.classes.data);
  assert.is(probabilities.info.bands, CLASS_NAMES.length);
  assert.is(probabilities.info.sampleFormat, 'float');
  assert.equal(probabilities.info.georeference, classes.info.georeference);
  assert.is(probabilities.info.georeference?.epsg, 32636);
  for (let pixel = 0; pixel < SIZE * SIZE; pixel++) {
    let [sum, best] = [0, 0];
    for (let c = 0; c < CLASS_NAMES.length; c++) {
      const p = probabilities.bands[c]![pixel]!;
      assert.is(p, whole.probabilities[pixel * CLASS_NAMES.length + c], `pixel ${pixel}, class ${c}`);
      sum += p;
      if (p > probabilities.bands[best]![pixel]!) best = c;
    }
    assert.ok(Math.abs(sum - 1) < 1e-5, `pixel ${pixel}: probabilities sum to ${sum}`);
    assert.is(best, classes.bands[0]![pixel]);
  }
});

test('uint8 probabilities are round(p x 255): the predicted class has the largest, and they sum to 255 within rounding', async () => {
  const { classes, probabilities } = await predictWithProbabilities('uint8');
  assert.is(probabilities.info.bitsPerSample, 8);
  assert.equal(probabilities.info.georeference, classes.info.georeference);
  for (let pixel = 0; pixel < SIZE * SIZE; pixel++) {
    const samples = CLASS_NAMES.map((_, c) => probabilities.bands[c]![pixel]!);
    samples.forEach((sample, c) => {
      const scaled = whole.probabilities[pixel * CLASS_NAMES.length + c]! * 255;
      assert.ok(Math.abs(sample - scaled) <= 0.5, `pixel ${pixel}, class ${c}: ${sample} for ${scaled}`);
    });
    // Rounding keeps order but may tie: the class raster's class has the largest sample.
    assert.is(samples[classes.bands[0]![pixel]!], Math.max(...samples));
    const sum = samples.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 255) <= CLASS_NAMES.length / 2, `pixel ${pixel}: samples sum to ${sum}`);
  }
});

testUnlessMissing(
  'gdalinfo reads the probability GeoTIFF: a band per class named after it, the 1/255 scale, the georeference of the input',
  gdalMissing,
  async () => {
    const { paths } = await predictWithProbabilities('uint8');
    const [source, written] = await Promise.all(
      [rasterPath, paths.probabilities].map(async (path) =>
        JSON.parse((await run('gdalinfo', ['-json', path])).stdout),
      ),
    );
    assert.equal(written.geoTransform, source.geoTransform);
    assert.is(written.coordinateSystem.wkt, source.coordinateSystem.wkt);
    assert.equal(
      written.bands.map((band: { description: string }) => band.description),
      CLASS_NAMES,
    );
    for (const band of written.bands) {
      assert.is(band.type, 'Byte');
      assert.ok(Math.abs(band.scale - 1 / 255) < 1e-12, `scale ${band.scale}`);
      assert.is(band.offset, 0);
    }
  },
);

test('stream-train predict --probabilities float32 on a PNG writes them as .npy [height, width, classes], their arg-max the class PNG', async () => {
  const [width, height] = [40, 30];
  const rgb = new Uint8Array(width * height * 3).map((_, i) => (i % 3 === 0 ? (i * 7) % 256 : 60));
  const images = join(scratch, 'pngs');
  mkdirSync(images);
  await sharp(rgb, { raw: { width, height, channels: 3 } })
    .png()
    .toFile(join(images, 'scene.png'));
  const runDir = join(scratch, 'red-run');
  await writeRedBuildingRun(runDir);
  const out = join(scratch, 'png-out');
  const { stderr } = await run(join(PROJECT_ROOT, 'bin', 'stream-train'), [
    'predict',
    ...['--run', runDir, '--images', images, '--out', out, '--probabilities', 'float32', '--backend', 'cpu'],
  ]);
  assert.match(stderr, /scene\.probabilities\.npy/);
  const npy = readFileSync(join(out, 'scene.probabilities.npy'));
  const headerEnd = 10 + npy.readUInt16LE(8);
  assert.match(npy.subarray(10, headerEnd).toString('latin1'), /'descr': '<f4'.*'shape': \(30, 40, 2\)/);
  const probabilities = new Float32Array(
    npy.buffer.slice(npy.byteOffset + headerEnd, npy.byteOffset + npy.length),
  );
  const classes = await sharp(join(out, 'scene.classes.png')).extractChannel(0).raw().toBuffer();
  assert.ok(new Set(classes).size === 2, 'both classes predicted');
  for (let pixel = 0; pixel < width * height; pixel++) {
    const [background, building] = [probabilities[2 * pixel]!, probabilities[2 * pixel + 1]!];
    assert.ok(Math.abs(background + building - 1) < 1e-5);
    assert.is(classes[pixel], building > background ? 1 : 0, `pixel ${pixel}`);
  }
});

test.after(() => {
  model.dispose();
});
test.run();
