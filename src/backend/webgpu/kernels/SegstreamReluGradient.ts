import type * as tf from '@tensorflow/tfjs';
import { RELU_GRADIENT } from '../../fusedKernels.js';
import { runFlatProgram } from '../programs.js';

/** RELU_GRADIENT on webgpu: dy * step(x) in one program where the stock gradient runs Step and Multiply (NaN in x gives NaN, as Step does). */
function reluGradient({ inputs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
  return runFlatProgram(
    backend,
    'reluGradient',
    { dy, x },
    x.shape,
    `let input = x[index];
        let step = select(select(0.0, 1.0, input > 0.0), uniforms.NAN, isnan(input));
        return dy[index] * step;`,
  );
}

export const reluGradientConfig: tf.KernelConfig = {
  kernelName: RELU_GRADIENT,
  backendName: 'webgpu',
  kernelFunc: reluGradient as tf.KernelFunc,
};
