import * as tf from '@tensorflow/tfjs';
import { Add, Mean, Multiply, type Sub, type Sum } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { activeWasmHeap } from './backendHeap.js';
import type { WasmKernelArgs, WasmKernelFunc } from './runKernel.js';
import { AFFINE_CHANNELS } from './simd/affineChannels.js';
import { GRADIENT_SUMS, SUM_ROWS } from './simd/channelSums.js';
import { heapFunction } from './simd/heapFunctions.js';
import { stockKernel } from './stockKernels.js';

/**
 * Per-channel arithmetic over tensors of shape [..., C]: affine maps with per-channel constants and column
 * sums in float64, by the SIMD functions of simd/affineChannels.ts and simd/channelSums.ts; and the kernel
 * functions made of them that Add, Sub and Multiply share (channelBroadcast), and Sum and Mean.
 */

/** Whether `t` holds one value per channel of the last axis (shape [C] or [1, ..., 1, C]). */
export function isChannelVector(t: tf.TensorInfo, channels: number): boolean {
  return (
    t.shape.length > 0 && t.shape.every((size, axis) => size === (axis === t.shape.length - 1 ? channels : 1))
  );
}

/** A per-channel input's values (copied out of the heap), or `fill` for an absent one. */
export function channelValues(
  backend: BackendWasm,
  t: tf.TensorInfo | undefined,
  channels: number,
  fill: number,
): Float32Array {
  if (!t) return new Float32Array(channels).fill(fill);
  const values = backend.typedArrayFromHeap(t) as Float32Array;
  return values.length === 1 ? new Float32Array(channels).fill(values[0]!) : values.slice();
}

/**
 * (x - shift[c]) * factor[c] + offset[c] over x's last axis of C channels, C a multiple of 4, written by the
 * SIMD function into a new tensor (float32 arithmetic, one rounding per operation).
 */
export function affineChannels(
  backend: BackendWasm,
  x: tf.TensorInfo,
  shift: Float32Array,
  factor: Float32Array,
  offset: Float32Array,
): tf.TensorInfo {
  const heap = activeWasmHeap()!;
  const channels = shift.length;
  const out = backend.makeOutput(x.shape, 'float32');
  const scratch = heap.backend.wasm._malloc(12 * channels) >>> 0;
  try {
    const constants = new Float32Array(heap.memory.buffer, scratch, 3 * channels);
    for (let group = 0; group < channels / 4; group++) {
      for (const [k, values] of [shift, factor, offset].entries())
        constants.set(values.subarray(4 * group, 4 * group + 4), 12 * group + 4 * k);
    }
    // Views are taken after the allocations: growing the heap detaches older views.
    const source = backend.typedArrayFromHeap(x) as Float32Array;
    const target = backend.typedArrayFromHeap(out) as Float32Array;
    heapFunction(heap.memory, AFFINE_CHANNELS)(
      source.byteOffset,
      target.byteOffset,
      source.length / channels,
      channels / 4,
      scratch,
    );
  } finally {
    heap.backend.wasm._free(scratch);
  }
  return out;
}

/**
 * Add, Sub and Multiply of a tensor and a per-channel vector or a single value (the batch-norm layers'
 * forward and backward passes are full of them) as one SIMD pass; the stock kernels broadcast at about
 * 1.2 ns a value. Same-shape operands and other broadcasts go to the stock kernel.
 */
