import * as tf from '@tensorflow/tfjs';
import { DepthwiseConv2dNativeBackpropFilter } from '@tensorflow/tfjs';
import { depthwiseInfo, forEachDepthwiseTap } from '../depthwise.js';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';

/** dW[r, c, ci, m] = sum over n, i, j of x[n, i*s + r - top, j*s + c - left, ci] * dy[n, i, j, ci*M + m]. */
function depthwiseConv2dBackpropFilter({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const filterShape = attrs.filterShape as [number, number, number, number];
  const info = depthwiseInfo(x.shape, filterShape, attrs);
  const multiplier = filterShape[3];
  const channels = info.outChannels;
  const out = backend.makeOutput(filterShape, 'float32');
  const input = backend.typedArrayFromHeap(x) as Float32Array;
  const grad = backend.typedArrayFromHeap(dy) as Float32Array;
  const totals = new Float64Array(tf.util.sizeFromShape(filterShape));
  forEachDepthwiseTap(info, (output, at, tap) => {
    for (let d = 0; d < channels; d++)
      totals[tap + d] += input[at + Math.floor(d / multiplier)]! * grad[output + d]!;
  });
  (backend.typedArrayFromHeap(out) as Float32Array).set(totals);
  return out;
}

export const depthwiseConv2dBackpropFilterConfig = wasmKernelConfig(
  DepthwiseConv2dNativeBackpropFilter,
  depthwiseConv2dBackpropFilter,
);
