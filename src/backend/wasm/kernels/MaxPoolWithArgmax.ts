import type * as tf from '@tensorflow/tfjs';
import { MaxPoolWithArgmax } from '@tensorflow/tfjs';
import { forEachWindowMaximum, poolInfo } from '../pooling.js';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';

/**
 * Max pooling with the flat index of each maximum. The stock kernel starts its running maximum at FLT_MIN,
 * the smallest positive float, so windows whose values are all <= 0 come out wrong.
 */
function maxPoolWithArgmax({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo[] {
  const { x } = inputs as { x: tf.TensorInfo };
  const info = poolInfo(x.shape, attrs);
  const pooled = backend.makeOutput(info.outShape, 'float32');
  const indexes = backend.makeOutput(info.outShape, 'int32');
  const values = backend.typedArrayFromHeap(x) as Float32Array;
  const pooledData = backend.typedArrayFromHeap(pooled) as Float32Array;
  const indexData = backend.typedArrayFromHeap(indexes) as Int32Array;
  const perImage = info.inHeight * info.inWidth * info.inChannels;
  const withBatch = attrs.includeBatchInIndex === true;
  forEachWindowMaximum(info, values, (output, at) => {
    pooledData[output] = at >= 0 ? values[at]! : -Infinity;
    indexData[output] = withBatch || at < 0 ? at : at % perImage;
  });
  return [pooled, indexes];
}

export const maxPoolWithArgmaxConfig = wasmKernelConfig(MaxPoolWithArgmax, maxPoolWithArgmax);
