import type * as tf from '@tensorflow/tfjs';

/** A correction of a stock webgpu kernel: a kernel built around the stock one, which it calls for the cases that are right. */
export interface KernelFix {
  kernelName: string;
  wrap(stock: tf.KernelFunc): tf.KernelFunc;
}

/** The parts of the tfjs webgpu backend a fix reads (not in TF.js's exported types). */
export interface WebgpuBackendInternals {
  device: { limits: Record<string, number> };
  disposeData(dataId: object): void;
}
