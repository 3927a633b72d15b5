import type * as tf from '@tensorflow/tfjs';
import { ADAM_UPDATE, type AdamUpdateInputs, adamConstants } from '../../fusedKernels.js';
import { activeWasmHeap } from '../backendHeap.js';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { ADAM_STEP } from '../simd/adamStep.js';
import { heapFunction } from '../simd/heapFunctions.js';

/** ADAM_UPDATE on wasm: the SIMD function over whole vectors, float32 arithmetic in JS for the rest. */
function adamUpdate({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo[] {
  const { value, gradient, firstMoment, secondMoment } = inputs as unknown as AdamUpdateInputs<tf.TensorInfo>;
  const constants = new Float32Array(Object.values(adamConstants(attrs)));
  const outputs = [value, firstMoment, secondMoment].map((t) => backend.makeOutput(t.shape, 'float32'));
  const heap = activeWasmHeap();
  const scratch = heap ? heap.backend.wasm._malloc(4 * constants.length) >>> 0 : 0;
  try {
    // Views after the allocation: growing the heap detaches older ones.
    const [w, g, m, v, wOut, mOut, vOut] = [value, gradient, firstMoment, secondMoment, ...outputs].map(
      (t) => backend.typedArrayFromHeap(t!) as Float32Array,
    ) as Float32Array[];
    const vectors = heap ? w!.length >> 2 : 0;
    if (heap) {
      new Float32Array(heap.memory.buffer, scratch, constants.length).set(constants);
      heapFunction(heap.memory, ADAM_STEP)(
        ...[w, g, m, v, wOut, mOut, vOut].map((t) => t!.byteOffset),
        vectors,
        scratch,
      );
    }
    const [b1, oneMinusB1, b2, oneMinusB2, c1, c2, eps, negativeRate] = constants as unknown as number[];
    const f = Math.fround;
    for (let i = 4 * vectors; i < w!.length; i++) {
      const gi = g![i]!;
      const mi = (mOut![i] = f(f(m![i]! * b1!) + f(gi * oneMinusB1!)));
      const vi = (vOut![i] = f(f(v![i]! * b2!) + f(f(gi * gi) * oneMinusB2!)));
      wOut![i] = f(f(f(f(mi / c1!) / f(f(Math.sqrt(f(vi / c2!))) + eps!)) * negativeRate!) + w![i]!);
    }
  } finally {
    if (heap) heap.backend.wasm._free(scratch);
  }
  return outputs;
}

export const adamUpdateConfig = wasmKernelConfig(ADAM_UPDATE, adamUpdate);
