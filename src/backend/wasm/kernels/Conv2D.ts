import * as tf from '@tensorflow/tfjs';
import { Conv2D } from '@tensorflow/tfjs';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { stockKernel } from '../stockKernels.js';
import { winogradConvolution } from '../winogradConvolution.js';

/** The stock Conv2D with 'same' padding spelled out (see `conv2D`). */
function stockConv2DExplicitPadding({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  if (attrs.pad !== 'same') return stockKernel(Conv2D)({ inputs, backend, attrs }) as tf.TensorInfo;
  const { x, filter } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    attrs.strides as [number, number],
    attrs.dilations as [number, number],
    'same',
  );
  const { top, bottom, left, right } = info.padInfo;
  return stockKernel(Conv2D)({
    inputs,
    backend,
    attrs: {
      ...attrs,
      pad: [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ],
    },
  }) as tf.TensorInfo;
}

/**
 * Conv2D: Winograd where it applies, else the stock kernel. The stock kernel computes 'same' padding wrongly
 * when the stride exceeds the kernel (k2 s3 gives other numbers than the cpu backend); the same convolution
 * with the padding spelled out is right.
 */
function conv2D(args: WasmKernelArgs): tf.TensorInfo {
  const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  return (
    winogradConvolution(args.backend, x, filter, undefined, args.attrs) ?? stockConv2DExplicitPadding(args)
  );
}

export const conv2DConfig = wasmKernelConfig(Conv2D, conv2D);
