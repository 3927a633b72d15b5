import type * as tf from '@tensorflow/tfjs';
import { FusedConv2D } from '@tensorflow/tfjs';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { stockConvolutionExplicitPadding } from '../stockKernels.js';
import { winogradConvolution } from '../winogradConvolution.js';

/**
 * FusedConv2D: Winograd where it applies (no activation: a convolution and its bias, as layers call it),
 * else the stock kernel with 'same' padding spelled out.
 */
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
    stockConvolutionExplicitPadding(FusedConv2D, args)
  );
}

export const fusedConv2DConfig = wasmKernelConfig(FusedConv2D, fusedConv2D);
