import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { buildDeepLabV3Plus, type DeepLabV3PlusOptions } from '../src/models/deeplabv3plus.js';
import { AtrousConv2D, AtrousDepthwiseConv2D } from '../src/models/layers/atrousConv2d.js';
import { getModelInfo } from '../src/models/modelInfo.js';
import { resnetBackbone } from '../src/models/resnet.js';
import {
  assertEveryWeightLearns,
  gradientNormAndSlope,
  loadXbdLikeCrops,
  roundTrip,
  seedKernels,
  trainableParameterCount,
} from './helpers/models.js';

test.before(async () => {
  await selectBackend({ backend: 'cpu' });
});

/** Narrow widths keep the cpu backend fast; the structure is the full one. */
const small: DeepLabV3PlusOptions = {
  backboneWidth: 4,
  asppFilters: 8,
  lowLevelFilters: 4,
  decoderFilters: 8,
};

test('maps xBD-like crops to logits at input size for ResNet-50/OS16, ResNet-50/OS8 and ResNet-18, leaking nothing', async () => {
  const images = await loadXbdLikeCrops(2, 64);
  for (const options of [
    { backbone: 50, outputStride: 16 },
    { backbone: 50, outputStride: 8 },
    { backbone: 18, outputStride: 16 },
  ] as const) {
    const model = buildDeepLabV3Plus({ ...small, ...options, numClasses: 5 });
    const before = tf.memory().numTensors;
    const shape = tf.tidy(() => (model.predict(images) as tf.Tensor).shape);
    assert.equal(shape, [2, 64, 64, 5], JSON.stringify(options));
    assert.is(tf.memory().numTensors, before);
    model.dispose();
  }
  images.dispose();
});

test("the ResNet-50 backbone has exactly Keras' ResNet50(include_top=False) parameters; DeepLabV3+ ~40M, ~27M separable", () => {
  // Keras documents ResNet50 with 25,636,712 parameters, of which the 2048x1000 classifier takes 2,049,000.
  const input = tf.input({ shape: [224, 224, 3] });
  const { features } = resnetBackbone(input, { depth: 50, outputStride: 32 });
  const backbone = tf.model({ inputs: input, outputs: features });
  assert.is(backbone.countParams(), 25_636_712 - 2_049_000);
  assert.equal(features.shape, [null, 7, 7, 2048]);
  // Keras' ResNet50(include_top=False) has 175 layers (input included), named as below.
  assert.is(backbone.layers.length, 175);
  for (const name of [
    'conv1_pad',
    'conv1_conv',
    'conv1_bn',
    'pool1_pool',
    'conv2_block1_0_conv',
    'conv3_block4_2_bn',
    'conv4_block6_add',
    'conv5_block3_out',
  ]) {
    assert.ok(backbone.getLayer(name), name);
  }
  backbone.dispose();
  const model = buildDeepLabV3Plus({ backbone: 50, outputStride: 16 });
  const count = trainableParameterCount(model);
  console.log(
    `DeepLabV3+ ResNet-50: ${count} trainable parameters, ${model.countParams()} with batch-norm statistics`,
  );
  assert.ok(count > 38e6 && count < 42e6, `${count}`);
  model.dispose();
  const separable = buildDeepLabV3Plus({ backbone: 50, outputStride: 16, separable: true });
  const separableCount = trainableParameterCount(separable);
  console.log(`DeepLabV3+ ResNet-50, separable ASPP and decoder: ${separableCount} trainable parameters`);
  assert.ok(separableCount > 26e6 && separableCount < 28e6, `${separableCount}`);
  separable.dispose();
});

test("ResNet-18 and -34 backbones have torchvision's parameters, less the classifier, plus Keras-style conv biases", () => {
  // torchvision: resnet18 11,689,512 and resnet34 21,797,672 parameters, 513,000 of them in the 512x1000 classifier.
  // Keras-style convolutions add one bias per output channel: the stem's 64, two convs per block, one per shortcut.
  const biases = (blocks: number[]) =>
    64 + blocks.reduce((sum, n, stage) => sum + (2 * n + (stage > 0 ? 1 : 0)) * 64 * 2 ** stage, 0);
  for (const [depth, torchvision, blocks] of [
    [18, 11_689_512, [2, 2, 2, 2]],
    [34, 21_797_672, [3, 4, 6, 3]],
  ] as const) {
    const input = tf.input({ shape: [64, 64, 3] });
    const backbone = tf.model({
      inputs: input,
      outputs: resnetBackbone(input, { depth, outputStride: 32 }).features,
    });
    assert.is(
      trainableParameterCount(backbone),
      torchvision - 513_000 + biases([...blocks]),
      `ResNet-${depth}`,
    );
    backbone.dispose();
  }
});

