import * as tf from '@tensorflow/tfjs';
import { Slice } from '@tensorflow/tfjs';
import { copyBox, type NumericArray } from '../dataMovement.js';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { stockKernel } from '../stockKernels.js';

/** Slice reading the input in place. The stock kernel first copies the whole input out of wasm memory. */
export function slice({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  const [begin, size] = tf.slice_util.parseSliceParams(
    x as tf.TensorInfo & tf.Tensor,
    attrs.begin as number[],
    attrs.size as number[],
  );
  if (x.dtype === 'string') return stockKernel(Slice)({ inputs, backend, attrs }) as tf.TensorInfo;
  const out = backend.makeOutput(size, x.dtype);
  if (tf.util.sizeFromShape(size) > 0) {
    copyBox(
      backend.typedArrayFromHeap(x) as NumericArray,
      x.shape,
      begin,
      size,
      backend.typedArrayFromHeap(out) as NumericArray,
    );
  }
  return out;
}

export const sliceConfig = wasmKernelConfig(Slice, slice);
