import * as tf from '@tensorflow/tfjs';
import type { KernelFix } from '../kernelFix.js';
import { reducesLeadingAxes, sumOverLeadingAxes } from '../programs.js';

/**
 * Sum over every axis but the last (bias gradients, per-class sums of the losses) as column sums, without the
 * stock kernel's transpose of x and its one workgroup a channel; other sums go to the stock kernel.
 */
export const sumFix: KernelFix = {
  kernelName: tf.Sum,
  wrap: (stock) => (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as { axis: number | number[] | null; keepDims: boolean };
    return reducesLeadingAxes(x, axis) ? sumOverLeadingAxes(args.backend, x, keepDims, 1) : stock(args);
  },
};
