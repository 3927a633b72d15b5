import * as tf from '@tensorflow/tfjs';
import { Transpose } from '@tensorflow/tfjs';
import { activeWasmHeap } from '../backendHeap.js';
import type { NumericArray } from '../dataMovement.js';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { heapFunction } from '../simd/heapFunctions.js';
import { TRANSPOSE_4X4 } from '../simd/transpose4x4.js';
import { stockKernel } from '../stockKernels.js';

/**
 * Transpose that swaps the last two axes of 4-byte values, the columns a multiple of 4 (the filter
 * gradient's im2col source; the rank-3 stock kernel moves ~3 ns a value): 4x4 SIMD blocks, the last rows
 * that do not fill a block in JS. Other permutations go to the stock kernel.
 */
function transpose({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  const perm = attrs.perm as number[];
  const rank = x.shape.length;
  const swapsLastTwo = rank >= 2 && perm.every((axis, i) => axis === (i < rank - 2 ? i : 2 * rank - 3 - i));
  const [rows, columns] = [x.shape[rank - 2] ?? 0, x.shape[rank - 1] ?? 0];
  if (
    !swapsLastTwo ||
    x.dtype === 'string' ||
    x.dtype === 'bool' ||
    columns % 4 !== 0 ||
    rows < 4 ||
    !activeWasmHeap()
  ) {
    return stockKernel(Transpose)({ inputs, backend, attrs }) as tf.TensorInfo;
  }
  const out = backend.makeOutput(
    perm.map((axis) => x.shape[axis]!),
    x.dtype,
  );
  const source = backend.typedArrayFromHeap(x) as NumericArray;
  const target = backend.typedArrayFromHeap(out) as NumericArray;
  const matrices = tf.util.sizeFromShape(x.shape.slice(0, -2));
  const rowBlocks = Math.floor(rows / 4);
  const transpose4x4 = heapFunction(activeWasmHeap()!.memory, TRANSPOSE_4X4);
  for (let m = 0; m < matrices; m++) {
    const offset = m * rows * columns;
    transpose4x4(
      source.byteOffset + 4 * offset,
      target.byteOffset + 4 * offset,
      rowBlocks,
      columns / 4,
      4 * columns,
      4 * rows,
    );
    for (let row = 4 * rowBlocks; row < rows; row++) {
      for (let column = 0; column < columns; column++)
        target[offset + column * rows + row] = source[offset + row * columns + column]!;
    }
  }
  return out;
}

export const transposeConfig = wasmKernelConfig(Transpose, transpose);
