import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { parseTrainConfig } from '../src/cli/trainConfig.js';
import { InputError } from '../src/errors.js';
import { xbdClassMap } from '../src/labels/classMap.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { loadBackboneWeights } from '../src/models/backboneWeights.js';
import { buildDeepLabV3Plus } from '../src/models/deeplabv3plus.js';
import { fileModelHandler } from '../src/models/fileModelIO.js';
import { type ResNetDepth, resnetBackbone } from '../src/models/resnet.js';
import { prepareTrainingRun } from '../src/pipelines/trainPipeline.js';
import { writeXbdPairs } from './helpers/data.js';

const folder = mkdtempSync(join(tmpdir(), 'segstream-weights-'));
let server: Server | undefined;

test.before(async () => {
  await selectBackend({ backend: 'cpu' });
});

test.after(() => {
  server?.close();
  rmSync(folder, { recursive: true, force: true });
});

/** A small ResNet classifier, as Keras' ResNet50(include_top=True) is laid out, saved under `folder/name`. */
async function saveClassifier(name: string, depth: ResNetDepth, width: number): Promise<tf.LayersModel> {
  const input = tf.input({ shape: [32, 32, 3] });
  const { features } = resnetBackbone(input, { depth, width, outputStride: 32 });
  const pooled = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(features) as tf.SymbolicTensor;
  const predictions = tf.layers.dense({ units: 10, name: 'predictions' }).apply(pooled) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: predictions });
  await model.save(fileModelHandler(join(folder, name)));
  return model;
}

function weightsEqual(a: tf.layers.Layer, b: tf.layers.Layer): boolean {
  return tf.tidy(() =>
    a.getWeights().every((w, i) => tf.equal(w, b.getWeights()[i]!).all().dataSync()[0] === 1),
  );
}

test('copies a saved ResNet into the DeepLabV3+ backbone by layer name, from a path and a file:// URL', async () => {
  const source = await saveClassifier('resnet18', 18, 4);
  for (const location of [
    join(folder, 'resnet18'),
    pathToFileURL(join(folder, 'resnet18', 'model.json')).href,
  ]) {
    const model = buildDeepLabV3Plus({
      backbone: 18,
      backboneWidth: 4,
      asppFilters: 8,
      lowLevelFilters: 4,
      decoderFilters: 8,
    });
    const asppBefore = model.getLayer('aspp0').getWeights()[0]!.clone();
    const report = await loadBackboneWeights(model, location);
    const withWeights = source.layers.filter((l) => l.getWeights().length > 0).map((l) => l.name);
    assert.equal(report.unused, ['predictions']);
    assert.equal(
      report.copied,
      withWeights.filter((n) => n !== 'predictions'),
    );
    for (const name of report.copied)
      assert.ok(weightsEqual(model.getLayer(name), source.getLayer(name)), name);
    // Batch-norm statistics travel too, and layers outside the backbone keep their own weights.
    assert.ok(report.copied.includes('conv5_block2_2_bn') && report.copied.includes('conv1_conv'));
    assert.ok(
      tf.tidy(() => tf.equal(model.getLayer('aspp0').getWeights()[0]!, asppBefore).all().dataSync()[0] === 1),
    );
    asppBefore.dispose();
    model.dispose();
  }
  source.dispose();
});

test('loads over http(s) through tf.loadLayersModel', async () => {
  const source = await saveClassifier('resnet18-http', 18, 2);
  server = createServer((request, response) => {
    try {
      response.end(readFileSync(join(folder, 'resnet18-http', request.url!.slice(1))));
    } catch {
      response.statusCode = 404;
      response.end();
    }
  });
  await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  const model = buildDeepLabV3Plus({
    backbone: 18,
    backboneWidth: 2,
    asppFilters: 4,
    lowLevelFilters: 2,
    decoderFilters: 4,
  });
  const report = await loadBackboneWeights(model, `http://127.0.0.1:${port}/model.json`);
  assert.ok(report.copied.length > 20);
  assert.ok(weightsEqual(model.getLayer('conv4_block2_2_conv'), source.getLayer('conv4_block2_2_conv')));
  const stemOnly = buildDeepLabV3Plus({
    backbone: 18,
    backboneWidth: 2,
    asppFilters: 4,
    lowLevelFilters: 2,
    decoderFilters: 4,
  });
  const partial = await loadBackboneWeights(stemOnly, `http://127.0.0.1:${port}/model.json`, {
    layerFilter: (name) => name.startsWith('conv1_'),
  });
  assert.equal(partial.copied, ['conv1_conv', 'conv1_bn']);
  assert.ok(partial.unused.includes('conv2_block1_1_conv'));
  assert.not.ok(
    weightsEqual(stemOnly.getLayer('conv2_block1_1_conv'), source.getLayer('conv2_block1_1_conv')),
  );
  stemOnly.dispose();
  model.dispose();
  source.dispose();
});

