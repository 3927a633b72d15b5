import * as tf from '@tensorflow/tfjs';
import { Relu } from '@tensorflow/tfjs';
import { RELU_GRADIENT } from '../fusedKernels.js';
import { throughFusedKernel } from './throughFusedKernel.js';

/** Relu's gradient through RELU_GRADIENT where the backend has it, else the stock formula. */
export const reluGradConfig: tf.GradConfig = {
  kernelName: Relu,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved as [tf.Tensor];
    const gradient = dy as tf.Tensor;
    return {
      x: () =>
        throughFusedKernel(RELU_GRADIENT, gradient, x, () =>
          tf.mul(gradient, tf.cast(tf.step(x), 'float32')),
        ),
    };
  },
};
