import * as tf from '@tensorflow/tfjs';
import type { KernelFix } from '../kernelFix.js';

/**
 * The gradient of a bilinear resize from a 1x1 map (DeepLabV3+'s image pooling spread over the feature map):
 * the stock kernel returns zeros there (its aligned-corner scale divides by the input size less one; a map of
 * height or width 1 alone is wrong too, and left so: no model makes one from square tiles). Every
 * output pixel copies the one input pixel, so the gradient is the sum of dy over height and width.
 */
export const resizeBilinearGradFix: KernelFix = {
  kernelName: tf.ResizeBilinearGrad,
  wrap: (stock) => (args) => {
    const { images, dy } = args.inputs as { images: tf.TensorInfo; dy: tf.TensorInfo };
    if (images.shape[1] !== 1 || images.shape[2] !== 1) return stock(args);
    const sum = tf.getKernel(tf.Sum, 'webgpu')!.kernelFunc;
    return sum({ inputs: { x: dy }, backend: args.backend, attrs: { axis: [1, 2], keepDims: true } });
  },
};
