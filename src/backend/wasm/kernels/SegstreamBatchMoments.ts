import * as tf from '@tensorflow/tfjs';
import { BATCH_MOMENTS } from '../../fusedKernels.js';
import { batchNormGradientSums, columnSums } from '../channelArithmetic.js';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';

/**
 * BATCH_MOMENTS: the mean from one pass of column sums, the variance from a second that sums x (x - mean)
 * with the gradient's SIMD function, less mean * (sum of x - n mean), which is the sum of (x - mean)^2
 * without the float32 mean's rounding. Both passes read x only; the stock moments write two x-sized tensors.
 */
function batchMoments({ inputs, backend }: WasmKernelArgs): tf.TensorInfo[] {
  const { x } = inputs as { x: tf.TensorInfo };
  const channels = x.shape.at(-1) ?? 0;
  const rows = channels === 0 ? 0 : tf.util.sizeFromShape(x.shape) / channels;
  const means = Float32Array.from(columnSums(backend, x, channels), (sum) => sum / rows);
  const { dySums: sums, productSums } = batchNormGradientSums(backend, x, x, means);
  const mean = backend.makeOutput([channels], 'float32');
  (backend.typedArrayFromHeap(mean) as Float32Array).set(means);
  const variance = backend.makeOutput([channels], 'float32');
  (backend.typedArrayFromHeap(variance) as Float32Array).set(
    productSums.map((p, c) => (p - means[c]! * (sums[c]! - rows * means[c]!)) / rows),
  );
  return [mean, variance];
}

export const batchMomentsConfig = wasmKernelConfig(BATCH_MOMENTS, batchMoments);
