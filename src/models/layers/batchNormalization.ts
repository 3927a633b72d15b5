import * as tf from '@tensorflow/tfjs';
import { BATCH_MOMENTS, BATCH_NORM_TRAINING_GRADIENT, MOVING_AVERAGE } from '../../backend/fusedKernels.js';

type BatchNormalizationArgs = NonNullable<Parameters<typeof tf.layers.batchNormalization>[0]>;
type StockBatchNormalization = ReturnType<typeof tf.layers.batchNormalization>;
const StockBatchNormalization = Object.getPrototypeOf(tf.layers.batchNormalization()).constructor as (new (
  args?: BatchNormalizationArgs,
) => StockBatchNormalization) &
  Pick<typeof tf.layers.Layer, 'fromConfig'>;

/** A weight of a layer as the stock layer holds it. */
interface LayerWeight {
  read(): tf.Tensor;
  write(value: tf.Tensor): void;
}

/** The stock layer's fields read here: private in its typings, plain properties at run time (tfjs-layers 4.22). */
interface BatchNormalizationState {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma?: LayerWeight | null;
  beta?: LayerWeight | null;
  movingMean: LayerWeight;
  movingVariance: LayerWeight;
}

/** Mean and variance over all axes but the last: one kernel where the backend has BATCH_MOMENTS. */
function batchMoments(x: tf.Tensor, axes: number[]): { mean: tf.Tensor; variance: tf.Tensor } {
  if (!tf.getKernel(BATCH_MOMENTS, tf.getBackend()) || x.dtype !== 'float32') return tf.moments(x, axes);
  const [mean, variance] = tf.engine().runKernel(BATCH_MOMENTS, { x }) as tf.Tensor[];
  return { mean: mean!, variance: variance! };
}

/**
 * Normalizes x over all axes but the last with the batch's own statistics, returning the output and the
 * statistics. The gradient is the closed form through mean and variance (one kernel where the backend has
 * BATCH_NORM_TRAINING_GRADIENT), not the chain through the moments' graph.
 */
function normalizeBatch(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
): { normalized: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  const axes = x.shape.slice(0, -1).map((_, axis) => axis);
  let statistics: tf.Tensor[] = [];
  const normalize = tf.customGrad((input, scale, offset, save) => {
    const [xs, gammas, betas] = [input, scale, offset] as tf.Tensor[];
    const { mean, variance } = batchMoments(xs!, axes);
    statistics = [tf.keep(mean), tf.keep(variance)];
    (save as tf.GradSaveFunc)([xs!, mean, variance, gammas!]);
    return {
      value: tf.batchNorm(xs!, mean, variance, betas!, gammas!, epsilon),
      gradFunc: (dy, saved) => {
        const [xSaved, meanSaved, varianceSaved, scaleSaved] = saved as [
          tf.Tensor,
          tf.Tensor,
          tf.Tensor,
          tf.Tensor,
        ];
        const gradientInputs = {
          dy: dy as tf.Tensor,
          x: xSaved,
          mean: meanSaved,
          variance: varianceSaved,
          scale: scaleSaved,
        };
        if (tf.getKernel(BATCH_NORM_TRAINING_GRADIENT, tf.getBackend())) {
          return tf.engine().runKernel(BATCH_NORM_TRAINING_GRADIENT, gradientInputs, {
            varianceEpsilon: epsilon,
          }) as tf.Tensor[];
        }
        return composedGradient(gradientInputs, axes, epsilon);
      },
    };
  });
  const normalized = normalize(x, gamma, beta);
  const [mean, variance] = statistics as [tf.Tensor, tf.Tensor];
  return { normalized, mean, variance };
}

/** The closed-form gradient of BATCH_NORM_TRAINING_GRADIENT from stock ops, for backends without the kernel. */
function composedGradient(
  inputs: Record<'dy' | 'x' | 'mean' | 'variance' | 'scale', tf.Tensor>,
  axes: number[],
  epsilon: number,
): tf.Tensor[] {
  return tf.tidy(() => {
    const { dy, x, mean, variance, scale } = inputs;
    const rows = tf.util.sizeFromShape(x.shape) / (x.shape.at(-1) ?? 1);
    const inverseStd = tf.rsqrt(tf.add(variance, epsilon));
    const centered = tf.sub(x, mean);
    const dySum = tf.sum(dy, axes);
    const productSum = tf.sum(tf.mul(dy, centered), axes);
    const a = tf.mul(scale, inverseStd);
    const b = tf.div(tf.mul(tf.mul(a, tf.square(inverseStd)), productSum), -rows);
    const k = tf.div(tf.mul(a, dySum), -rows);
    const dx = tf.add(tf.add(tf.mul(dy, a), tf.mul(centered, b)), k);
    return [dx, tf.mul(productSum, inverseStd), dySum];
  });
}

/**
 * tf.layers.batchNormalization with a faster training pass: over the last axis with scale and offset (every
 * batch-norm layer of segstream's models), the gradient through the batch statistics is computed in closed
 * form, two passes over the input instead of about fifteen (the stock graph's, which on wasm cost more than a
 * tenth of a UNet step). Same weights, configuration and class name as the stock layer, so saved models load
 * either way; other settings and inference run the stock code. Registered for serialization in its place.
 *
 * @example
 * ```ts
 * const y = new BatchNormalization({ momentum: 0.9, epsilon: 1e-5, name: 'block1_bn' }).apply(x) as tf.SymbolicTensor;
 * ```
 */
export class BatchNormalization extends StockBatchNormalization {
  static readonly className = 'BatchNormalization';

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor | tf.Tensor[] {
    const state = this as unknown as BatchNormalizationState;
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const lastAxis = state.axis === -1 || state.axis === x.rank - 1;
    if (kwargs.training !== true || !lastAxis || !state.gamma || !state.beta || x.rank < 2)
      return super.call(inputs, kwargs);
    const { gamma, beta, movingMean, movingVariance, momentum, epsilon } = state;
    return tf.tidy(() => {
      const { normalized, mean, variance } = normalizeBatch(x, gamma.read(), beta.read(), epsilon);
      // The stock layer's moving-average update, step for step (one kernel for both where the backend has
      // MOVING_AVERAGE).
      const stockUpdate = (current: tf.Tensor, value: tf.Tensor) =>
        tf.sub(current, tf.mul(tf.sub(current, value), 1 - momentum));
      tf.tidy(() => {
        const [currentMean, currentVariance] = [movingMean.read(), movingVariance.read()];
        const [updatedMean, updatedVariance] = tf.getKernel(MOVING_AVERAGE, tf.getBackend())
          ? (tf
              .engine()
              .runKernel(
                MOVING_AVERAGE,
                { average0: currentMean, value0: mean, average1: currentVariance, value1: variance },
                { momentum },
              ) as tf.Tensor[])
          : [stockUpdate(currentMean, mean), stockUpdate(currentVariance, variance)];
        movingMean.write(updatedMean!);
        movingVariance.write(updatedVariance!);
      });
      tf.dispose([mean, variance]);
      return normalized;
    });
  }
}
tf.serialization.registerClass(BatchNormalization);

/**
 * Creates a {@link BatchNormalization} layer (the arguments of `tf.layers.batchNormalization`).
 *
 * @example
 * ```ts
 * const bn = batchNormalization({ axis: 3, epsilon: 1.001e-5, name: 'conv1_bn' });
 * ```
 */
export function batchNormalization(args: BatchNormalizationArgs = {}): BatchNormalization {
  return new BatchNormalization(args);
}
