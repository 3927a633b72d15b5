import * as tf from '@tensorflow/tfjs';
import { filterGradientBySums } from '../filterGradient.js';
import type { KernelFix } from '../kernelFix.js';

/** The filter gradient of a channels-last convolution as blocked column sums (see filterGradientBySums); channels-first goes to the stock kernel. */
export const conv2DBackpropFilterFix: KernelFix = {
  kernelName: tf.Conv2DBackpropFilter,
  wrap: (stock) => (args) => {
    const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as {
      strides: [number, number] | number;
      pad: 'valid' | 'same' | number;
      dataFormat: 'NHWC' | 'NCHW';
      dimRoundingMode?: 'floor' | 'round' | 'ceil';
      filterShape: [number, number, number, number];
    };
    if (dataFormat === 'NCHW' || x.dtype !== 'float32') return stock(args);
    const shape = x.shape as [number, number, number, number];
    const geometry = tf.backend_util.computeConv2DInfo(shape, filterShape, strides, 1, pad, dimRoundingMode);
    return filterGradientBySums(args.backend, x, dy, filterShape, geometry, false);
  },
};
