import * as tf from '@tensorflow/tfjs';
import { filterGradientBySums } from '../filterGradient.js';
import type { KernelFix } from '../kernelFix.js';

/**
 * The filter gradient of a depthwise convolution (DeepLabV3+'s separable convolutions) as blocked column sums
 * (see filterGradientBySums). Dilated ones go to the stock kernel (segstream's atrous layers do not make them).
 */
export const depthwiseConv2dBackpropFilterFix: KernelFix = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  wrap: (stock) => (args) => {
    const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const { strides, dilations, pad, dimRoundingMode, filterShape } = args.attrs as unknown as {
      strides: [number, number] | number;
      dilations: [number, number] | number;
      pad: 'valid' | 'same' | number;
      dimRoundingMode?: 'floor' | 'round' | 'ceil';
      filterShape: [number, number, number, number];
    };
    const dilated = (Array.isArray(dilations) ? dilations : [dilations, dilations]).some((d) => d !== 1);
    if (dilated || x.dtype !== 'float32') return stock(args);
    const shape = x.shape as [number, number, number, number];
    const geometry = tf.backend_util.computeConv2DInfo(
      shape,
      filterShape,
      strides,
      1,
      pad,
      dimRoundingMode,
      true,
    );
    return filterGradientBySums(args.backend, x, dy, filterShape, geometry, true);
  },
};
