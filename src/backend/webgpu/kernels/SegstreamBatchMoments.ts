import * as tf from '@tensorflow/tfjs';
import { BATCH_MOMENTS } from '../../fusedKernels.js';
import { columnSums, sumOfTerms, sumOverLeadingAxes } from '../programs.js';

/**
 * BATCH_MOMENTS on webgpu: the mean from column sums of x (as Mean over leading axes), then the variance
 * from column sums of (x - mean)^2; four programs that read x twice, where tf.moments transposes x twice and writes two more
 * x-sized tensors.
 */
function batchMoments({ inputs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const { x } = inputs as { x: tf.TensorInfo };
  const channels = x.shape.at(-1) ?? 0;
  const rows = channels === 0 ? 0 : tf.util.sizeFromShape(x.shape) / channels;
  const shape = { rows, channels, columns: channels };
  const mean = sumOverLeadingAxes(backend, x, false, 1 / rows);
  const variance = columnSums(
    backend,
    'batchVariance',
    { x, mean },
    shape,
    sumOfTerms(`let centered = x[row * uniforms.channels + column] - mean[column];
        return centered * centered;`),
    { scale: 1 / rows },
  );
  return [mean, variance];
}

export const batchMomentsConfig: tf.KernelConfig = {
  kernelName: BATCH_MOMENTS,
  backendName: 'webgpu',
  kernelFunc: batchMoments as tf.KernelFunc,
};
