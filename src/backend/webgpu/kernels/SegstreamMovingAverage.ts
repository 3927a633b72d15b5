import type * as tf from '@tensorflow/tfjs';
import { MOVING_AVERAGE } from '../../fusedKernels.js';
import { runFlatProgram } from '../programs.js';

/** MOVING_AVERAGE on webgpu: one program for what the stock update runs as Sub, Multiply and Sub. */
function movingAverage({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const { average, value } = inputs as { average: tf.TensorInfo; value: tf.TensorInfo };
  const momentum = (attrs as { momentum: number }).momentum;
  return runFlatProgram(
    backend,
    'movingAverage',
    { average, value },
    average.shape,
    'return average[index] - (average[index] - value[index]) * uniforms.decay;',
    { uniforms: [{ name: 'decay', value: 1 - momentum }] },
  );
}

export const movingAverageConfig: tf.KernelConfig = {
  kernelName: MOVING_AVERAGE,
  backendName: 'webgpu',
  kernelFunc: movingAverage as tf.KernelFunc,
};