test('output stride 16 dilates conv5 by 2 and ASPP by 6/12/18; stride 8 dilates conv4 by 2, conv5 by 4, ASPP by 12/24/36', () => {
  const rateOf = (model: tf.LayersModel, name: string) => {
    const layer = model.getLayer(name);
    return layer instanceof AtrousConv2D || layer instanceof AtrousDepthwiseConv2D
      ? layer.dilationRate[0]
      : 1;
  };
  const size = (model: tf.LayersModel, name: string) =>
    (model.getLayer(name).outputShape as number[]).slice(1, 3);
  const os16 = buildDeepLabV3Plus({ ...small, outputStride: 16, multiGrid: [1, 2, 4], inputSize: [64, 96] });
  assert.equal(
    [size(os16, 'conv2_block3_out'), size(os16, 'conv4_block6_out'), size(os16, 'conv5_block3_out')],
    [
      [16, 24],
      [4, 6],
      [4, 6],
    ],
  );
  assert.equal(
    ['conv4_block6_2_conv', 'conv5_block1_2_conv', 'conv5_block2_2_conv', 'conv5_block3_2_conv'].map((n) =>
      rateOf(os16, n),
    ),
    [1, 2, 4, 8],
  );
  assert.equal(
    ['aspp0', 'aspp1', 'aspp2', 'aspp3'].map((n) => rateOf(os16, n)),
    [1, 6, 12, 18],
  );
  assert.equal(size(os16, 'decoder_concat'), [16, 24]);
  assert.equal(os16.outputs[0]!.shape, [null, 64, 96, 5]);
  const os8 = buildDeepLabV3Plus({ ...small, outputStride: 8, inputSize: [64, 64] });
  assert.equal(
    [size(os8, 'conv3_block4_out'), size(os8, 'conv5_block3_out')],
    [
      [8, 8],
      [8, 8],
    ],
  );
  assert.equal(
    ['conv4_block1_2_conv', 'conv5_block3_2_conv', 'aspp1', 'aspp2', 'aspp3'].map((n) => rateOf(os8, n)),
    [2, 4, 12, 24, 36],
  );
  assert.is(getModelInfo(os8).sizeDivisor, 8);
  const separable = buildDeepLabV3Plus({ ...small, separable: true });
  assert.equal(
    ['aspp1_depthwise', 'aspp2_depthwise', 'aspp3_depthwise'].map((n) => rateOf(separable, n)),
    [6, 12, 18],
  );
  assert.ok(separable.getLayer('aspp3_depthwise') instanceof AtrousDepthwiseConv2D);
  assert.is(separable.getLayer('decoder_conv1_depthwise').getClassName(), 'DepthwiseConv2D');
  for (const model of [os16, os8, separable]) model.dispose();
});

for (const separable of [false, true])
  test(`every weight receives a gradient through the atrous stages, ASPP and decoder (separable: ${separable})`, () => {
    const model = buildDeepLabV3Plus({
      backbone: 18,
      backboneWidth: 2,
      asppFilters: 4,
      lowLevelFilters: 2,
      decoderFilters: 4,
      numClasses: 3,
      dropout: 0,
      separable,
    });
    // Not square: height and width must not be mixed up anywhere, gradients included.
    const x = tf.randomNormal([2, 32, 48, 3], 0, 1, 'float32', 1);
    const labels = tf.oneHot(tf.randomUniform([2, 32, 48], 0, 3, 'int32', 2), 3);
    assertEveryWeightLearns(
      () =>
        tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
    );
    tf.dispose([x, labels]);
    model.dispose();
  });

test('the gradient equals finite differences (atrous stages, ASPP, resizes, non-square batch)', () => {
  const model = buildDeepLabV3Plus({
    backbone: 18,
    backboneWidth: 2,
    asppFilters: 4,
    lowLevelFilters: 2,
    decoderFilters: 4,
    numClasses: 3,
    dropout: 0,
    outputStride: 8,
  });
  seedKernels(model, 40);
  const x = tf.randomNormal([2, 32, 48, 3], 0, 1, 'float32', 5);
  const labels = tf.oneHot(tf.randomUniform([2, 32, 48], 0, 3, 'int32', 6), 3);
  // Inference-mode batch norm keeps the loss close to piecewise linear, so float32 differences stay accurate.
  const loss = () =>
    tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: false }) as tf.Tensor) as tf.Scalar;
  const [norm, slope] = gradientNormAndSlope(model, loss, 3e-3);
  assert.ok(
    Math.abs(norm - slope) < 0.03 * norm,
    `gradient norm ${norm}, finite-difference slope along it ${slope}`,
  );
  tf.dispose([x, labels]);
  model.dispose();
});

test('saves and loads (atrous, depthwise and resize layers included) with equal outputs', async () => {
  const model = buildDeepLabV3Plus({
    ...small,
    backbone: 18,
    numClasses: 2,
    outputActivation: 'sigmoid',
    separable: true,
  });
  const loaded = await roundTrip(model);
  assert.equal(getModelInfo(loaded), {
    architecture: 'deeplabv3plus',
    numClasses: 2,
    outputActivation: 'sigmoid',
    sizeDivisor: 16,
    inputChannels: 3,
  });
  const x = tf.randomUniform([1, 32, 48, 3], 0, 1, 'float32', 3);
  const difference = tf.tidy(
    () =>
      tf
        .sub(model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor)
        .abs()
        .max()
        .dataSync()[0],
  );
  assert.is(difference, 0);
  x.dispose();
  model.dispose();
  loaded.dispose();
});

test('refuses bad options and sizes by name', () => {
  assert.throws(
    () => buildDeepLabV3Plus({ outputStride: 32 as never }),
    /buildDeepLabV3Plus: options\.outputStride must be one of 8, 16, got 32/,
  );
  assert.throws(
    () => buildDeepLabV3Plus({ backbone: 101 as never }),
    /options\.backbone must be one of 18, 34, 50, got 101/,
  );
  assert.throws(
    () => buildDeepLabV3Plus({ inputSize: [64, 72] }),
    /options\.inputSize: width must be a positive multiple of 16.*64x72/,
  );
  assert.throws(
    () => buildDeepLabV3Plus({ asppRates: [6, 0, 18] }),
    /options\.asppRates\[1\] must be an integer >= 1, got 0/,
  );
});

test.run();
