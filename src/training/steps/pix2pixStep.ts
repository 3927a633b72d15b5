import * as tf from '@tensorflow/tfjs';
import { maskedOneHot, type SegmentationLoss } from '../../losses/segmentationLosses.js';
import type { ConfusionMatrix } from '../../metrics/confusionMatrix.js';
import type { TensorBatch } from '../../types.js';
import { type SeededRandom, withMathRandomFrom } from '../../util/seededRandom.js';
import type { StepLosses } from '../events.js';
import type { GanOptions } from '../trainerOptions.js';
import { gradients, type StepResult, type TrainingStep, trainableVariables } from './trainingStep.js';

/** The networks, optimizers and losses of a Pix2Pix step. */
export interface Pix2PixStepParts {
  generator: tf.LayersModel;
  discriminator: tf.LayersModel;
  generatorOptimizer: tf.Optimizer;
  discriminatorOptimizer: tf.Optimizer;
  /** The generator's segmentation term. */
  segmentation: SegmentationLoss;
  numClasses: number;
  ignoreValue: number;
}

/**
 * Pix2Pix as a conditional GAN, one incoming batch a step: a discriminator update on every k-th step (real
 * [image, one-hot labels] against [image, generator's softmax]), then a generator update on the adversarial
 * term plus the weighted segmentation term.
 */
export class Pix2PixStep implements TrainingStep {
  private readonly adversarialLoss: 'bce' | 'mse';
  private readonly segmentationWeight: number;
  private readonly discriminatorEvery: number;

  constructor(
    private readonly parts: Pix2PixStepParts,
    gan: GanOptions = {},
  ) {
    this.adversarialLoss = gan.adversarialLoss ?? 'mse';
    this.segmentationWeight = gan.segmentationWeight ?? 100;
    this.discriminatorEvery = gan.discriminatorEvery ?? 4;
  }

  async consume(
    batch: TensorBatch,
    globalStep: number,
    counts: ConfusionMatrix,
    random: SeededRandom,
  ): Promise<StepResult> {
    const {
      generator,
      discriminator,
      generatorOptimizer,
      discriminatorOptimizer,
      segmentation,
      numClasses,
      ignoreValue,
    } = this.parts;
    const { oneHot: realMap, valid } = maskedOneHot(batch.labels, numClasses, ignoreValue);
    // The fake map is blanked where labels are ignored too, so the discriminator cannot tell by the blanks.
    const fakeMap = (logits: tf.Tensor4D) => tf.softmax(logits).mul(valid) as tf.Tensor4D;
    let discriminatorValue: tf.Scalar | undefined;
    if (globalStep % this.discriminatorEvery === 0) {
      const variables = trainableVariables(discriminator);
      const { fake, value, grads } = withMathRandomFrom(random, () => {
        const fake = tf.tidy(() => fakeMap(generator.apply(batch.images, { training: true }) as tf.Tensor4D));
        const { value, grads } = gradients(variables, () => {
          const realLoss = this.adversarial(
            discriminator.apply([batch.images, realMap], { training: true }) as tf.Tensor,
            true,
          );
          const fakeLoss = this.adversarial(
            discriminator.apply([batch.images, fake], { training: true }) as tf.Tensor,
            false,
          );
          return realLoss.add(fakeLoss).mul(0.5) as tf.Scalar;
        });
        return { fake, value, grads };
      });
      discriminatorOptimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: grads[i]! })));
      discriminatorValue = value;
      tf.dispose([fake, ...grads]);
    }
    const variables = trainableVariables(generator);
    let logits: tf.Tensor4D | undefined;
    let parts: tf.Scalar[] = [];
    const { value, grads } = withMathRandomFrom(random, () =>
      gradients(variables, () => {
        const output = generator.apply(batch.images, { training: true }) as tf.Tensor4D;
        logits = tf.keep(output);
        const adversarialPart = this.adversarial(
          discriminator.apply([batch.images, fakeMap(output)], { training: true }) as tf.Tensor,
          true,
        );
        const segmentationPart = segmentation(output, batch.labels);
        parts = [tf.keep(adversarialPart), tf.keep(segmentationPart)];
        return adversarialPart.add(segmentationPart.mul(this.segmentationWeight)) as tf.Scalar;
      }),
    );
    generatorOptimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: grads[i]! })));
    tf.dispose([...grads, realMap, valid]);
    // Read back once the whole step is encoded: a GPU runs it while this waits, and never waits for a read.
    const scalars = [value, ...parts, ...(discriminatorValue ? [discriminatorValue] : [])];
    try {
      const [, ...values] = await Promise.all([
        counts.addLogits(logits!, batch.labels),
        ...scalars.map(async (t) => (await t.data())[0]!),
      ]);
      const [total, adversarial, segmentationLoss, discriminatorLoss] = values as number[];
      const losses: StepLosses = {
        total: total!,
        ...(discriminatorLoss === undefined ? {} : { discriminator: discriminatorLoss }),
        adversarial: adversarial!,
        segmentation: segmentationLoss!,
      };
      return { losses, images: batch.images.shape[0], batches: 1 };
    } finally {
      tf.dispose([logits!, ...scalars]);
    }
  }

  /** Every batch is a whole step: nothing is ever begun and not completed. */
  flush(): null {
    return null;
  }

  drop(): void {}

  dispose(): void {}

  private adversarial(patchLogits: tf.Tensor, real: boolean): tf.Scalar {
    const target = real ? tf.onesLike(patchLogits) : tf.zerosLike(patchLogits);
    return this.adversarialLoss === 'bce'
      ? tf.losses.sigmoidCrossEntropy(target, patchLogits)
      : tf.losses.meanSquaredError(target, patchLogits);
  }
}
