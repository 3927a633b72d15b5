import * as tf from '@tensorflow/tfjs';
import { LeakyRelu } from '@tensorflow/tfjs';
import { LEAKY_RELU_GRADIENT } from '../fusedKernels.js';
import { throughFusedKernel } from './throughFusedKernel.js';

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
        throughFusedKernel(
          LEAKY_RELU_GRADIENT,
          gradient,
          x,
          () => tf.where(tf.greater(x, 0), gradient, tf.mul(gradient, alpha)),
          { alpha },
        ),
    };
  },
};