test('ResNet-50 weights land in the atrous conv5 layers of an output-stride-16 model', async () => {
  const source = await saveClassifier('resnet50', 50, 2);
  const model = buildDeepLabV3Plus({
    backbone: 50,
    backboneWidth: 2,
    outputStride: 16,
    asppFilters: 4,
    lowLevelFilters: 2,
    decoderFilters: 4,
  });
  assert.is(model.getLayer('conv5_block3_2_conv').getClassName(), 'AtrousConv2D');
  await loadBackboneWeights(model, join(folder, 'resnet50', 'model.json'));
  assert.ok(weightsEqual(model.getLayer('conv5_block3_2_conv'), source.getLayer('conv5_block3_2_conv')));
  model.dispose();
  source.dispose();
});

test('a shape mismatch names the layer and both shapes, and leaves the model unchanged', async () => {
  const model = buildDeepLabV3Plus({
    backbone: 18,
    backboneWidth: 8,
    asppFilters: 4,
    lowLevelFilters: 2,
    decoderFilters: 4,
  });
  const before = model.getLayer('conv1_conv').getWeights()[0]!.clone();
  try {
    await loadBackboneWeights(model, join(folder, 'resnet18'));
    assert.unreachable('mismatched weights accepted');
  } catch (error) {
    assert.instance(error, InputError);
    assert.match(
      String(error),
      /resnet18: layer 'conv1_conv': weight 'conv1_conv\/kernel' has shape \[7, 7, 3, 4\] in the source, the model expects \[7, 7, 3, 8\]/,
    );
  }
  assert.ok(
    tf.tidy(() => tf.equal(model.getLayer('conv1_conv').getWeights()[0]!, before).all().dataSync()[0] === 1),
  );
  before.dispose();
  model.dispose();
});

test('a missing model or one without matching names is refused with the file named', async () => {
  const model = buildDeepLabV3Plus({
    backbone: 18,
    backboneWidth: 2,
    asppFilters: 4,
    lowLevelFilters: 2,
    decoderFilters: 4,
  });
  const missing = join(folder, 'nowhere', 'model.json');
  await loadBackboneWeights(model, missing).then(
    () => assert.unreachable('missing file accepted'),
    (error) => assert.match(String(error), `InputError: ${missing}: cannot read a TF.js model.json`),
  );
  const unrelated = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3], name: 'fc' })] });
  await unrelated.save(fileModelHandler(join(folder, 'unrelated')));
  await loadBackboneWeights(model, join(folder, 'unrelated')).then(
    () => assert.unreachable('unrelated model accepted'),
    (error) => assert.match(String(error), /no layer with weights has a name in common/),
  );
  await loadBackboneWeights(model, '').then(
    () => assert.unreachable('empty source accepted'),
    (error) => assert.match(String(error), /source must be a path or URL/),
  );
  unrelated.dispose();
  model.dispose();
});

test('a training run (stream-train train --backbone-weights) starts its DeepLabV3+ from the saved ResNet', async () => {
  const source = await saveClassifier('run-source', 18, 4);
  const data = join(folder, 'xbd');
  await writeXbdPairs(data, 2);
  const common = {
    imagesDir: join(data, 'images'),
    labelsDir: join(data, 'labels'),
    classMap: xbdClassMap(),
    readMask: readLabelMask,
    tileSize: 64,
    samples: false,
  };
  const run = await prepareTrainingRun({
    ...common,
    arch: 'deeplabv3plus',
    deeplab: { backbone: 18, backboneWidth: 4, asppFilters: 8, decoderFilters: 8 },
    backboneWeights: join(folder, 'run-source'),
  });
  assert.ok(
    run.backboneLayers!.includes('conv1_conv') && run.backboneLayers!.includes('conv5_block2_2_conv'),
    `copied: ${run.backboneLayers}`,
  );
  assert.ok(weightsEqual(run.model.getLayer('conv5_block2_2_conv'), source.getLayer('conv5_block2_2_conv')));
  const refused = await prepareTrainingRun({
    ...common,
    arch: 'unet',
    backboneWeights: join(folder, 'run-source'),
  }).then(
    () => 'accepted',
    (error: unknown) => String(error),
  );
  assert.match(refused, /backbone weights are for deeplabv3plus, not unet/);
  assert.is(
    (await parseTrainConfig(['--arch', 'deeplabv3plus', '--backbone-weights', 'r50/model.json']))
      .backboneWeights,
    'r50/model.json',
  );
  run.model.dispose();
  source.dispose();
});

test.run();
