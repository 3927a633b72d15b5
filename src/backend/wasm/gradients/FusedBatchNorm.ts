import * as tf from '@tensorflow/tfjs';
import { FusedBatchNorm } from '@tensorflow/tfjs';

/**
 * Gradient of FusedBatchNorm with the per-channel factors broadcast, and each full-size product computed
 * once: the mean's gradient is a multiple of the offset's (sum of dy), the variance's and the scale's are
 * multiples of one sum of dy * (x - mean). The stock gradient tiles 1/sqrt(variance + epsilon) to the full
 * size of x first, which on wasm is a single-threaded copy that cost more than all convolutions of a UNet
 * step together, and forms dy * (x - mean) twice.
 */
export const fusedBatchNormGradConfig: tf.GradConfig = {
  kernelName: FusedBatchNorm,
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy, saved, attrs) => {
    const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const epsilon = (attrs as { varianceEpsilon: number }).varianceEpsilon;
    const gradient = dy as tf.Tensor;
    const reductionAxes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
    const perChannel = (t: tf.Tensor) => (mean.rank === 1 ? tf.sum(t, reductionAxes) : t).reshape(mean.shape);
    const scaleValue = scale ?? tf.scalar(1);
    const inverseStd = tf.rsqrt(tf.add(variance, tf.scalar(epsilon)));
    // Made here, not in the closures: each closure runs in a scope of its own that would dispose a tensor
    // shared with another. Only the per-channel sums outlive this tidy (until the backward pass ends); the
    // full-size products in between must not, or every layer's would stay alive through the whole pass.
    const [gradientSum, gradientCenteredSum] = tf.tidy(() => [
      perChannel(gradient),
      perChannel(tf.mul(gradient, tf.sub(x, mean))),
    ]) as [tf.Tensor, tf.Tensor];
    return {
      x: () => tf.mul(gradient, tf.mul(inverseStd, scaleValue)).reshape(x.shape),
      mean: () => tf.mul(gradientSum, tf.mul(inverseStd, scaleValue).neg()),
      variance: () => tf.mul(gradientCenteredSum, tf.mul(tf.mul(scaleValue, tf.pow(inverseStd, 3)), -0.5)),
      scale: () => tf.mul(gradientCenteredSum, inverseStd),
      offset: () => gradientSum.clone(),
    };
  },
};
