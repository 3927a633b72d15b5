import * as tf from '@tensorflow/tfjs';
import { filterGradientFix } from '../filterGradient.js';

/** The filter gradient of a channels-last convolution as blocked column sums (see filterGradient.ts). */
export const conv2DBackpropFilterFix = filterGradientFix(tf.Conv2DBackpropFilter, false);
