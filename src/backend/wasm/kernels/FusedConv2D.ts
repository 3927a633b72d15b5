import type * as tf from '@tensorflow/tfjs';
import { FusedConv2D } from '@tensorflow/tfjs';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { stockKernel } from '../stockKernels.js';
import { winogradConvolution } from '../winogradConvolution.js';

/** FusedConv2D without an activation (a convolution and its bias, as layers call it): Winograd where it applies. */
function fusedConv2D(args: WasmKernelArgs): tf.TensorInfo {
  const { x, filter, bias, preluActivationWeights } = args.inputs as {
    x: tf.TensorInfo;
    filter: tf.TensorInfo;
    bias?: tf.TensorInfo;
    preluActivationWeights?: tf.TensorInfo;
  };
  const plain = (args.attrs.activation ?? 'linear') === 'linear' && !preluActivationWeights;
  return (
    (plain ? winogradConvolution(args.backend, x, filter, bias, args.attrs) : undefined) ??
    (stockKernel(FusedConv2D)(args) as tf.TensorInfo)
  );
}

export const fusedConv2DConfig = wasmKernelConfig(FusedConv2D, fusedConv2D);
