import type * as tf from '@tensorflow/tfjs';
import { Exp } from '@tensorflow/tfjs';
import { activeWasmHeap } from '../backendHeap.js';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { EXP } from '../simd/exp.js';
import { heapFunction } from '../simd/heapFunctions.js';
import { stockKernel } from '../stockKernels.js';

/**
 * Exp of float32 tensors in SIMD: the stock kernel calls the scalar function, about 10 ns a value (30 ms of
 * a UNet step, in the softmax of its loss). Within 2 units in the last place of the rounded exact value.
 */
function exp({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  const heap = activeWasmHeap();
  if (x.dtype !== 'float32' || !heap) return stockKernel(Exp)({ inputs, backend, attrs }) as tf.TensorInfo;
  const out = backend.makeOutput(x.shape, 'float32');
  const source = backend.typedArrayFromHeap(x) as Float32Array;
  const target = backend.typedArrayFromHeap(out) as Float32Array;
  const vectors = source.length >> 2;
  heapFunction(heap.memory, EXP)(source.byteOffset, target.byteOffset, vectors);
  for (let i = 4 * vectors; i < source.length; i++) target[i] = Math.exp(source[i]!);
  return out;
}

export const expConfig = wasmKernelConfig(Exp, exp);
