import type * as tf from '@tensorflow/tfjs';

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
