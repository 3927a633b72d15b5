import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { focalTverskyLoss, sparseCrossEntropy } from '../src/losses/segmentationLosses.js';
import { type ArchitectureName, buildNetworks, type NetworksOptions } from '../src/models/buildNetworks.js';
import { relativeError, seededTensor } from './helpers/compare.js';
import { testUnlessMissing, webgpuMissing } from './helpers/skips.js';

const missing = await webgpuMissing();

const NUM_CLASSES = 3;
const SIZE = 32;

/** Small widths keep lavapipe and the cpu backend quick; each model keeps every layer kind it has (dropout off: its masks differ by backend). */
const SMALL: Record<ArchitectureName, NetworksOptions> = {
  unet: { unet: { depth: 2, baseFilters: 4, batchNorm: true } },
  pix2pix: {
    pix2pixGenerator: { depth: 5, baseFilters: 4, maxFilters: 16, dropout: 0 },
    pix2pixDiscriminator: { baseFilters: 4, maxFilters: 16 },
  },
  deeplabv3plus: {
    deeplabv3plus: {
      backbone: 18,
      outputStride: 8,
      separable: true,
      dropout: 0,
      backboneWidth: 4,
      asppFilters: 8,
      lowLevelFilters: 4,
      decoderFilters: 8,
    },
  },
};

/**
 * Three SGD-momentum steps of one architecture on one backend: for Pix2Pix a discriminator step (real and
 * generated class maps) then a generator step through the discriminator, for the others a focal Tversky plus
 * cross-entropy step. Momentum, not Adam: Adam turns the float noise of gradients that are zero in exact
 * arithmetic (conv biases before batch norm) into full steps of either sign (Adam itself is compared in
 * webgpu-kernels). Returns every weight and the tensors added by the last two steps.
 */
async function threeSteps(
  architecture: ArchitectureName,
  backend: 'cpu' | 'webgpu',
): Promise<{ weights: Float32Array[]; leaked: number }> {
  await selectBackend({ backend });
  const { model, discriminator } = buildNetworks(architecture, {
    numClasses: NUM_CLASSES,
    ...SMALL[architecture],
  });
  // Seeded values of one size in every weight, biases included: the float noise of a gradient that is zero in
  // exact arithmetic (a bias before batch norm) then moves no weight by a visible fraction of itself.
  [...model.weights, ...(discriminator?.weights ?? [])].forEach((w, i) =>
    w.write(tf.tidy(() => seededTensor(w.shape as number[], 100 + i).mul(0.5))),
  );
  const images = seededTensor([2, SIZE, SIZE, 3], 1).add(0.5);
  const labels = seededTensor([2, SIZE, SIZE], 2, 4)
    .add(2)
    .clipByValue(0, NUM_CLASSES - 1)
    .cast('int32') as tf.Tensor3D;
  const realMap = tf.oneHot(labels, NUM_CLASSES).cast('float32');
  const segmentation = (logits: tf.Tensor4D) =>
    focalTverskyLoss({ numClasses: NUM_CLASSES })(logits, labels).add(
      sparseCrossEntropy({ numClasses: NUM_CLASSES })(logits, labels),
    ) as tf.Scalar;
  const generatorOptimizer = tf.train.momentum(0.05, 0.9);
  const discriminatorOptimizer = tf.train.momentum(0.05, 0.9);
  const patch = (map: tf.Tensor) => discriminator!.apply([images, map], { training: true }) as tf.Tensor;
  const step = () =>
    tf.tidy(() => {
      if (!discriminator) {
        generatorOptimizer.minimize(() =>
          segmentation(model.apply(images, { training: true }) as tf.Tensor4D),
        );
        return;
      }
      const fake = tf.softmax(model.apply(images, { training: true }) as tf.Tensor);
      // Least-squares GAN losses, as the trainer's default: real patches towards 1, generated ones towards 0.
      discriminatorOptimizer.minimize(
        () => patch(realMap).sub(1).square().mean().add(patch(fake).square().mean()) as tf.Scalar,
        false,
        discriminator.trainableWeights.map((w) => w.read() as tf.Variable),
      );
      generatorOptimizer.minimize(
        () => {
          const logits = model.apply(images, { training: true }) as tf.Tensor4D;
          return patch(tf.softmax(logits)).sub(1).square().mean().add(segmentation(logits)) as tf.Scalar;
        },
        false,
        model.trainableWeights.map((w) => w.read() as tf.Variable),
      );
    });
  step();
  const before = tf.memory().numTensors;
  step();
  step();
  const leaked = tf.memory().numTensors - before;
  const weights = await Promise.all(
    [...model.weights, ...(discriminator?.weights ?? [])].map(
      async (w) => (await w.read().data()) as Float32Array,
    ),
  );
  tf.dispose([images, labels, realMap]);
  generatorOptimizer.dispose();
  discriminatorOptimizer.dispose();
  model.dispose();
  discriminator?.dispose();
  return { weights, leaked };
}

for (const architecture of ['unet', 'pix2pix', 'deeplabv3plus'] as const) {
  testUnlessMissing(
    `three optimizer steps of ${architecture} on webgpu give the cpu backend's weights, with no tensor growth`,
    missing,
    async () => {
      const cpu = await threeSteps(architecture, 'cpu');
      const webgpu = await threeSteps(architecture, 'webgpu');
      assert.is(webgpu.leaked, 0, 'tensors added by steps 2 and 3 on webgpu');
      const errors = cpu.weights.map((reference, i) => relativeError(webgpu.weights[i]!, reference));
      const worst = Math.max(...errors);
      console.log(
        `${architecture}: worst relative weight difference ${worst.toExponential(2)} over ${errors.length} weights`,
      );
      assert.ok(
        worst < 1e-4,
        `${architecture}: worst relative weight difference ${worst} (weight ${errors.indexOf(worst)})`,
      );
    },
  );
}

test.run();
