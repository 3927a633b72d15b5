import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, toArray } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { InputError } from '../src/errors.js';
import { GeoTiffReader } from '../src/io/geoTiff.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { buildNetworks } from '../src/models/buildNetworks.js';
import { prepareTrainingRun } from '../src/pipelines/trainPipeline.js';
import { PROJECT_ROOT } from './helpers/data.js';
import { buildingClasses, writeMultibandRasterSet } from './helpers/geoData.js';

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'segstream-multiband-'));
const fourBand = await writeMultibandRasterSet(join(scratch, 'four'), 3, { bands: 4, size: 64 });

/** Trains the smallest UNet one epoch on the 4-band set through the CLI, into scratch/<name>; returns the run folder. */
async function trainFourBandRun(name: string, extraArgs: string[] = []): Promise<string> {
  const classes = join(scratch, `classes-${name}.json`);
  writeFileSync(classes, JSON.stringify({ names: ['background', 'building'] }));
  const runDir = join(scratch, name);
  await run(join(PROJECT_ROOT, 'bin', 'stream-train'), [
    'train',
    ...extraArgs,
    '--images',
    fourBand.imagesDir,
    '--labels',
    fourBand.labelsDir,
    '--classes',
    classes,
    '--epochs',
    '1',
    '--tile-size',
    '32',
    '--base-filters',
    '2',
    '--depth',
    '1',
    '--validation-fraction',
    '0',
    '--out',
    runDir,
    '--backend',
    'wasm',
    '--wasm-threads',
    '1',
  ]);
  return runDir;
}

/** `stream-train predict` of a run over the 4-band set into `out`, on wasm, with extra flags. */
function predictFourBand(runDir: string, out: string, extraArgs: string[] = []) {
  return run(join(PROJECT_ROOT, 'bin', 'stream-train'), [
    'predict',
    '--run',
    runDir,
    '--images',
    fourBand.imagesDir,
    '--out',
    out,
    '--backend',
    'wasm',
    ...extraArgs,
  ]);
}

test('a set of 4-band 16-bit GeoTIFFs trains a UNet of 4 input channels (augmented, shuffled) with no tensor left behind', async () => {
  await selectBackend({ backend: 'wasm' });
  const before = tf.memory().numTensors;
  const run = await prepareTrainingRun({
    arch: 'unet',
    ...fourBand,
    classMap: buildingClasses(),
    readMask: readLabelMask,
    tileSize: 32,
    batchSize: 4,
    epochs: 1,
    splitRatios: [1, 0, 0],
    baseFilters: 2,
    depth: 1,
    shuffleBuffer: 8,
    samples: false,
  });
  assert.is(run.inputChannels, 4);
  assert.equal(run.model.inputs[0]!.shape, [null, null, null, 4]);
  const withModel = tf.memory().numTensors;
  const events = await lastValueFrom(run.events$.pipe(toArray()));
  assert.is(events.filter((e) => e.type === 'batch').length, 3, '3 scenes of 4 tiles of 32 px: 3 steps of 4');
  assert.is(
    tf.memory().numTensors,
    withModel,
    'batches and optimizer state disposed: only the model remains',
  );
  run.model.dispose();
  assert.is(tf.memory().numTensors, before);
});

test('every architecture takes the band count as input channels; the Pix2Pix discriminator takes image and class channels', () => {
  for (const arch of ['unet', 'deeplabv3plus', 'pix2pix'] as const) {
    const { model, discriminator } = buildNetworks(arch, {
      numClasses: 2,
      inputChannels: 5,
      unet: { baseFilters: 2, depth: 1 },
      deeplabv3plus: { backbone: 18, backboneWidth: 4, asppFilters: 4, decoderFilters: 4 },
      pix2pixGenerator: { depth: 2, baseFilters: 2 },
      pix2pixDiscriminator: { baseFilters: 2 },
    });
    const output = tf.tidy(() => (model.predict(tf.zeros([1, 32, 32, 5])) as tf.Tensor).shape);
    assert.equal(output, [1, 32, 32, 2], arch);
    if (discriminator)
      assert.is(
        discriminator.inputs.reduce((sum, input) => sum + input.shape[3]!, 0),
        5 + 2,
        'image and class channels',
      );
    model.dispose();
    discriminator?.dispose();
  }
});

