import type * as tf from '@tensorflow/tfjs';

/** A change to a stock webgpu kernel: a kernel built around the stock one, taking the cases it gets wrong or runs slowly and calling it for the rest. */
export interface KernelFix {
  kernelName: string;
  wrap(stock: tf.KernelFunc): tf.KernelFunc;
}

/** The parts of the tfjs webgpu backend a fix reads (not in TF.js's exported types). */
export interface WebgpuBackendInternals {
  device: { limits: Record<string, number> };
  disposeData(dataId: object): void;
}
