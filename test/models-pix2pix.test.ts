import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { assertModelAcceptsSize, getModelInfo } from '../src/models/modelInfo.js';
import {
  buildPatchGANDiscriminator,
  buildPix2PixGenerator,
  patchGANReceptiveField,
} from '../src/models/pix2pix.js';
import {
  assertEveryWeightLearns,
  loadXbdLikeCrops,
  roundTrip,
  trainableParameterCount,
} from './helpers/models.js';

test.before(async () => {
  await selectBackend({ backend: 'cpu' });
});

test('the generator maps xBD-like crops to class-map logits, and the discriminator judges the pair per patch', async () => {
  const images = await loadXbdLikeCrops(2, 64);
  const generator = buildPix2PixGenerator({ depth: 6, baseFilters: 4, maxFilters: 16, numClasses: 5 });
  const discriminator = buildPatchGANDiscriminator({ baseFilters: 4, maxFilters: 16, numClasses: 5 });
  const before = tf.memory().numTensors;
  const shapes = tf.tidy(() => {
    const logits = generator.predict(images) as tf.Tensor;
    const patches = discriminator.predict([images, tf.softmax(logits)]) as tf.Tensor;
    return [logits.shape, patches.shape];
  });
  // 64 / 8 = 8, less one per stride-1 layer.
  assert.equal(shapes, [
    [2, 64, 64, 5],
    [2, 6, 6, 1],
  ]);
  assert.is(tf.memory().numTensors, before);
  tf.dispose(images);
  generator.dispose();
  discriminator.dispose();
});

test("with Pix2Pix's settings both networks have the parameters of Pix2Pix's unet_256 and basic 70x70 PatchGAN", () => {
  // Pix2Pix (junyanz/pytorch-CycleGAN-and-pix2pix) prints 54.414 M for unet_256 with 3 -> 3 channels.
  const generator = buildPix2PixGenerator({ numClasses: 3, inputChannels: 3 });
  assert.is(Math.round(trainableParameterCount(generator) / 1e3), 54_414);
  // NLayerDiscriminator(6 channels): 4x4 convs 6->64 (+bias), 64->128, 128->256, 256->512 (each + batch norm), 512->1 (+bias).
  const expected =
    16 * 6 * 64 +
    64 +
    (16 * 64 * 128 + 2 * 128) +
    (16 * 128 * 256 + 2 * 256) +
    (16 * 256 * 512 + 2 * 512) +
    16 * 512 +
    1;
  const discriminator = buildPatchGANDiscriminator({ numClasses: 3, inputChannels: 3 });
  assert.is(trainableParameterCount(discriminator), expected);
  generator.dispose();
  discriminator.dispose();
});

test('every weight of both networks receives a gradient from the adversarial and segmentation losses', () => {
  const generator = buildPix2PixGenerator({ depth: 4, baseFilters: 2, maxFilters: 8, numClasses: 3 });
  const discriminator = buildPatchGANDiscriminator({
    stridedLayers: 2,
    baseFilters: 2,
    maxFilters: 8,
    numClasses: 3,
  });
  const image = tf.randomNormal([2, 32, 48, 3], 0, 1, 'float32', 1);
  const labels = tf.oneHot(tf.randomUniform([2, 32, 48], 0, 3, 'int32', 2), 3);
  assertEveryWeightLearns(() => {
    const logits = generator.apply(image, { training: true }) as tf.Tensor;
    const patches = discriminator.apply([image, tf.softmax(logits)], { training: true }) as tf.Tensor;
    return tf.add(
      tf.losses.sigmoidCrossEntropy(tf.onesLike(patches), patches),
      tf.losses.softmaxCrossEntropy(labels, logits),
    ) as tf.Scalar;
  }, generator.trainableWeights.length + discriminator.trainableWeights.length);
  tf.dispose([image, labels]);
  generator.dispose();
  discriminator.dispose();
});

test('one patch logit sees a 70x70 window of the input', () => {
  assert.is(patchGANReceptiveField(3), 70);
  const discriminator = buildPatchGANDiscriminator({ baseFilters: 2, maxFilters: 8, numClasses: 2 });
  tf.tidy(() => {
    const image = tf.randomNormal([1, 128, 128, 3], 0, 1, 'float32', 1);
    const classMap = tf.randomUniform([1, 128, 128, 2], 0, 1, 'float32', 2);
    // Inference mode, so that batch statistics do not couple all positions.
    const gradient = tf.grad((x: tf.Tensor) => {
      const patches = discriminator.apply([x, classMap], { training: false }) as tf.Tensor;
      return patches.slice([0, 7, 7, 0], [1, 1, 1, 1]).sum();
    })(image);
    const touched = gradient.abs().sum([0, 3]).greater(0).arraySync() as number[][];
    const rows = touched.map((row) => row.some(Boolean)).filter(Boolean).length;
    const cols = touched[0]!.map((_, c) => touched.some((row) => row[c])).filter(Boolean).length;
    assert.equal([rows, cols], [70, 70]);
  });
  discriminator.dispose();
});

