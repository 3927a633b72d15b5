import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** What the engine hands a wasm kernel. */
export interface WasmKernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: tf.NamedAttrMap;
}

export type WasmKernelFunc = (args: WasmKernelArgs) => tf.TensorInfo | tf.TensorInfo[];

/**
 * The KernelConfig of a wasm kernel. TF.js types every kernel as taking any backend and optional attrs; the
 * engine hands a wasm kernel the BackendWasm, and the ops that run these kernels pass their attrs.
 */
export function wasmKernelConfig(kernelName: string, kernelFunc: WasmKernelFunc): tf.KernelConfig {
  return { kernelName, backendName: 'wasm', kernelFunc: kernelFunc as tf.KernelFunc };
}

/** Runs a registered wasm kernel directly (no tape, no engine bookkeeping); the caller disposes the result. */
export function runKernel(
  backend: BackendWasm,
  kernelName: string,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap = {},
): tf.TensorInfo {
  const kernel = tf.getKernel(kernelName, 'wasm');
  if (!kernel) throw new Error(`wasm backend has no ${kernelName} kernel`);
  return kernel.kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo;
}

/** Frees the wasm memory of results of `runKernel` (or `makeOutput`) that a kernel no longer needs. */
export function disposeData(backend: BackendWasm, ...infos: tf.TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}
