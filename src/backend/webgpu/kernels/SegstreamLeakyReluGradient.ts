import type * as tf from '@tensorflow/tfjs';
import { LEAKY_RELU_GRADIENT } from '../../fusedKernels.js';
import { runFlatProgram } from '../programs.js';

/** LEAKY_RELU_GRADIENT on webgpu: the stock gradient's Greater, Multiply and Select in one program. */
function leakyReluGradient({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
  const { alpha } = attrs as unknown as { alpha: number };
  return runFlatProgram(
    backend,
    'leakyReluGradient',
    { dy, x },
    x.shape,
    `let gradient = dy[index];
        return select(gradient * uniforms.alpha, gradient, x[index] > 0.0);`,
    { uniforms: [{ name: 'alpha', value: alpha }] },
  );
}

export const leakyReluGradientConfig: tf.KernelConfig = {
  kernelName: LEAKY_RELU_GRADIENT,
  backendName: 'webgpu',
  kernelFunc: leakyReluGradient as tf.KernelFunc,
};
