import type * as tf from '@tensorflow/tfjs';
import { Identity } from '@tensorflow/tfjs';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';

/**
 * Identity shares its input's buffer, counted once more, as the cpu and webgl backends do (tensors are
 * immutable: no kernel writes into its inputs). The stock wasm kernel copied it: 0.1 s of a UNet step.
 */
export function identity({ inputs, backend }: WasmKernelArgs): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

export const identityConfig = wasmKernelConfig(Identity, identity);
