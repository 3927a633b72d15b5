import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { countForwardFlops } from '../src/models/flops.js';
import { assertModelAcceptsSize, getModelInfo } from '../src/models/modelInfo.js';
import { buildUNet } from '../src/models/unet.js';
import {
  assertEveryWeightLearns,
  loadXbdLikeCrops,
  roundTrip,
  trainableParameterCount,
} from './helpers/models.js';

test.before(async () => {
  await selectBackend({ backend: 'cpu' });
});

test('maps xBD-like crops [B, H, W, 3] to logits [B, H, W, numClasses] without leaking tensors', async () => {
  const images = await loadXbdLikeCrops(2, 64);
  const model = buildUNet({ depth: 3, baseFilters: 4, numClasses: 5 });
  const before = tf.memory().numTensors;
  const shape = tf.tidy(() => (model.predict(images) as tf.Tensor).shape);
  assert.equal(shape, [2, 64, 64, 5]);
  assert.is(tf.memory().numTensors, before);
  images.dispose();
  model.dispose();
});

test('with depth 4, base 16, batch norm and 5 classes it has the parameters of the PyTorch reference UNet', () => {
  // Parameter count of shared/bench/ref_unet_torch.py, from its layer list: Conv2d(i,o,3) = 9io+o,
  // BatchNorm2d(o) = 2o trainable, ConvTranspose2d(i,o,2,2) = 4io+o, head Conv2d(16,5,1) = 16*5+5.
  const widths = [16, 32, 64, 128, 256];
  const block = (i: number, o: number) => 9 * i * o + o + 2 * o + 9 * o * o + o + 2 * o;
  let expected = 0;
  let channels = 3;
  for (const o of widths) {
    expected += block(channels, o);
    channels = o;
  }
  for (const o of widths.slice(0, -1).reverse()) {
    expected += 4 * channels * o + o + block(2 * o, o);
    channels = o;
  }
  expected += 16 * 5 + 5;
  const model = buildUNet({ depth: 4, baseFilters: 16, batchNorm: true, numClasses: 5 });
  assert.is(trainableParameterCount(model), expected);
  const convs = model.layers.filter((l) => l.getClassName() === 'Conv2D').length;
  assert.is(convs, 2 * 5 + 2 * 4 + 1);
  assert.is(model.layers.filter((l) => l.getClassName() === 'Conv2DTranspose').length, 4);
  assert.is(model.layers.filter((l) => l.getClassName() === 'MaxPooling2D').length, 4);
  model.dispose();
  // shared/notes/tfjs-training-facts.md: this UNet costs 6.07 GFLOP per 256x256 image forward.
  const sized = buildUNet({
    depth: 4,
    baseFilters: 16,
    batchNorm: true,
    numClasses: 5,
    inputSize: [256, 256],
  });
  assert.is(Math.round(countForwardFlops(sized) / 1e7) / 100, 6.07);
  sized.dispose();
  assert.throws(
    () => countForwardFlops(buildUNet({ depth: 1, baseFilters: 1 })),
    /layer 'down0_conv1' has no static size: build the model with options\.inputSize/,
  );
});

test('every weight receives a gradient (skips and both paths are wired)', () => {
  const model = buildUNet({ depth: 2, baseFilters: 2, numClasses: 3, dropout: 0.5 });
  // Batch 2 and not square: no axis may be mixed up, gradients included.
  const x = tf.randomNormal([2, 16, 24, 3], 0, 1, 'float32', 1);
  const labels = tf.oneHot(tf.randomUniform([2, 16, 24], 0, 3, 'int32', 2), 3);
  assertEveryWeightLearns(
    () => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
  );
  tf.dispose([x, labels]);
  model.dispose();
});

test('metadata names the output activation and survives a save/load round trip with equal outputs', async () => {
  const model = buildUNet({ depth: 2, baseFilters: 2, numClasses: 4, outputActivation: 'sigmoid' });
  assert.equal(getModelInfo(model), {
    architecture: 'unet',
    numClasses: 4,
    outputActivation: 'sigmoid',
    sizeDivisor: 4,
    inputChannels: 3,
  });
  const loaded = await roundTrip(model);
  assert.equal(getModelInfo(loaded), getModelInfo(model));
  const x = tf.randomUniform([1, 8, 12, 3], 0, 1, 'float32', 3);
  const difference = tf.tidy(
    () =>
      tf
        .sub(model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor)
        .abs()
        .max()
        .dataSync()[0],
  );
  assert.is(difference, 0);
  tf.dispose([x]);
  model.dispose();
  loaded.dispose();
});

test('refuses bad options and sizes by name', () => {
  assert.throws(
    () => buildUNet({ depth: 3, inputSize: [100, 64] }),
    /options\.inputSize: height must be a positive multiple of 8.*100x64/,
  );
  assert.throws(
    () => buildUNet({ depth: 0 }),
    /buildUNet: options\.depth must be an integer from 1 to 8, got 0/,
  );
  assert.throws(() => buildUNet({ dropout: 1 }), /options\.dropout must be a number in \[0, 1\), got 1/);
  assert.throws(
    () => buildUNet({ outputActivation: 'tanh' as never }),
    /options\.outputActivation must be one of softmax, sigmoid, got tanh/,
  );
  const free = buildUNet({ depth: 3, baseFilters: 2, name: 'unet_free' });
  assert.throws(
    () => assertModelAcceptsSize(free, 64, 100, 'tile.png'),
    /tile\.png \(model 'unet_free'\): width must be a positive multiple of 8.*64x100/,
  );
  assertModelAcceptsSize(free, 64, 96);
  free.dispose();
  const fixed = buildUNet({ depth: 2, baseFilters: 2, inputSize: [32, 48] });
  assert.equal(fixed.inputs[0]!.shape, [null, 32, 48, 3]);
  fixed.dispose();
});

test.run();
