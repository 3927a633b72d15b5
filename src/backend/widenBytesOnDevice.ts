import * as tf from '@tensorflow/tfjs';
import { WIDEN_BYTES } from './fusedKernels.js';

/** Per-channel factors of a float32 widening: value * scale[c] + offset[c]. */
export interface ChannelFactors {
  scale: readonly number[];
  offset: readonly number[];
}

/**
 * The words the bytes are packed into, reused: the backend copies a tensor's values to the GPU as the first
 * program that reads it is encoded, inside the call that made it. A fresh buffer a batch cost its pages'
 * faults (5-14 ms at batch 64 of 256 px).
 */
let packing: Int32Array | undefined;

/**
 * A tensor of `shape` holding the bytes of `parts`, one after another, widened where the backend computes
 * (WIDEN_BYTES: webgpu): float32 as value * scale[c] + offset[c] for channel c on the last axis (pixels), or
 * int32 as they are (labels) when no factors are given. The bytes travel to the GPU packed four to a word,
 * a quarter of the widened size, and the CPU runs no loop over the values: at batch 64 of 256 px, making a
 * batch on webgpu took 140-160 ms of the main thread, the thread that also encodes each training step.
 * Undefined where the backend has no such kernel (build the values on the CPU then).
 */
export function widenBytesOnDevice(
  parts: readonly Uint8Array[],
  shape: number[],
  factors?: ChannelFactors,
): tf.Tensor | undefined {
  if (!tf.getKernel(WIDEN_BYTES, tf.getBackend())) return undefined;
  const size = shape.reduce((a, b) => a * b, 1);
  const words = Math.ceil(size / 4);
  if (!packing || packing.length < words) packing = new Int32Array(words);
  const bytes = new Uint8Array(packing.buffer, 0, 4 * words);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  if (offset !== size)
    throw new RangeError(`widenBytesOnDevice: ${offset} bytes for a tensor of ${size} values`);
  return tf.tidy(() => {
    const packed = tf.tensor1d(packing!.subarray(0, words), 'int32');
    const inputs: tf.NamedTensorMap = { packed };
    if (factors) inputs.factors = tf.tensor1d([...factors.scale, ...factors.offset], 'float32');
    const attrs = { shape, dtype: factors ? 'float32' : 'int32' };
    return tf.engine().runKernel(WIDEN_BYTES, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
  });
}