test('a run whose images have different band counts is refused, naming the odd image', async () => {
  const mixed = await writeMultibandRasterSet(join(scratch, 'mixed'), 2, { bands: 4, size: 32 });
  const threeBand = await writeMultibandRasterSet(join(scratch, 'three'), 1, { bands: 3, size: 32 });
  copyFileSync(join(threeBand.imagesDir, 'scene-0.tif'), join(mixed.imagesDir, 'scene-9.tif'));
  copyFileSync(join(threeBand.labelsDir, 'scene-0.json'), join(mixed.labelsDir, 'scene-9.json'));
  const refused = await prepareTrainingRun({
    arch: 'unet',
    ...mixed,
    classMap: buildingClasses(),
    readMask: readLabelMask,
    tileSize: 32,
    splitRatios: [1, 0, 0],
    baseFilters: 1,
    depth: 1,
    samples: false,
  }).catch((error: unknown) => error);
  assert.instance(refused, InputError);
  assert.is((refused as InputError).file, join(mixed.imagesDir, 'scene-9.tif'));
  assert.match((refused as Error).message, /has 3 channels \(bands\) but .*scene-0\.tif has 4/);
});

test('stream-train train records the band count in run.json; predict rebuilds the model and predicts the 4-band rasters', async () => {
  const runDir = await trainFourBandRun('run');
  const manifest = JSON.parse(await readFile(join(runDir, 'run.json'), 'utf8'));
  assert.equal(Object.keys(manifest.input), ['channels', 'raster']);
  assert.is(manifest.input.channels, 4);
  assert.is(manifest.input.raster.ranges.length, 4, 'the ranges of the training rasters, for predict');
  const out = join(scratch, 'predicted');
  const { stderr } = await predictFourBand(runDir, out);
  assert.match(
    stderr,
    /scene-0: 64x64, \d+ windows -> scene-0\.classes\.png, scene-0\.overlay\.png, scene-0\.classes\.tif/,
  );
  const classRaster = await GeoTiffReader.open(join(out, 'scene-0.classes.tif'));
  assert.equal([classRaster.info.width, classRaster.info.height, classRaster.info.bands], [64, 64, 1]);
  assert.is(classRaster.info.georeference?.epsg, 32636);
  await classRaster.close();
});

test('bands and their ranges from a config file select what train and predict read; predict refuses bands the model was not trained on', async () => {
  const config = join(scratch, 'bands.json');
  writeFileSync(config, JSON.stringify({ bands: [4, 2], bandRanges: '1000:4500,1000:1400' }));
  const runDir = await trainFourBandRun('run-bands', ['--config', config]);
  const cli = join(PROJECT_ROOT, 'bin', 'stream-train');
  const manifest = JSON.parse(await readFile(join(runDir, 'run.json'), 'utf8'));
  assert.equal(manifest.input, {
    channels: 2,
    raster: {
      bands: [3, 1],
      ranges: [
        { low: 1000, high: 4500 },
        { low: 1000, high: 1400 },
      ],
    },
  });
  const out = join(scratch, 'predicted-bands');
  const { stderr } = await predictFourBand(runDir, out);
  assert.match(
    stderr,
    /scene-2: 64x64, \d+ windows -> scene-2\.classes\.png, scene-2\.overlay\.png, scene-2\.classes\.tif/,
  );
  const refused = await predictFourBand(runDir, out, ['--bands', '1']).catch(
    (error: { stderr: string }) => error,
  );
  assert.match((refused as { stderr: string }).stderr, /the model takes 2 channels, the image has 1/);
  const badBand = await run(cli, [
    'predict',
    '--run',
    runDir,
    '--images',
    fourBand.imagesDir,
    '--out',
    out,
    '--bands',
    '0,1',
  ]).catch((error: { code: number; stderr: string }) => error);
  assert.is((badBand as { code: number }).code, 2);
  assert.match(
    (badBand as { stderr: string }).stderr,
    /--bands must be band numbers from 1 \(as GDAL counts them\), comma-separated, got 0,1/,
  );
});

test.run();
