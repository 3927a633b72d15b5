import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_TRAINING_GRADIENT } from '../../fusedKernels.js';
import { activeWasmHeap } from '../backendHeap.js';
import { batchNormGradientSums, channelValues } from '../channelArithmetic.js';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { AFFINE_TWO_INPUTS } from '../simd/affineChannels.js';
import { heapFunction } from '../simd/heapFunctions.js';

/**
 * The batch-norm training gradient (see BATCH_NORM_TRAINING_GRADIENT): with s = 1/sqrt(variance + eps),
 * G = sum of dy * (x - mean) and n rows, dScale = G s, dOffset = sum of dy, and dx = a dy + b (x - mean) + k
 * with a = scale s, b = -scale s^3 G / n, k = -scale s (sum of dy) / n. Two passes over x, float64 sums.
 */
function batchNormTrainingGradient({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo[] {
  const { dy, x, mean, variance, scale } = inputs as Record<
    'dy' | 'x' | 'mean' | 'variance' | 'scale',
    tf.TensorInfo
  >;
  const channels = x.shape.at(-1) ?? 0;
  const rows = channels === 0 ? 0 : tf.util.sizeFromShape(x.shape) / channels;
  const epsilon = attrs.varianceEpsilon as number;
  const means = channelValues(backend, mean, channels, 0);
  const variances = channelValues(backend, variance, channels, 0);
  const scales = channelValues(backend, scale, channels, 1);
  const { dySums, productSums } = batchNormGradientSums(backend, dy, x, means);
  const inverseStd = Array.from(variances, (v) => 1 / Math.sqrt(v + epsilon));
  const a = new Float32Array(channels);
  const b = new Float32Array(channels);
  const k = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const s = inverseStd[c]!;
    a[c] = scales[c]! * s;
    b[c] = (-scales[c]! * s * s * s * productSums[c]!) / rows;
    k[c] = (-scales[c]! * s * dySums[c]!) / rows;
  }
  const dScale = backend.makeOutput([channels], 'float32');
  (backend.typedArrayFromHeap(dScale) as Float32Array).set(productSums.map((g, c) => g * inverseStd[c]!));
  const dOffset = backend.makeOutput([channels], 'float32');
  (backend.typedArrayFromHeap(dOffset) as Float32Array).set(dySums);
  const dx = backend.makeOutput(x.shape, 'float32');
  const heap = activeWasmHeap();
  if (heap && channels % 4 === 0) {
    const groups = channels / 4;
    const scratch = heap.backend.wasm._malloc(64 * groups) >>> 0;
    try {
      const constants = new Float32Array(heap.memory.buffer, scratch, 16 * groups);
      for (let group = 0; group < groups; group++) {
        for (const [field, values] of [means, a, b, k].entries())
          constants.set(values.subarray(4 * group, 4 * group + 4), 16 * group + 4 * field);
      }
      const [gradient, input, target] = [dy, x, dx].map(
        (t) => backend.typedArrayFromHeap(t) as Float32Array,
      ) as [Float32Array, Float32Array, Float32Array];
      heapFunction(heap.memory, AFFINE_TWO_INPUTS)(
        gradient.byteOffset,
        input.byteOffset,
        target.byteOffset,
        rows,
        groups,
        scratch,
      );
    } finally {
      heap.backend.wasm._free(scratch);
    }
  } else {
    const [gradient, input, target] = [dy, x, dx].map(
      (t) => backend.typedArrayFromHeap(t) as Float32Array,
    ) as [Float32Array, Float32Array, Float32Array];
    for (let i = 0; i < target.length; i++) {
      const c = i % channels;
      target[i] = gradient[i]! * a[c]! + (input[i]! - means[c]!) * b[c]! + k[c]!;
    }
  }
  return [dx, dScale, dOffset];
}

export const batchNormTrainingGradientConfig = wasmKernelConfig(
  BATCH_NORM_TRAINING_GRADIENT,
  batchNormTrainingGradient,
);
