import type * as tf from '@tensorflow/tfjs';
import { DepthwiseConv2dNativeBackpropInput } from '@tensorflow/tfjs';
import { depthwiseInfo, forEachDepthwiseTap } from '../depthwise.js';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';

/** dx[n, y, x, ci] = sum over the taps that read it of dy[n, i, j, ci*M + m] * W[r, c, ci, m]. */
function depthwiseConv2dBackpropInput({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const inputShape = attrs.inputShape as [number, number, number, number];
  const info = depthwiseInfo(inputShape, filter.shape, attrs);
  const multiplier = filter.shape[3]!;
  const channels = info.outChannels;
  const out = backend.makeOutput(inputShape, 'float32');
  const weights = backend.typedArrayFromHeap(filter) as Float32Array;
  const grad = backend.typedArrayFromHeap(dy) as Float32Array;
  const dx = backend.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  forEachDepthwiseTap(info, (output, at, tap) => {
    for (let d = 0; d < channels; d++)
      dx[at + Math.floor(d / multiplier)] += grad[output + d]! * weights[tap + d]!;
  });
  return out;
}

export const depthwiseConv2dBackpropInputConfig = wasmKernelConfig(
  DepthwiseConv2dNativeBackpropInput,
  depthwiseConv2dBackpropInput,
);
