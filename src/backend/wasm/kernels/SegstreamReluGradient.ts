import type * as tf from '@tensorflow/tfjs';
import { RELU_GRADIENT } from '../../fusedKernels.js';
import { activeWasmHeap } from '../backendHeap.js';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { heapFunction } from '../simd/heapFunctions.js';
import { RELU_GRADIENT_PRODUCTS } from '../simd/reluGradientProducts.js';

/** RELU_GRADIENT on wasm: one SIMD pass where the stock gradient runs Step and then Multiply. */
function reluGradient({ inputs, backend }: WasmKernelArgs): tf.TensorInfo {
  const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
  const out = backend.makeOutput(x.shape, 'float32');
  const [gradient, input, target] = [dy, x, out].map(
    (t) => backend.typedArrayFromHeap(t) as Float32Array,
  ) as [Float32Array, Float32Array, Float32Array];
  const heap = activeWasmHeap();
  const vectors = heap ? target.length >> 2 : 0;
  if (heap)
    heapFunction(heap.memory, RELU_GRADIENT_PRODUCTS)(
      gradient.byteOffset,
      input.byteOffset,
      target.byteOffset,
      vectors,
    );
  for (let i = 4 * vectors; i < target.length; i++) {
    const value = input[i]!;
    target[i] = gradient[i]! * (Number.isNaN(value) ? NaN : value > 0 ? 1 : 0);
  }
  return out;
}

export const reluGradientConfig = wasmKernelConfig(RELU_GRADIENT, reluGradient);
