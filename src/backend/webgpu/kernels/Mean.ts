import * as tf from '@tensorflow/tfjs';
import type { KernelFix } from '../kernelFix.js';
import { reducesLeadingAxes, sumOverLeadingAxes } from '../programs.js';

/** Mean over every axis but the last as column sums, as {@link sumFix}; other means go to the stock kernel. */
export const meanFix: KernelFix = {
  kernelName: tf.Mean,
  wrap: (stock) => (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as { axis: number | number[] | null; keepDims: boolean };
    if (!reducesLeadingAxes(x, axis)) return stock(args);
    const rows = tf.util.sizeFromShape(x.shape) / x.shape.at(-1)!;
    return sumOverLeadingAxes(args.backend, x, keepDims, 1 / rows);
  },
};
