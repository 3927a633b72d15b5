import * as tf from '@tensorflow/tfjs';
import { LeakyRelu } from '@tensorflow/tfjs';
import { LEAKY_RELU_GRADIENT } from '../fusedKernels.js';

/** LeakyRelu's gradient through LEAKY_RELU_GRADIENT where the backend has it, else the stock formula. */
export const leakyReluGradConfig: tf.GradConfig = {
  kernelName: LeakyRelu,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved as [tf.Tensor];
    const gradient = dy as tf.Tensor;
    const { alpha } = attrs as unknown as { alpha: number };
    return {
      x: () =>
        tf.getKernel(LEAKY_RELU_GRADIENT, tf.getBackend()) &&
        x.dtype === 'float32' &&
        gradient.dtype === 'float32'
          ? (tf.engine().runKernel(LEAKY_RELU_GRADIENT, { dy: gradient, x }, { alpha }) as tf.Tensor)
          : tf.where(tf.greater(x, 0), gradient, tf.mul(gradient, alpha)),
    };
  },
};