export function channelBroadcast(kernelName: typeof Add | typeof Sub | typeof Multiply): WasmKernelFunc {
  return ({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo => {
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const [full, small] = tf.util.sizeFromShape(a.shape) >= tf.util.sizeFromShape(b.shape) ? [a, b] : [b, a];
    const channels = full.shape.at(-1) ?? 0;
    const broadcastsAlongChannels =
      small.shape.length <= full.shape.length &&
      (tf.util.sizeFromShape(small.shape) === 1 || isChannelVector(small, channels));
    // A rank-0 or empty `full` has no channel axis (channels 0): stock too.
    if (
      a.dtype !== 'float32' ||
      b.dtype !== 'float32' ||
      channels === 0 ||
      channels % 4 !== 0 ||
      full === small ||
      !broadcastsAlongChannels ||
      !activeWasmHeap()
    ) {
      return stockKernel(kernelName)({ inputs, backend, attrs }) as tf.TensorInfo;
    }
    const values = channelValues(backend, small, channels, 0);
    const zeros = new Float32Array(channels);
    const ones = new Float32Array(channels).fill(1);
    if (kernelName === Multiply) return affineChannels(backend, full, zeros, values, zeros);
    if (kernelName === Add) return affineChannels(backend, full, zeros, ones, values);
    // a - b, or b - a = -(a - b) when the per-channel operand comes first (negation is exact).
    return affineChannels(backend, full, values, small === a ? ones.map(() => -1) : ones, zeros);
  };
}

/** Sums of the columns of x seen as [rows, width], in float64: SIMD when width is a multiple of 4. */
export function columnSums(backend: BackendWasm, x: tf.TensorInfo, width: number): Float64Array {
  const rows = tf.util.sizeFromShape(x.shape) / width;
  const heap = activeWasmHeap();
  if (heap && width % 4 === 0) {
    const scratch = heap.backend.wasm._malloc(width * 8) >>> 0;
    try {
      new Float64Array(heap.memory.buffer, scratch, width).fill(0);
      const source = backend.typedArrayFromHeap(x) as Float32Array;
      heapFunction(heap.memory, SUM_ROWS)(source.byteOffset, rows, width / 4, scratch);
      return new Float64Array(heap.memory.buffer, scratch, width).slice();
    } finally {
      heap.backend.wasm._free(scratch);
    }
  }
  const values = backend.typedArrayFromHeap(x) as Float32Array;
  const totals = new Float64Array(width);
  for (let offset = 0; offset < values.length; offset += width) {
    for (let i = 0; i < width; i++) totals[i] += values[offset + i]!;
  }
  return totals;
}

/**
 * Sum or mean over leading axes (the bias and batch-norm gradients, batch-norm statistics: [N, H, W, C] to
 * [C]) in one pass with a float64 accumulator per output: SIMD when C is a multiple of 4, else a JS loop.
 * The stock kernels transpose the whole input first to make the reduced axes innermost. Other reductions
 * go to the stock kernel.
 */
export function reduceLeadingAxes(kernelName: typeof Sum | typeof Mean): WasmKernelFunc {
  return ({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo => {
    const { x } = inputs as { x: tf.TensorInfo };
    const axes = tf.util.parseAxisParam(attrs.axis as number | number[], x.shape).sort((a, b) => a - b);
    const leading = axes.every((axis, i) => axis === i);
    if (!leading || axes.length === 0 || axes.length === x.shape.length || x.dtype !== 'float32') {
      return stockKernel(kernelName)({ inputs, backend, attrs }) as tf.TensorInfo;
    }
    const kept = x.shape.slice(axes.length);
    const out = backend.makeOutput(attrs.keepDims ? [...axes.map(() => 1), ...kept] : kept, 'float32');
    const width = tf.util.sizeFromShape(kept);
    const rows = tf.util.sizeFromShape(x.shape) / width;
    const totals = columnSums(backend, x, width);
    if (kernelName === Mean) for (let i = 0; i < width; i++) totals[i] /= rows;
    (backend.typedArrayFromHeap(out) as Float32Array).set(totals);
    return out;
  };
}

/** Per channel: the sum of dy and of dy * (x - mean) over the rows of [rows, C] tensors, in float64. */
export function batchNormGradientSums(
  backend: BackendWasm,
  dy: tf.TensorInfo,
  x: tf.TensorInfo,
  means: Float32Array,
): { dySums: Float64Array; productSums: Float64Array } {
  const channels = means.length;
  const rows = tf.util.sizeFromShape(x.shape) / channels;
  const heap = activeWasmHeap();
  const dySums = new Float64Array(channels);
  const productSums = new Float64Array(channels);
  if (heap && channels % 4 === 0) {
    const groups = channels / 4;
    const scratch = heap.backend.wasm._malloc(80 * groups) >>> 0;
    try {
      new Float32Array(heap.memory.buffer, scratch, channels).set(means);
      const totalsAt = scratch + 16 * groups;
      new Float64Array(heap.memory.buffer, totalsAt, 8 * groups).fill(0);
      const [gradient, input] = [dy, x].map((t) => backend.typedArrayFromHeap(t) as Float32Array) as [
        Float32Array,
        Float32Array,
      ];
      heapFunction(heap.memory, GRADIENT_SUMS)(
        gradient.byteOffset,
        input.byteOffset,
        rows,
        groups,
        scratch,
        totalsAt,
      );
      const totals = new Float64Array(heap.memory.buffer, totalsAt, 8 * groups);
      for (let c = 0; c < channels; c++) {
        const at = 8 * (c >> 2) + (c & 3);
        dySums[c] = totals[at]!;
        productSums[c] = totals[at + 4]!;
      }
    } finally {
      heap.backend.wasm._free(scratch);
    }
    return { dySums, productSums };
  }
  const gradient = backend.typedArrayFromHeap(dy) as Float32Array;
  const input = backend.typedArrayFromHeap(x) as Float32Array;
  for (let i = 0; i < gradient.length; i++) {
    const c = i % channels;
    dySums[c] += gradient[i]!;
    productSums[c] += gradient[i]! * (input[i]! - means[c]!);
  }
  return { dySums, productSums };
}
