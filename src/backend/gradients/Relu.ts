import * as tf from '@tensorflow/tfjs';
import { Relu } from '@tensorflow/tfjs';
import { RELU_GRADIENT } from '../fusedKernels.js';

/** Relu's gradient through RELU_GRADIENT where the backend has it, else the stock formula. */
export const reluGradConfig: tf.GradConfig = {
  kernelName: Relu,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved as [tf.Tensor];
    const gradient = dy as tf.Tensor;
    return {
      x: () =>
        tf.getKernel(RELU_GRADIENT, tf.getBackend()) && x.dtype === 'float32' && gradient.dtype === 'float32'
          ? (tf.engine().runKernel(RELU_GRADIENT, { dy: gradient, x }) as tf.Tensor)
          : tf.mul(gradient, tf.cast(tf.step(x), 'float32')),
    };
  },
};
