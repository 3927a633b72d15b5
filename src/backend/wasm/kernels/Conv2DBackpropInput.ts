import * as tf from '@tensorflow/tfjs';
import { Concat, Conv2D, Conv2DBackpropInput, DepthToSpace, Slice } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { activeWasmHeap } from '../backendHeap.js';
import { cropTrailing } from '../dataMovement.js';
import { disposeData, runKernel, type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { heapFunction } from '../simd/heapFunctions.js';
import { TRANSPOSE_4X4 } from '../simd/transpose4x4.js';
import { stockKernel } from '../stockKernels.js';

/** Taps t (inclusive range) for which filter row t*s + phase + pad lies in [0, k): those that reach output phase `phase`. */
function phaseTaps(k: number, s: number, pad: number, phase: number): { min: number; max: number } {
  return { min: Math.ceil((-phase - pad) / s), max: Math.floor((k - 1 - phase - pad) / s) };
}

/**
 * One stride-1 convolution of dy that computes the given output phases of dx at once: output phase (py, px)
 * at position q receives dy[q - t] * W[t*s + py + top] for each tap t in `rows` (and likewise for columns),
 * so the filter holds, per tap and phase, the matching filter row, and its output channels are (phase, input
 * channel). Every given phase must use every tap of `rows` and `cols` (the caller groups them so), so every
 * filter entry is written. The output is [N, ceil(H / s), ceil(W / s), phases * Ci].
 */
function phaseConvolution(
  backend: BackendWasm,
  dy: tf.TensorInfo,
  filter: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  phases: ReadonlyArray<readonly [number, number]>,
  rows: { min: number; max: number },
  cols: { min: number; max: number },
): tf.TensorInfo {
  const {
    strideHeight: s,
    filterWidth: kw,
    inChannels: ci,
    outChannels: co,
    inHeight: height,
    inWidth: width,
  } = info;
  const { top, left } = info.padInfo;
  const [, oh, ow] = dy.shape as [number, number, number, number];
  const th = rows.max - rows.min + 1;
  const tw = cols.max - cols.min + 1;
  const outChannels = phases.length * ci;
  const phased = backend.makeOutput([th, tw, co, outChannels], 'float32');
  // Views into wasm memory are taken after the allocation: growing the heap detaches older views.
  const weights = backend.typedArrayFromHeap(filter) as Float32Array;
  const phasedData = backend.typedArrayFromHeap(phased) as Float32Array;
  // Each tap's [Ci, Co] block lands transposed: 4x4 SIMD blocks where the channels allow (on small maps
  // with wide filters, Pix2Pix's innermost layers, moving the weights took longer than the convolution).
  const heap = activeWasmHeap();
  const transpose4x4 =
    heap && ci % 4 === 0 && co % 4 === 0 ? heapFunction(heap.memory, TRANSPOSE_4X4) : undefined;
  for (let u = 0; u < th; u++) {
    for (let v = 0; v < tw; v++) {
      phases.forEach(([py, px], phase) => {
        const r = (rows.max - u) * s + py + top;
        const c = (cols.max - v) * s + px + left;
        const from = (r * kw + c) * ci * co;
        const to = (u * tw + v) * co * outChannels + phase * ci;
        if (transpose4x4) {
          transpose4x4(
            weights.byteOffset + 4 * from,
            phasedData.byteOffset + 4 * to,
            ci / 4,
            co / 4,
            4 * co,
            4 * outChannels,
          );
          return;
        }
        for (let cin = 0; cin < ci; cin++) {
          for (let cout = 0; cout < co; cout++)
            phasedData[to + cout * outChannels + cin] = weights[from + cin * co + cout]!;
        }
      });
    }
  }
  const bottom = Math.ceil(height / s) - oh - rows.min;
  const right = Math.ceil(width / s) - ow - cols.min;
  const source =
    bottom < 0 || right < 0 ? cropTrailing(backend, dy, Math.max(0, -bottom), Math.max(0, -right)) : dy;
  const result = runKernel(
    backend,
    Conv2D,
    { x: source, filter: phased },
    {
      strides: [1, 1],
      pad: [
        [0, 0],
        [rows.max, Math.max(0, bottom)],
        [cols.max, Math.max(0, right)],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations: [1, 1],
    },
  );
  disposeData(backend, phased);
  if (source !== dy) disposeData(backend, source);
  return result;
}

/**
 * dx from dy and the filter, split into stride phases (see `phaseConvolution`), then DepthToSpace. No
 * zero-inserted input, so no multiplications by inserted zeros. Where every phase uses every tap of the
 * union of their tap ranges (a 2x2 stride-2 transposed convolution, any stride-1 one) one convolution
 * computes all phases; otherwise (4x4 stride 2: each phase uses 2 of 3 taps per axis) one per phase, which
 * does 4/9 of the arithmetic of a single one over the union.
 */
function conv2DBackpropInput({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const inputShape = attrs.inputShape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides as [number, number],
    1,
    attrs.pad as 'same',
    attrs.dimRoundingMode as 'floor' | undefined,
  );
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, inChannels: ci } = info;
  if (sh !== sw) return stockKernel(Conv2DBackpropInput)({ inputs, backend, attrs }) as tf.TensorInfo;
  const s = sh;
  const [n, height, width] = inputShape;
  const { top, left } = info.padInfo;
  const steps = Array.from({ length: s }, (_, p) => p);
  const rowTaps = steps.map((p) => phaseTaps(kh, s, top, p));
  const colTaps = steps.map((p) => phaseTaps(kw, s, left, p));
  const union = (ranges: Array<{ min: number; max: number }>) => ({
    min: Math.min(...ranges.map((r) => r.min)),
    max: Math.max(...ranges.map((r) => r.max)),
  });
  const [rows, cols] = [union(rowTaps), union(colTaps)];
  const phases = steps.flatMap((py) => steps.map((px) => [py, px] as const));
  const everyPhaseFull = [...rowTaps, ...colTaps].every((range, i) => {
    const whole = i < s ? rows : cols;
    return range.min === whole.min && range.max === whole.max;
  });
  let stacked: tf.TensorInfo;
  if (everyPhaseFull) {
    stacked = phaseConvolution(backend, dy, filter, info, phases, rows, cols);
  } else {
    const parts = phases.map(([py, px]) => {
      const [r, c] = [rowTaps[py]!, colTaps[px]!];
      if (r.min <= r.max && c.min <= c.max)
        return phaseConvolution(backend, dy, filter, info, [[py, px]], r, c);
      // A phase that no tap reaches (filter smaller than the stride) is zero.
      const zeros = backend.makeOutput([n, Math.ceil(height / s), Math.ceil(width / s), ci], 'float32');
      (backend.typedArrayFromHeap(zeros) as Float32Array).fill(0);
      return zeros;
    });
    // Concat takes its inputs as an array, as the engine passes them.
    stacked = runKernel(backend, Concat, parts as unknown as tf.NamedTensorInfoMap, { axis: 3 });
    disposeData(backend, ...parts);
  }
  if (s === 1) return stacked;
  const interleaved = runKernel(backend, DepthToSpace, { x: stacked }, { blockSize: s, dataFormat: 'NHWC' });
  disposeData(backend, stacked);
  if (Math.ceil(height / s) * s === height && Math.ceil(width / s) * s === width) return interleaved;
  const result = runKernel(
    backend,
    Slice,
    { x: interleaved },
    { begin: [0, 0, 0, 0], size: [n, height, width, ci] },
  );
  disposeData(backend, interleaved);
  return result;
}

export const conv2DBackpropInputConfig = wasmKernelConfig(Conv2DBackpropInput, conv2DBackpropInput);
