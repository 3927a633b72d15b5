import type * as tf from '@tensorflow/tfjs';
import { OneHot } from '@tensorflow/tfjs';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';

/** One-hot with the requested dtype's own representation of on and off values. */
function oneHot({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  const { indices } = inputs as { indices: tf.TensorInfo };
  const depth = attrs.depth as number;
  const onValue = (attrs.onValue as number) ?? 1;
  const offValue = (attrs.offValue as number) ?? 0;
  const dtype = (attrs.dtype as tf.DataType) ?? 'int32';
  const out = backend.makeOutput([...indices.shape, depth], dtype);
  const ids = backend.typedArrayFromHeap(indices);
  const data = backend.typedArrayFromHeap(out) as Float32Array | Int32Array;
  data.fill(offValue);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as number;
    if (id >= 0 && id < depth) data[i * depth + id] = onValue;
  }
  return out;
}

export const oneHotConfig = wasmKernelConfig(OneHot, oneHot);
