import * as tf from '@tensorflow/tfjs';
import { isWasmMemory, type WasmMemory } from './simd/heapFunctions.js';

/** The wasm backend, as far as the heap functions use it. */
export interface WasmBackendInternals {
  wasm: {
    _malloc(bytes: number): number;
    _free(pointer: number): void;
    wasmMemory?: WasmMemory;
    asm?: { memory?: WasmMemory };
  };
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
}

/** The wasm backend and its memory when it is the active backend and its memory can be reached; else undefined. */
export function activeWasmHeap(): { backend: WasmBackendInternals; memory: WasmMemory } | undefined {
  return tf.getBackend() === 'wasm' ? wasmHeap() : undefined;
}

/** The wasm backend (registered, active or not) and its memory, when it has been initialised; else undefined. */
export function wasmHeap(): { backend: WasmBackendInternals; memory: WasmMemory } | undefined {
  const backend = tf.findBackend('wasm') as unknown as WasmBackendInternals | null;
  const memory = backend?.wasm.wasmMemory ?? backend?.wasm.asm?.memory;
  return backend && isWasmMemory(memory) ? { backend, memory } : undefined;
}
