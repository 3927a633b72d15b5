import * as tf from '@tensorflow/tfjs';
import { Concat } from '@tensorflow/tfjs';
import { copyEvenRuns, type NumericArray, wordRuns } from '../dataMovement.js';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { stockKernel } from '../stockKernels.js';

/**
 * Concat (of every U-Net skip connection): seen as 2-D, [outer, slab] with slab the size of the axes from
 * `axis` on, each input's slabs land evenly spaced in the output, one SIMD call per input. The stock kernel
 * copies row by row in JS. Inputs of other than 4-byte values or of mixed dtypes go to the stock kernel.
 */
function concat({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  const parts = (Object.values(inputs) as tf.TensorInfo[]).filter(
    (part) => tf.util.sizeFromShape(part.shape) > 0,
  );
  const first = parts[0];
  if (!first) return stockKernel(Concat)({ inputs, backend, attrs }) as tf.TensorInfo;
  const axis = tf.util.parseAxisParam(attrs.axis as number, first.shape)[0]!;
  const slab = (part: tf.TensorInfo) => tf.util.sizeFromShape(part.shape.slice(axis));
  const sample = backend.typedArrayFromHeap(first) as NumericArray;
  if (parts.length < 2 || !wordRuns(sample) || parts.some((part) => part.dtype !== first.dtype)) {
    return stockKernel(Concat)({ inputs, backend, attrs }) as tf.TensorInfo;
  }
  const outShape = tf.backend_util.computeOutShape(
    parts.map((part) => part.shape),
    axis,
  );
  const out = backend.makeOutput(outShape, first.dtype);
  const outer = tf.util.sizeFromShape(outShape.slice(0, axis));
  const outSlab = tf.util.sizeFromShape(outShape.slice(axis));
  const target = backend.typedArrayFromHeap(out) as NumericArray;
  let offset = 0;
  for (const part of parts) {
    copyEvenRuns(
      backend.typedArrayFromHeap(part) as NumericArray,
      0,
      slab(part),
      target,
      offset,
      outSlab,
      outer,
      slab(part),
    );
    offset += slab(part);
  }
  return out;
}

export const concatConfig = wasmKernelConfig(Concat, concat);
