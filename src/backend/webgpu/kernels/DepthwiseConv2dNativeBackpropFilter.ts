import * as tf from '@tensorflow/tfjs';
import { filterGradientFix } from '../filterGradient.js';

/** The filter gradient of a depthwise convolution (DeepLabV3+'s separable ones) as blocked column sums (see filterGradient.ts). */
export const depthwiseConv2dBackpropFilterFix = filterGradientFix(
  tf.DepthwiseConv2dNativeBackpropFilter,
  true,
);
