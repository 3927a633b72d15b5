import * as tf from '@tensorflow/tfjs';
import type { ConfusionMatrix } from '../../metrics/confusionMatrix.js';
import type { TensorBatch } from '../../types.js';
import type { SeededRandom } from '../../util/seededRandom.js';
import type { StepLosses } from '../events.js';

/** An optimizer step done: its losses, and the images and incoming batches it was computed from. */
export interface StepResult {
  losses: StepLosses;
  images: number;
  batches: number;
}

/**
 * How a run turns incoming batches into optimizer steps (supervised with accumulation, Pix2Pix). The
 * trainer sets the learning rates before each call and books the results; a step frees every tensor it
 * makes and leaves the batch to the caller.
 */
export interface TrainingStep {
  /**
   * Trains on one incoming batch, adding the model's predictions on it (before the update) to `counts`.
   * Values are read back with data(), not dataSync(): the webgpu backend cannot read a GPU buffer
   * synchronously in Node.
   * @param globalStep - the optimizer steps done before this one in the run.
   * @param random - the step's random source: forward and backward passes run with Math.random drawing
   *   from it (see `withMathRandomFrom`), which seeds TF.js's dropout.
   * @returns the step's result when this batch completed an optimizer step, else null.
   */
  consume(
    batch: TensorBatch,
    globalStep: number,
    counts: ConfusionMatrix,
    random: SeededRandom,
  ): Promise<StepResult | null>;
  /** Completes a step begun on fewer batches than a full one (the epoch or the input ended); null when none is begun. */
  flush(): StepResult | null;
  /** Drops a step begun and not completed (the run stops). */
  drop(): void;
  dispose(): void;
}

/** The trainable variables of a model. */
export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  // LayerVariable.read() returns the backing tf.Variable itself.
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/** Gradients of `lossFn` for every variable in order, zeros where a variable does not reach the loss. */
export function gradients(
  variables: tf.Variable[],
  lossFn: () => tf.Scalar,
): { value: tf.Scalar; grads: tf.Tensor[] } {
  const { value, grads } = tf.variableGrads(lossFn, variables);
  // Optimizers match slot variables to gradients by position, so every variable must have one.
  return { value, grads: variables.map((v) => grads[v.name] ?? tf.zerosLike(v)) };
}
