/**
 * Kernels that segstream adds under names of its own, for work that TF.js spreads over many kernels.
 * A backend that has one registers it; callers check `tf.getKernel(name, tf.getBackend())` and otherwise
 * compose the same result from stock ops.
 */

/**
 * The gradient of batch normalization in training (statistics of the batch itself), over the last axis:
 * inputs `dy`, `x` ([..., C]), `mean`, `variance`, `scale` ([C]); attribute `varianceEpsilon`; outputs
 * `[dx, dScale, dOffset]`. One pass for the two per-channel sums and one for dx, where the stock graph of
 * moments and `FusedBatchNorm` makes about fifteen passes over x-sized tensors.
 */
export const BATCH_NORM_TRAINING_GRADIENT = 'SegstreamBatchNormTrainingGradient';

/** The gradient of Relu: inputs `dy`, `x` (float32, one shape); output dy * step(x), one pass. */
export const RELU_GRADIENT = 'SegstreamReluGradient';

/**
 * The gradient of LeakyRelu: inputs `dy`, `x` (float32, one shape); attribute `alpha`; output dy where x > 0,
 * else dy * alpha (NaN in x takes the second), one pass where the stock gradient runs Greater, Multiply and
 * Select.
 */
export const LEAKY_RELU_GRADIENT = 'SegstreamLeakyReluGradient';

/**
 * Mean and (population) variance over all axes but the last: input `x` ([..., C], float32); outputs
 * `[mean, variance]` ([C]), two reading passes where tf.moments runs four kernels.
 */
export const BATCH_MOMENTS = 'SegstreamBatchMoments';

/**
 * One Adam step of one variable: inputs `value`, `gradient`, `firstMoment`, `secondMoment` (float32, one
 * shape); attributes `beta1`, `beta2`, `epsilon`, `learningRate` and the bias corrections
 * `firstCorrection` = 1 - beta1^t and `secondCorrection`; outputs `[value, firstMoment, secondMoment]`
 * updated, with the float32 operations of tf.train.adam in its order (the same numbers), in one pass.
 */
export const ADAM_UPDATE = 'SegstreamAdamUpdate';

/**
 * ADAM_UPDATE of any number of variables, each with its two moments in one tensor, first moments then
 * second: inputs `value<k>`, `gradient<k>` (float32, one shape) and `moments<k>` (float32 [2 * size]) for k
 * from 0; the attributes of ADAM_UPDATE; outputs `[value0, moments0, value1, moments1, ...]` updated, with
 * the same operations. A GPU backend writes several variables in one program, each recorded from JavaScript.
 */
export const ADAM_UPDATE_PACKED = 'SegstreamAdamUpdatePacked';

/** The inputs of ADAM_UPDATE, by name (T: the backend's tensor info). */
export type AdamUpdateInputs<T> = Record<'value' | 'gradient' | 'firstMoment' | 'secondMoment', T>;

/**
 * The constants of ADAM_UPDATE's arithmetic from its attributes, in the order the wasm step function reads
 * them: beta1, 1 - beta1, beta2, 1 - beta2, the two bias corrections, epsilon and -learningRate.
 */
export function adamConstants(attrs: unknown): Record<string, number> {
  const { beta1, beta2, epsilon, learningRate, firstCorrection, secondCorrection } = attrs as Record<
    string,
    number
  >;
  return {
    beta1: beta1!,
    oneMinusBeta1: 1 - beta1!,
    beta2: beta2!,
    oneMinusBeta2: 1 - beta2!,
    firstCorrection: firstCorrection!,
    secondCorrection: secondCorrection!,
    epsilon: epsilon!,
    negativeRate: -learningRate!,
  };
}

/**
 * The confusion counts of a batch: inputs `labels` and `predictions` (int32, one shape); attributes
 * `numClasses`, `ignoreValue`; output int32 [numClasses^2 + 1]: element label * numClasses + prediction counts
 * those pixels, labels equal to `ignoreValue` are not counted, and the last element counts the pixels whose
 * label or prediction is out of range. On a GPU this reads back numClasses^2 + 1 numbers a batch instead of
 * every pixel's label and prediction.
 */
export const CONFUSION_COUNTS = 'SegstreamConfusionCounts';

/**
 * Moving averages' updates: inputs `average<k>` and `value<k>` (float32, one shape each k) for k from 0;
 * attribute `momentum`; outputs average - (average - value) * (1 - momentum) for each k, the float32
 * operations of tf.layers.batchNormalization's update in its order, in one pass where the stock ops take three
 * an average (one GPU program for all of them).
 */
export const MOVING_AVERAGE = 'SegstreamMovingAverage';

/**
 * 8-bit values packed four to an int32 word (value i is byte i % 4 of word i / 4, little-endian), widened on
 * the device: input `packed` (int32 [ceil(n / 4)]) and, for a float32 output, `factors` (float32 [2C]: the
 * scales of the C channels, then their offsets); attributes `shape` (the output's: n values, channels on the
 * last axis) and `dtype`. float32: value * scale[c] + offset[c] for channel c = i % C (pixel normalization);
 * int32: the values as they are (labels). A quarter of the bytes of the widened values is copied to the
 * device, and no loop over the values runs on the CPU.
 */
export const WIDEN_BYTES = 'SegstreamWidenBytes';