test('weights start from normal(0, 0.02), batch-norm scales from normal(1, 0.02); dropout only in the first decoder layers', () => {
  const discriminator = buildPatchGANDiscriminator({ numClasses: 5 });
  const generator = buildPix2PixGenerator({ depth: 6, numClasses: 5 });
  tf.tidy(() => {
    const moments = (name: string, model: tf.LayersModel) => {
      const { mean, variance } = tf.moments(model.getLayer(name).getWeights()[0]!);
      return [mean.dataSync()[0]!, Math.sqrt(variance.dataSync()[0]!)];
    };
    for (const [name, model, expectedMean] of [
      ['layer3_conv', discriminator, 0],
      ['encoder3_conv', generator, 0],
      ['decoder2_upconv', generator, 0],
      ['layer2_bn', discriminator, 1],
    ] as const) {
      const [mean, std] = moments(name, model);
      assert.ok(
        Math.abs(mean! - expectedMean) < 0.005 && Math.abs(std! - 0.02) < 0.004,
        `${name}: mean ${mean}, std ${std}`,
      );
    }
  });
  const dropouts = generator.layers.filter((l) => l.getClassName() === 'Dropout').map((l) => l.name);
  assert.equal(dropouts, ['decoder4_dropout', 'decoder3_dropout', 'decoder2_dropout']);
  const encoderActivations = generator.layers.filter(
    (l) => l.name.startsWith('encoder') && l.getClassName() === 'LeakyReLU',
  );
  assert.is(encoderActivations.length, 6);
  assert.ok(encoderActivations.every((l) => l.getConfig().alpha === 0.2));
  discriminator.dispose();
  generator.dispose();
});

test('both networks save and load with equal outputs and metadata', async () => {
  const generator = buildPix2PixGenerator({ depth: 3, baseFilters: 2, numClasses: 3 });
  const discriminator = buildPatchGANDiscriminator({ stridedLayers: 2, baseFilters: 2, numClasses: 3 });
  const image = tf.randomUniform([1, 16, 24, 3], 0, 1, 'float32', 4);
  const classMap = tf.randomUniform([1, 16, 24, 3], 0, 1, 'float32', 5);
  for (const [model, inputs] of [
    [generator, image],
    [discriminator, [image, classMap]],
  ] as Array<[tf.LayersModel, tf.Tensor | tf.Tensor[]]>) {
    const loaded = await roundTrip(model);
    assert.equal(getModelInfo(loaded), getModelInfo(model));
    const difference = tf.tidy(
      () =>
        tf
          .sub(model.predict(inputs) as tf.Tensor, loaded.predict(inputs) as tf.Tensor)
          .abs()
          .max()
          .dataSync()[0],
    );
    assert.is(difference, 0);
    loaded.dispose();
    model.dispose();
  }
  assert.equal(getModelInfo(discriminator).architecture, 'pix2pix-discriminator');
  tf.dispose([image, classMap]);
});

test('refuses bad options and sizes by name', () => {
  assert.throws(
    () => buildPix2PixGenerator({ inputSize: [128, 128] }),
    /buildPix2PixGenerator: options\.inputSize: height must be a positive multiple of 256.*128x128/,
  );
  assert.throws(
    () => buildPix2PixGenerator({ depth: 4, dropoutLayers: 4 }),
    /options\.dropoutLayers must be an integer from 0 to 3, got 4/,
  );
  assert.throws(
    () => buildPatchGANDiscriminator({ inputSize: [16, 16] }),
    /buildPatchGANDiscriminator: options\.inputSize: height must be a positive multiple of 8 \(the model's total stride\) of at least 24, got 16x16/,
  );
  const discriminator = buildPatchGANDiscriminator({ baseFilters: 2, maxFilters: 2 });
  assert.throws(
    () => assertModelAcceptsSize(discriminator, 16, 32, 'tile.png'),
    /tile\.png \(model 'patchgan_discriminator'\): height must be .* of at least 24, got 16x32/,
  );
  assertModelAcceptsSize(discriminator, 24, 32);
  discriminator.dispose();
  assert.throws(
    () => buildPatchGANDiscriminator({ maxFilters: 8, baseFilters: 16 }),
    /options\.maxFilters must be an integer >= 16, got 8/,
  );
});

test.run();
