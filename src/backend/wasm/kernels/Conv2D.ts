import type * as tf from '@tensorflow/tfjs';
import { Conv2D } from '@tensorflow/tfjs';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { stockConvolutionExplicitPadding } from '../stockKernels.js';
import { winogradConvolution } from '../winogradConvolution.js';

/** Conv2D: Winograd where it applies, else the stock kernel with 'same' padding spelled out. */
function conv2D(args: WasmKernelArgs): tf.TensorInfo {
  const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  return (
    winogradConvolution(args.backend, x, filter, undefined, args.attrs) ??
    stockConvolutionExplicitPadding(Conv2D, args)
  );
}

export const conv2DConfig = wasmKernelConfig(Conv2D, conv2D);
