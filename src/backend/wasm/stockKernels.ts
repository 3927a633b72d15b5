import * as tf from '@tensorflow/tfjs';
import type { WasmKernelArgs } from './runKernel.js';

/**
 * The wasm backend's own kernels that `registerWasmTrainingKernels` replaced, by kernel name: a replacement
 * hands them the cases it does not take (other layouts, dtypes, paddings).
 */
const stockKernels = new Map<string, tf.KernelFunc>();

/** Keeps the stock kernel that a training kernel is about to replace. */
export function keepStockKernel(kernel: tf.KernelConfig): void {
  stockKernels.set(kernel.kernelName, kernel.kernelFunc);
}

/** The stock wasm kernel that the training kernel of this name replaced. */
export function stockKernel(kernelName: string): tf.KernelFunc {
  const kernelFunc = stockKernels.get(kernelName);
  if (!kernelFunc) throw new Error(`the wasm backend had no ${kernelName} kernel to fall back to`);
  return kernelFunc;
}

/**
 * The stock Conv2D or FusedConv2D with 'same' padding spelled out: the stock kernels compute 'same' padding
 * wrongly when the stride exceeds the kernel (k2 s3 gives other numbers than the cpu backend), and the same
 * convolution with explicit padding is right.
 */
export function stockConvolutionExplicitPadding(
  kernelName: typeof tf.Conv2D | typeof tf.FusedConv2D,
  { inputs, backend, attrs }: WasmKernelArgs,
): tf.TensorInfo {
  if (attrs.pad !== 'same') return stockKernel(kernelName)({ inputs, backend, attrs }) as tf.TensorInfo;
  const { x, filter } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    attrs.strides as [number, number],
    attrs.dilations as [number, number],
    'same',
  );
  const { top, bottom, left, right } = info.padInfo;
  return stockKernel(kernelName)({
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
