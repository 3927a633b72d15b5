import * as tf from '@tensorflow/tfjs';
import { UnsortedSegmentSum } from '@tensorflow/tfjs';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';

/** Sums rows of x into the segments their ids name (the gradient of gather); ids out of range are dropped. */
function unsortedSegmentSum({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const segments = attrs.numSegments as number;
  const rowShape = x.shape.slice(segmentIds.shape.length);
  const out = backend.makeOutput([segments, ...rowShape], x.dtype);
  const values = backend.typedArrayFromHeap(x) as Float32Array | Int32Array;
  const ids = backend.typedArrayFromHeap(segmentIds) as Int32Array;
  const totals = backend.typedArrayFromHeap(out) as Float32Array | Int32Array;
  totals.fill(0);
  const width = tf.util.sizeFromShape(rowShape);
  for (let row = 0; row < ids.length; row++) {
    const id = ids[row]!;
    if (id < 0 || id >= segments) continue;
    for (let i = 0; i < width; i++) totals[id * width + i] += values[row * width + i]!;
  }
  return out;
}

export const unsortedSegmentSumConfig = wasmKernelConfig(UnsortedSegmentSum, unsortedSegmentSum);
