import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type HeapFunctionSource, addLocal, addTo, f32x4, heapFunction, i32Load, i32Store, op, simd, v128Bits, v128Load, v128Store } from './wasm/simd/heapFunctions.js';
import { activeWasmHeap } from './wasm/backendHeap.js';
import { BLOCK_TILES, WINOGRAD_BLOCK_SIZES, winogradBlocks, winogradFilterGradientSource, winogradFilterSource } from './wasm/simd/winogradTiles.js';
import { runOnAllThreads, threadsSharingJobs } from './wasm/helperThread.js';
import { FILTER_GRADIENT_JOB, WINOGRAD_GRADIENT_JOB, WINOGRAD_JOB } from './wasm/helperJobs.js';
import { ADAM_UPDATE, BATCH_MOMENTS, BATCH_NORM_TRAINING_GRADIENT, RELU_GRADIENT } from './fusedKernels.js';
import { adamUpdate, exp, reluGradient, reluGradientConfig } from './wasmElementwiseKernels.js';

/**
 * Training kernels for the wasm backend. As shipped it lacks `Conv2DBackpropFilter` (so no convolution can
 * train), the depthwise-convolution gradients (so no separable convolution can train) and
 * `UnsortedSegmentSum` (the gradient of gather); its `MaxPoolGrad` gives gradients to batch 0 / channel 0
 * only, its float32 `OneHot` writes int32 bits, its `MaxPoolWithArgmax` is wrong for windows of values
 * <= 0; its `Conv2DBackpropInput` (the backward pass of every conv and the forward pass of every transposed
 * conv) is a scalar loop, its `Slice`/`SplitV`, `Sum` and `Mean` copy or transpose whole tensors first, and
 * its `Identity` copies. Each kernel here is built from fast XNNPACK convolutions or matrix products plus
 * data movement, or is a plain loop over wasm memory where the stock one is wrong or wasteful.
 */

type Attrs = Record<string, unknown>;
type Inputs = Record<string, tf.TensorInfo>;
interface KernelArgs {
  inputs: Inputs;
  backend: BackendWasm;
  attrs: Attrs;
}

/** Runs a registered wasm kernel directly (no tape, no engine bookkeeping); the caller disposes the result. */
function run(backend: BackendWasm, kernelName: string, inputs: Inputs, attrs: Attrs = {}): tf.TensorInfo {
  const kernel = tf.getKernel(kernelName, 'wasm');
  if (!kernel) throw new Error(`wasm backend has no ${kernelName} kernel`);
  return kernel.kernelFunc({ inputs, backend, attrs } as never) as tf.TensorInfo;
}

function dispose(backend: BackendWasm, ...infos: tf.TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/** Crops the trailing rows/columns of an NHWC tensor that negative padding would remove, or whole tiles added. */
function cropTrailing(backend: BackendWasm, x: tf.TensorInfo, rows: number, cols: number): tf.TensorInfo {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  return run(backend, 'Slice', { x }, { begin: [0, 0, 0, 0], size: [n, h - rows, w - cols, c] });
}

/**
 * x zero-padded (channels to `pairedChannels`) and split into its stride phases, [sh, sw, N * gridRows *
 * gridCols, pairedChannels]: padded row i*sh + r is row i + floor(r / sh) of phase r mod sh, and the grid
 * holds every tap of every output.
 */
function strideSplitGrid(backend: BackendWasm, x: tf.TensorInfo, info: tf.backend_util.Conv2DInfo, pairedChannels: number) {
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, outHeight: oh, outWidth: ow, inChannels: ci } = info;
  const [n, height, width] = x.shape as [number, number, number, number];
  const { top, left } = info.padInfo;
  const gridRows = oh - 1 + Math.ceil(kh / sh);
  const gridCols = ow - 1 + Math.ceil(kw / sw);
  const padded = run(backend, 'PadV2', { x }, {
    paddings: [[0, 0], [top, Math.max(0, gridRows * sh - height - top)], [left, Math.max(0, gridCols * sw - width - left)], [0, pairedChannels - ci]],
    constantValue: 0,
  });
  // Rows or columns past the last tap (a 'valid' convolution that does not use them) are cropped.
  const fitted = padded.shape[1]! > gridRows * sh || padded.shape[2]! > gridCols * sw
    ? run(backend, 'Slice', { x: padded }, { begin: [0, 0, 0, 0], size: [n, gridRows * sh, gridCols * sw, pairedChannels] })
    : padded;
  // Two transposes of rank 4, not one of rank 5 (the stock kernel was 10x slower at rank 6).
  const rowPhasesFirst = sh === 1
    ? fitted
    : run(backend, 'Transpose', { x: { ...fitted, shape: [n * gridRows, sh, gridCols, sw * pairedChannels] } }, { perm: [1, 0, 2, 3] });
  const phases = sw === 1
    ? rowPhasesFirst
    : run(backend, 'Transpose', { x: { ...rowPhasesFirst, shape: [sh, n * gridRows * gridCols, sw, pairedChannels] } }, { perm: [0, 2, 1, 3] });
  for (const t of new Set([padded, fitted, rowPhasesFirst])) if (t !== phases) dispose(backend, t);
  return { operands: phases, gridRows, gridCols, padTop: 0, padLeft: 0 };
}

/**
 * dW[r, c, ci, co] = sum over n, i, j of x[n, i*sh + r - top, j*sw + c - left, ci] * dy[n, i, j, co]. With
 * stride 1 and even channels x is read as it is, the taps that fall in the padding skipped; otherwise x,
 * zero-padded, is split into its stride phases (strideSplitGrid). Either way tap (r, c) of output pixel
 * (i, j) is a cell at a constant offset from (i, j): each tap's operand is read in place, and so is dy.
 * XNNPACK's matrix product, made for short shared dimensions, streams its operands from memory for every
 * tile of its output when the shared dimension is a layer's pixels (half the forward convolution's speed);
 * these products run over blocks of an output row, each block's dy read by every tap while in cache.
 */
function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const filterShape = attrs.filterShape as [number, number, number, number];
  const winograd = winogradFilterGradient(backend, x, dy, filterShape, attrs);
  if (winograd) return winograd;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filterShape, attrs.strides as [number, number], 1,
    attrs.pad as 'same', attrs.dimRoundingMode as 'floor' | undefined,
  );
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, outHeight: oh, outWidth: ow, inChannels: ci, outChannels: co } = info;
  const [n, height, width] = x.shape as [number, number, number, number];
  const { top, left } = info.padInfo;
  // The products take channels of x in pairs and of dy in whole vectors: zero channels complete them.
  const pairedChannels = ci + (ci % 2);
  const channels = 4 * Math.ceil(co / 4);
  const grid = sh === 1 && sw === 1 && pairedChannels === ci ? { operands: x, gridRows: height, gridCols: width, padTop: top, padLeft: left } : strideSplitGrid(backend, x, info, pairedChannels);
  const paddedDy = run(backend, 'PadV2', { x: dy }, { paddings: [[0, 0], [0, 0], [0, 0], [0, channels - co]], constantValue: 0 });
  const cropped = pairedChannels !== ci || channels !== co;
  const product = backend.makeOutput(cropped ? [kh, kw, pairedChannels, channels] : [kh, kw, ci, co], 'float32');
  (backend.typedArrayFromHeap(product) as Float32Array).fill(0);
  const [operands, gradient, sums] = [grid.operands, paddedDy, product].map((t) => backend.getMemoryOffset(t.dataId)) as [number, number, number];
  const { gridRows, gridCols, padTop, padLeft } = grid;
  // A single tap over an unpadded grid reads x and dy cell for cell: the batch is one row of cells, so
  // blocks span output rows (on 16 px maps per-row blocks reloaded the sums four times as often).
  const oneRow = kh === 1 && kw === 1 && gridRows === oh && gridCols === ow && padTop === 0 && padLeft === 0;
  const layout = oneRow ? { images: 1, outHeight: 1, outWidth: n * oh * ow, gridRows: 1, gridCols: n * oh * ow } : { images: n, outHeight: oh, outWidth: ow, gridRows, gridCols };
  const job = { operands, gradient, sums, ...layout, strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, pairedChannels, channels, padTop, padLeft };
  runOnAllThreads(activeWasmHeap()!.memory, FILTER_GRADIENT_JOB, job, pairedChannels / 2);
  dispose(backend, paddedDy, ...(grid.operands === x ? [] : [grid.operands]));
  if (!cropped) return product;
  const result = backend.makeOutput([kh, kw, ci, co], 'float32');
  copyBox(backend.typedArrayFromHeap(product) as Float32Array, [kh, kw, pairedChannels, channels], [0, 0, 0, 0], [kh, kw, ci, co], backend.typedArrayFromHeap(result) as Float32Array);
  dispose(backend, product);
  return result;
}

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
  backend: BackendWasm, dy: tf.TensorInfo, filter: tf.TensorInfo, info: tf.backend_util.Conv2DInfo,
  phases: ReadonlyArray<readonly [number, number]>, rows: { min: number; max: number }, cols: { min: number; max: number },
): tf.TensorInfo {
  const { strideHeight: s, filterWidth: kw, inChannels: ci, outChannels: co, inHeight: height, inWidth: width } = info;
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
  const transpose4x4 = heap && ci % 4 === 0 && co % 4 === 0 ? heapFunction(heap.memory, TRANSPOSE_4X4) : undefined;
  for (let u = 0; u < th; u++) {
    for (let v = 0; v < tw; v++) {
      phases.forEach(([py, px], phase) => {
        const r = (rows.max - u) * s + py + top;
        const c = (cols.max - v) * s + px + left;
        const from = (r * kw + c) * ci * co;
        const to = (u * tw + v) * co * outChannels + phase * ci;
        if (transpose4x4) {
          transpose4x4(weights.byteOffset + 4 * from, phasedData.byteOffset + 4 * to, ci / 4, co / 4, 4 * co, 4 * outChannels);
          return;
        }
        for (let cin = 0; cin < ci; cin++) {
          for (let cout = 0; cout < co; cout++) phasedData[to + cout * outChannels + cin] = weights[from + cin * co + cout]!;
        }
      });
    }
  }
  const bottom = Math.ceil(height / s) - oh - rows.min;
  const right = Math.ceil(width / s) - ow - cols.min;
  const source = bottom < 0 || right < 0 ? cropTrailing(backend, dy, Math.max(0, -bottom), Math.max(0, -right)) : dy;
  const result = run(backend, 'Conv2D', { x: source, filter: phased }, {
    strides: [1, 1],
    pad: [[0, 0], [rows.max, Math.max(0, bottom)], [cols.max, Math.max(0, right)], [0, 0]],
    dataFormat: 'NHWC',
    dilations: [1, 1],
  });
  dispose(backend, phased);
  if (source !== dy) dispose(backend, source);
  return result;
}

/**
 * dx from dy and the filter, split into stride phases (see `phaseConvolution`), then DepthToSpace. No
 * zero-inserted input, so no multiplications by inserted zeros. Where every phase uses every tap of the
 * union of their tap ranges (a 2x2 stride-2 transposed convolution, any stride-1 one) one convolution
 * computes all phases; otherwise (4x4 stride 2: each phase uses 2 of 3 taps per axis) one per phase, which
 * does 4/9 of the arithmetic of a single one over the union.
 */
function conv2DBackpropInput({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const inputShape = attrs.inputShape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(
    inputShape, filter.shape as [number, number, number, number], attrs.strides as [number, number], 1,
    attrs.pad as 'same', attrs.dimRoundingMode as 'floor' | undefined,
  );
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, inChannels: ci } = info;
  if (sh !== sw) return stockConv2DBackpropInput!({ inputs, backend, attrs } as never) as tf.TensorInfo;
  const s = sh;
  const [n, height, width] = inputShape;
  const { top, left } = info.padInfo;
  const steps = Array.from({ length: s }, (_, p) => p);
  const rowTaps = steps.map((p) => phaseTaps(kh, s, top, p));
  const colTaps = steps.map((p) => phaseTaps(kw, s, left, p));
  const union = (ranges: Array<{ min: number; max: number }>) => ({ min: Math.min(...ranges.map((r) => r.min)), max: Math.max(...ranges.map((r) => r.max)) });
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
      if (r.min <= r.max && c.min <= c.max) return phaseConvolution(backend, dy, filter, info, [[py, px]], r, c);
      // A phase that no tap reaches (filter smaller than the stride) is zero.
      const zeros = backend.makeOutput([n, Math.ceil(height / s), Math.ceil(width / s), ci], 'float32');
      (backend.typedArrayFromHeap(zeros) as Float32Array).fill(0);
      return zeros;
    });
    // Concat takes its inputs as an array, as the engine passes them.
    stacked = run(backend, 'Concat', parts as unknown as Inputs, { axis: 3 });
    dispose(backend, ...parts);
  }
  if (s === 1) return stacked;
  const interleaved = run(backend, 'DepthToSpace', { x: stacked }, { blockSize: s, dataFormat: 'NHWC' });
  dispose(backend, stacked);
  if (Math.ceil(height / s) * s === height && Math.ceil(width / s) * s === width) return interleaved;
  const result = run(backend, 'Slice', { x: interleaved }, { begin: [0, 0, 0, 0], size: [n, height, width, ci] });
  dispose(backend, interleaved);
  return result;
}

/**
 * DepthToSpace (NHWC) as block copies inside wasm memory: an input pixel's channels for one row of its output
 * block are blockSize * C consecutive floats, and they land consecutively. The stock kernel moves one value at
 * a time (about 40 ns a value here; it interleaves every stride-2 transposed convolution's output).
 */
function depthToSpace({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  const block = attrs.blockSize as number;
  if (attrs.dataFormat !== 'NHWC' || x.dtype !== 'float32') return stockDepthToSpace!({ inputs, backend, attrs } as never) as tf.TensorInfo;
  const [n, height, width, depth] = x.shape as [number, number, number, number];
  const channels = depth / (block * block);
  const out = backend.makeOutput([n, height * block, width * block, channels], 'float32');
  // Both views after the allocation (growing the heap detaches older ones); one view of the whole heap copies.
  const source = backend.typedArrayFromHeap(x) as Float32Array;
  const target = backend.typedArrayFromHeap(out) as Float32Array;
  const heap = new Float32Array(source.buffer);
  const [sourceStart, targetStart] = [source.byteOffset / 4, target.byteOffset / 4];
  const run = block * channels;
  for (let row = 0; row < n * height; row++) {
    for (let column = 0; column < width; column++) {
      const from = sourceStart + (row * width + column) * depth;
      for (let p = 0; p < block; p++) {
        const to = targetStart + ((row * block + p) * width + column) * run;
        heap.copyWithin(to, from + p * run, from + (p + 1) * run);
      }
    }
  }
  return out;
}

/**
 * Visits every pooling window with the flat input index of its first maximum (row-major; -1 for a window
 * entirely in the padding) and the window's flat output index.
 */
function forEachWindowMaximum(info: tf.backend_util.Conv2DInfo, x: Float32Array, visit: (output: number, maximumAt: number) => void): void {
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const { top, left } = info.padInfo;
  for (let b = 0; b < batchSize; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      const y0 = oy * strideHeight - top;
      for (let ox = 0; ox < outWidth; ox++) {
        const x0 = ox * strideWidth - left;
        for (let c = 0; c < channels; c++) {
          let best = -Infinity;
          let at = -1;
          for (let fy = 0; fy < filterHeight; fy++) {
            const y = y0 + fy;
            if (y < 0 || y >= inHeight) continue;
            for (let fx = 0; fx < filterWidth; fx++) {
              const xx = x0 + fx;
              if (xx < 0 || xx >= inWidth) continue;
              const index = ((b * inHeight + y) * inWidth + xx) * channels + c;
              if (x[index]! > best || at < 0) {
                best = x[index]!;
                at = index;
              }
            }
          }
          visit(((b * outHeight + oy) * outWidth + ox) * channels + c, at);
        }
      }
    }
  }
}

function poolInfo(shape: number[], attrs: Attrs): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computePool2DInfo(
    shape as [number, number, number, number], attrs.filterSize as [number, number], attrs.strides as [number, number], 1,
    attrs.pad as 'same', attrs.dimRoundingMode as 'floor' | undefined,
  );
}

/**
 * `maxPoolGrad2x2(x, dy, dx, rows, columns, groups, rowBytes, pixelBytes)`: for each of `rows` pairs of input
 * rows and `columns` windows in them, for each group of four channels, writes dy to the first maximum of the
 * window (row-major, strict comparisons as the scalar loop: NaN never wins) and 0 to its other three cells.
 * x and dx share one layout, addressed by one offset.
 */
const MAX_POOL_GRAD_2X2: HeapFunctionSource = (() => {
  // Parameters x 0, dy 1, dx 2, rows 3, columns 4, groups 5, rowBytes 6, pixelBytes 7; locals: offset 8,
  // columns left 9, groups left 10, x cell 11, dx cell 12; vectors: top left 13, top right 14, bottom left 15,
  // bottom right 16, running maximum 17, top right wins 18, bottom left wins 19, bottom right wins 20, dy 21.
  const cell = (base: number, right: boolean, bottom: boolean) => [
    op.localGet, base, ...(right ? [op.localGet, 7, op.i32Add] : []), ...(bottom ? [op.localGet, 6, op.i32Add] : []),
  ];
  const code = [...op.block, ...op.loop, op.localGet, 3, op.i32Eqz, op.brIf, 1, op.localGet, 4, op.localSet, 9];
  code.push(...op.block, ...op.loop, op.localGet, 9, op.i32Eqz, op.brIf, 1, op.localGet, 5, op.localSet, 10);
  code.push(...op.block, ...op.loop, op.localGet, 10, op.i32Eqz, op.brIf, 1);
  code.push(op.localGet, 0, op.localGet, 8, op.i32Add, op.localSet, 11, op.localGet, 2, op.localGet, 8, op.i32Add, op.localSet, 12);
  code.push(...cell(11, false, false), ...v128Load(0), op.localSet, 13, ...cell(11, true, false), ...v128Load(0), op.localSet, 14);
  code.push(...cell(11, false, true), ...v128Load(0), op.localSet, 15, ...cell(11, true, true), ...v128Load(0), op.localSet, 16);
  // Later cells win only when strictly greater than the maximum so far.
  code.push(op.localGet, 14, op.localGet, 13, ...simd(f32x4.gt), op.localSet, 18);
  code.push(op.localGet, 14, op.localGet, 13, op.localGet, 18, ...simd(v128Bits.bitselect), op.localSet, 17);
  code.push(op.localGet, 15, op.localGet, 17, ...simd(f32x4.gt), op.localSet, 19);
  code.push(op.localGet, 15, op.localGet, 17, op.localGet, 19, ...simd(v128Bits.bitselect), op.localSet, 17);
  code.push(op.localGet, 16, op.localGet, 17, ...simd(f32x4.gt), op.localSet, 20);
  code.push(op.localGet, 1, ...v128Load(0), op.localSet, 21);
  code.push(...cell(12, true, true), op.localGet, 21, op.localGet, 20, ...simd(v128Bits.and), ...v128Store(0));
  code.push(...cell(12, false, true), op.localGet, 21, op.localGet, 19, op.localGet, 20, ...simd(v128Bits.andNot), ...simd(v128Bits.and), ...v128Store(0));
  code.push(...cell(12, true, false), op.localGet, 21, op.localGet, 18, op.localGet, 19, ...simd(v128Bits.andNot), op.localGet, 20, ...simd(v128Bits.andNot), ...simd(v128Bits.and), ...v128Store(0));
  code.push(...cell(12, false, false), op.localGet, 21, op.localGet, 18, op.localGet, 19, ...simd(v128Bits.or), op.localGet, 20, ...simd(v128Bits.or), ...simd(v128Bits.andNot), ...v128Store(0));
  code.push(...addTo(8, 16), ...addTo(1, 16), ...addTo(10, -1), op.br, 0, op.end, op.end);
  // Past the window's right column, then (after the last window) past the row pair's bottom row.
  code.push(...addLocal(8, 7), ...addTo(9, -1), op.br, 0, op.end, op.end);
  code.push(...addLocal(8, 6), ...addTo(3, -1), op.br, 0, op.end, op.end);
  return { name: 'maxPoolGrad2x2', params: 8, i32Locals: 5, v128Locals: 9, code };
})();

/**
 * The 2x2, stride-2, unpadded case of maxPoolGrad (every U-Net pooling): windows do not overlap, so each
 * output gradient is written, not added, to the first maximum of its four values; with even sizes and
 * channels a multiple of 4 the windows cover dx and the SIMD function writes all of it.
 */
function maxPoolGrad2x2(info: tf.backend_util.Conv2DInfo, input: tf.TensorInfo, dy: tf.TensorInfo, out: tf.TensorInfo, backend: BackendWasm): void {
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  const [x, grad, dx] = [input, dy, out].map((t) => backend.typedArrayFromHeap(t) as Float32Array) as [Float32Array, Float32Array, Float32Array];
  const heap = activeWasmHeap();
  if (heap && channels % 4 === 0 && inHeight === 2 * outHeight && inWidth === 2 * outWidth) {
    heapFunction(heap.memory, MAX_POOL_GRAD_2X2)(x.byteOffset, grad.byteOffset, dx.byteOffset, batchSize * outHeight, outWidth, channels / 4, 4 * inWidth * channels, 4 * channels);
    return;
  }
  dx.fill(0);
  const rowStep = inWidth * channels;
  let output = 0;
  for (let b = 0; b < batchSize; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      const rowStart = (b * inHeight + 2 * oy) * rowStep;
      for (let ox = 0; ox < outWidth; ox++) {
        const windowStart = rowStart + 2 * ox * channels;
        for (let c = 0; c < channels; c++, output++) {
          const topLeft = windowStart + c;
          const bottomLeft = topLeft + rowStep;
          let at = topLeft;
          if (x[topLeft + channels]! > x[at]!) at = topLeft + channels;
          if (x[bottomLeft]! > x[at]!) at = bottomLeft;
          if (x[bottomLeft + channels]! > x[at]!) at = bottomLeft + channels;
          dx[at] = grad[output]!;
        }
      }
    }
  }
}

/** Routes each output gradient to the first maximum of its window (row-major), as the cpu backend does. */
function maxPoolGrad({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const out = backend.makeOutput(input.shape, 'float32');
  const info = poolInfo(input.shape, attrs);
  const { filterHeight, filterWidth, strideHeight, strideWidth, padInfo } = info;
  if (filterHeight === 2 && filterWidth === 2 && strideHeight === 2 && strideWidth === 2 && padInfo.top === 0 && padInfo.left === 0 && padInfo.bottom <= 0 && padInfo.right <= 0) {
    maxPoolGrad2x2(info, input, dy, out, backend);
  } else {
    const x = backend.typedArrayFromHeap(input) as Float32Array;
    const grad = backend.typedArrayFromHeap(dy) as Float32Array;
    const dx = backend.typedArrayFromHeap(out) as Float32Array;
    dx.fill(0);
    forEachWindowMaximum(info, x, (output, at) => {
      if (at >= 0) dx[at]! += grad[output]!;
    });
  }
  return out;
}

/**
 * Max pooling with the flat index of each maximum. The stock kernel starts its running maximum at FLT_MIN,
 * the smallest positive float, so windows whose values are all <= 0 come out wrong.
 */
function maxPoolWithArgmax({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
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

type NumericArray = Float32Array | Int32Array | Uint8Array;

/**
 * `copyRuns(source, sourceStep, target, targetStep, runs, words)`: copies `runs` runs of `words` 4-byte
 * words, the k-th from source + k * sourceStep to target + k * targetStep (byte addresses): 16-byte vectors,
 * then the words left over.
 */
const COPY_RUNS: HeapFunctionSource = (() => {
  // Parameters source 0, sourceStep 1, target 2, targetStep 3, runs 4, words 5; locals: from 6, to 7, words left 8.
  const code = [...op.block, ...op.loop, op.localGet, 4, op.i32Eqz, op.brIf, 1];
  code.push(op.localGet, 0, op.localSet, 6, op.localGet, 2, op.localSet, 7, op.localGet, 5, op.localSet, 8);
  code.push(...op.block, ...op.loop, op.localGet, 8, op.i32Const, 4, op.i32LtU, op.brIf, 1);
  code.push(op.localGet, 7, op.localGet, 6, ...v128Load(0), ...v128Store(0));
  code.push(...addTo(6, 16), ...addTo(7, 16), ...addTo(8, -4), op.br, 0, op.end, op.end);
  code.push(...op.block, ...op.loop, op.localGet, 8, op.i32Eqz, op.brIf, 1);
  code.push(op.localGet, 7, op.localGet, 6, ...i32Load(0), ...i32Store(0));
  code.push(...addTo(6, 4), ...addTo(7, 4), ...addTo(8, -1), op.br, 0, op.end, op.end);
  code.push(...addLocal(0, 1), ...addLocal(2, 3), ...addTo(4, -1), op.br, 0, op.end, op.end);
  return { name: 'copyRuns', params: 6, i32Locals: 3, v128Locals: 0, code };
})();

/** Whether copyEvenRuns can move `array`'s values: 4-byte values in the active wasm backend's memory. */
function wordRuns(array: NumericArray): boolean {
  return array.BYTES_PER_ELEMENT === 4 && activeWasmHeap() !== undefined;
}

/**
 * Copies `runs` runs of `length` 4-byte values (wordRuns), evenly spaced in source and target (steps in
 * values), with one SIMD call: a JS copy per run of a few channels costs more than the copy itself.
 */
function copyEvenRuns(source: NumericArray, from: number, sourceStep: number, target: NumericArray, to: number, targetStep: number, runs: number, length: number): void {
  heapFunction(activeWasmHeap()!.memory, COPY_RUNS)(source.byteOffset + 4 * from, 4 * sourceStep, target.byteOffset + 4 * to, 4 * targetStep, runs, length);
}

/**
 * Copies the box of `size` at `sourceBegin` in `source` (shape `sourceShape`) to `targetBegin` in `target`
 * (shape `targetShape`; by default the box itself, row-major), a row of evenly spaced runs (along axis
 * rank - 2) at a time: runs of 4-byte values in one copyEvenRuns call; of other types, long runs as block
 * copies and short ones in a plain loop, which beats creating a view per run.
 */
function copyBox(
  source: NumericArray, sourceShape: readonly number[], sourceBegin: readonly number[], size: readonly number[],
  target: NumericArray, targetShape: readonly number[] = size, targetBegin: readonly number[] = size.map(() => 0),
): void {
  if (sourceShape.length <= 1) {
    const [from, to, length] = [sourceBegin[0] ?? 0, targetBegin[0] ?? 0, size[0] ?? 1];
    target.set(source.subarray(from, from + length), to);
    return;
  }
  const rank = sourceShape.length;
  const sourceStrides = tf.util.computeStrides(sourceShape as number[]);
  const targetStrides = tf.util.computeStrides(targetShape as number[]);
  const runLength = size[rank - 1]!;
  const [runs, sourceStep, targetStep] = [size[rank - 2]!, sourceStrides[rank - 2]!, targetStrides[rank - 2]!];
  const wasmRuns = wordRuns(source);
  const groupAxes = rank - 2;
  const outer = size.slice(0, groupAxes).reduce((a, b) => a * b, 1);
  const position = new Array<number>(groupAxes).fill(0);
  for (let k = 0; k < outer; k++) {
    let from = sourceBegin[rank - 1]! + sourceBegin[rank - 2]! * sourceStep;
    let to = targetBegin[rank - 1]! + targetBegin[rank - 2]! * targetStep;
    for (let axis = 0; axis < groupAxes; axis++) {
      from += (sourceBegin[axis]! + position[axis]!) * sourceStrides[axis]!;
      to += (targetBegin[axis]! + position[axis]!) * targetStrides[axis]!;
    }
    if (wasmRuns) {
      copyEvenRuns(source, from, sourceStep, target, to, targetStep, runs, runLength);
    } else if (runLength >= 64) {
      for (let run = 0; run < runs; run++) target.set(source.subarray(from + run * sourceStep, from + run * sourceStep + runLength), to + run * targetStep);
    } else {
      for (let run = 0; run < runs; run++, from += sourceStep, to += targetStep) {
        for (let i = 0; i < runLength; i++) target[to + i] = source[from + i]!;
      }
    }
    for (let axis = groupAxes - 1; axis >= 0; axis--) {
      if (++position[axis]! < size[axis]!) break;
      position[axis] = 0;
    }
  }
}

/** Slice reading the input in place. The stock kernel first copies the whole input out of wasm memory. */
function slice({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  const [begin, size] = tf.slice_util.parseSliceParams(x as tf.TensorInfo & tf.Tensor, attrs.begin as number[], attrs.size as number[]);
  if (x.dtype === 'string') return stockSlice!({ inputs, backend, attrs } as never) as tf.TensorInfo;
  const out = backend.makeOutput(size, x.dtype);
  if (tf.util.sizeFromShape(size) > 0) {
    copyBox(backend.typedArrayFromHeap(x) as NumericArray, x.shape, begin, size, backend.typedArrayFromHeap(out) as NumericArray);
  }
  return out;
}

/**
 * PadV2 (the zero borders of every filter gradient and explicitly padded convolution): the output filled
 * with the constant, the input copied into it by copyBox. The stock kernel moves a value at a time (20 ms
 * for dy of a 256 px, 16-channel UNet layer). Without padding the output shares the input's buffer.
 */
function padV2({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  const paddings = attrs.paddings as Array<[number, number]>;
  if (x.dtype === 'string') return stockPadV2!({ inputs, backend, attrs } as never) as tf.TensorInfo;
  if (paddings.every(([before, after]) => before === 0 && after === 0)) return identity({ inputs, backend, attrs });
  const outShape = x.shape.map((size, axis) => paddings[axis]![0] + size + paddings[axis]![1]);
  const out = backend.makeOutput(outShape, x.dtype);
  // Views after the allocation: growing the heap detaches older views.
  const target = backend.typedArrayFromHeap(out) as NumericArray;
  target.fill(attrs.constantValue as number);
  if (tf.util.sizeFromShape(x.shape) > 0) {
    copyBox(backend.typedArrayFromHeap(x) as NumericArray, x.shape, x.shape.map(() => 0), x.shape, target, outShape, paddings.map(([before]) => before));
  }
  return out;
}

/** SplitV (the gradient of concatenation, so of every U-Net skip) as slices that read the input in place. */
function splitV({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const { x } = inputs as { x: tf.TensorInfo };
  const axis = tf.util.parseAxisParam(attrs.axis as number, x.shape)[0]!;
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, attrs.numOrSizeSplits as number[], axis);
  const begin = new Array<number>(x.shape.length).fill(0);
  return sizes.map((part) => {
    const size = [...x.shape];
    size[axis] = part;
    const piece = slice({ inputs: { x }, backend, attrs: { begin: [...begin], size } });
    begin[axis] += part;
    return piece;
  });
}

/** The first and last index j in [0, count) with j * step + offset inside [0, size), or undefined when none is. */
function runRange(count: number, step: number, offset: number, size: number): { first: number; last: number } | undefined {
  const first = Math.max(0, Math.ceil(-offset / step));
  const last = Math.min(count - 1, Math.floor((size - 1 - offset) / step));
  return first <= last ? { first, last } : undefined;
}

/**
 * Moves pixels between an NHWC image batch `full` [N, rows, cols, C] and its space-to-batch form `batched`
 * [bh * bw * N, gridRows, gridCols, C]: batched image (py * bw + px) * N + n, pixel (i, j) is full's pixel
 * (i * bh + py - top, j * bw + px - left) where that lies inside `full`. Each pixel's C values are one run;
 * a row of runs is one SIMD call (4-byte values).
 */
function copySpaceToBatchRows(
  full: { data: NumericArray; n: number; rows: number; cols: number },
  batched: { data: NumericArray; gridRows: number; gridCols: number },
  block: readonly number[], top: number, left: number, channels: number, towardBatched: boolean,
): void {
  const [bh, bw] = block as [number, number];
  for (let py = 0; py < bh; py++) {
    for (let px = 0; px < bw; px++) {
      const columns = runRange(batched.gridCols, bw, px - left, full.cols);
      for (let image = 0; image < full.n && columns; image++) {
        const batchedImage = (py * bw + px) * full.n + image;
        for (let i = 0; i < batched.gridRows; i++) {
          const y = i * bh + py - top;
          if (y < 0 || y >= full.rows) continue;
          const fullAt = ((image * full.rows + y) * full.cols + columns.first * bw + px - left) * channels;
          const batchedAt = ((batchedImage * batched.gridRows + i) * batched.gridCols + columns.first) * channels;
          const runs = columns.last - columns.first + 1;
          if (towardBatched) copyEvenRuns(full.data, fullAt, bw * channels, batched.data, batchedAt, channels, runs, channels);
          else copyEvenRuns(batched.data, batchedAt, channels, full.data, fullAt, bw * channels, runs, channels);
        }
      }
    }
  }
}

/** Whether x is NHWC with blocks over its two spatial axes and 4-byte values (copySpaceToBatchRows' case). */
function spatialBlocksOfRuns(backend: BackendWasm, x: tf.TensorInfo, block: readonly number[]): boolean {
  return x.shape.length === 4 && block.length === 2 && wordRuns(backend.typedArrayFromHeap(x) as NumericArray);
}

/**
 * SpaceToBatchND of an NHWC tensor over its two spatial axes (every atrous convolution's input), zero
 * padding included, by copySpaceToBatchRows. The stock kernel pads, then transposes at rank 6: with
 * BatchToSpaceND, a quarter of a DeepLabV3+ training step. Other layouts go to the stock kernel.
 */
function spaceToBatchND({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  const block = attrs.blockShape as number[];
  if (!spatialBlocksOfRuns(backend, x, block)) return stockSpaceToBatchND!({ inputs, backend, attrs } as never) as tf.TensorInfo;
  const [n, rows, cols, channels] = x.shape as [number, number, number, number];
  const [[top, bottom], [left, right]] = attrs.paddings as [[number, number], [number, number]];
  const [gridRows, gridCols] = [(rows + top + bottom) / block[0]!, (cols + left + right) / block[1]!];
  const out = backend.makeOutput([block[0]! * block[1]! * n, gridRows, gridCols, channels], x.dtype);
  const batched = backend.typedArrayFromHeap(out) as NumericArray;
  batched.fill(0);
  copySpaceToBatchRows({ data: backend.typedArrayFromHeap(x) as NumericArray, n, rows, cols }, { data: batched, gridRows, gridCols }, block, top, left, channels, true);
  return out;
}

/** BatchToSpaceND, the inverse of spaceToBatchND (then cropped), by copySpaceToBatchRows; other layouts go to the stock kernel. */
function batchToSpaceND({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  const block = attrs.blockShape as number[];
  if (!spatialBlocksOfRuns(backend, x, block)) return stockBatchToSpaceND!({ inputs, backend, attrs } as never) as tf.TensorInfo;
  const [batch, gridRows, gridCols, channels] = x.shape as [number, number, number, number];
  const [[top, bottom], [left, right]] = attrs.crops as [[number, number], [number, number]];
  const n = batch / (block[0]! * block[1]!);
  const [rows, cols] = [gridRows * block[0]! - top - bottom, gridCols * block[1]! - left - right];
  const out = backend.makeOutput([n, rows, cols, channels], x.dtype);
  // Views after the allocation: growing the heap detaches older views.
  copySpaceToBatchRows({ data: backend.typedArrayFromHeap(out) as NumericArray, n, rows, cols }, { data: backend.typedArrayFromHeap(x) as NumericArray, gridRows, gridCols }, block, top, left, channels, false);
  return out;
}

/** `i8x16.shuffle` of two vectors picking float lanes (0-3 from the first, 4-7 from the second). */
const shuffleFloats = (lanes: readonly number[]): number[] => [0xfd, 0x0d, ...lanes.flatMap((lane) => [0, 1, 2, 3].map((byte) => 4 * lane + byte))];

/**
 * `transpose4x4(source, target, rowBlocks, columnBlocks, sourceRowBytes, targetRowBytes)`: transposes a
 * matrix of 4 * rowBlocks rows and 4 * columnBlocks columns, a 4x4 block at a time (four loads, eight
 * shuffles, four stores).
 */
const TRANSPOSE_4X4: HeapFunctionSource = (() => {
  // Parameters source 0, target 1, rowBlocks 2, columnBlocks 3, sourceRowBytes 4, targetRowBytes 5;
  // i32 locals: from 6, to 7, blocks left 8, pointer 9; v128 locals: rows 10-13, pairs 14-17.
  const [FROM, TO, LEFT, POINTER, ROW, PAIR] = [6, 7, 8, 9, 10, 14];
  const code = [...op.block, ...op.loop, op.localGet, 2, op.i32Eqz, op.brIf, 1];
  code.push(op.localGet, 0, op.localSet, FROM, op.localGet, 1, op.localSet, TO, op.localGet, 3, op.localSet, LEFT);
  code.push(...op.block, ...op.loop, op.localGet, LEFT, op.i32Eqz, op.brIf, 1);
  code.push(op.localGet, FROM, op.localSet, POINTER);
  for (let k = 0; k < 4; k++) code.push(op.localGet, POINTER, ...v128Load(0), op.localSet, ROW + k, ...addLocal(POINTER, 4));
  // Pairs interleave rows 0/1 and 2/3; their halves combine into the four columns.
  for (const [k, first, lanes] of [[0, 0, [0, 4, 1, 5]], [1, 0, [2, 6, 3, 7]], [2, 2, [0, 4, 1, 5]], [3, 2, [2, 6, 3, 7]]] as const) {
    code.push(op.localGet, ROW + first, op.localGet, ROW + first + 1, ...shuffleFloats(lanes), op.localSet, PAIR + k);
  }
  code.push(op.localGet, TO, op.localSet, POINTER);
  for (const [pair, lanes] of [[0, [0, 1, 4, 5]], [0, [2, 3, 6, 7]], [1, [0, 1, 4, 5]], [1, [2, 3, 6, 7]]] as const) {
    code.push(op.localGet, POINTER, op.localGet, PAIR + pair, op.localGet, PAIR + pair + 2, ...shuffleFloats(lanes), ...v128Store(0), ...addLocal(POINTER, 5));
  }
  code.push(...addTo(FROM, 16), op.localGet, POINTER, op.localSet, TO, ...addTo(LEFT, -1), op.br, 0, op.end, op.end);
  code.push(op.localGet, 4, op.localGet, 4, op.i32Add, op.localGet, 4, op.i32Add, op.localGet, 4, op.i32Add, op.localGet, 0, op.i32Add, op.localSet, 0);
  code.push(...addTo(1, 16), ...addTo(2, -1), op.br, 0, op.end, op.end);
  return { name: 'transpose4x4', params: 6, i32Locals: 4, v128Locals: 8, code };
})();

/**
 * Transpose that swaps the last two axes of 4-byte values, the columns a multiple of 4 (the filter
 * gradient's im2col source; the rank-3 stock kernel moves ~3 ns a value): 4x4 SIMD blocks, the last rows
 * that do not fill a block in JS. Other permutations go to the stock kernel.
 */
function transpose({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  const perm = attrs.perm as number[];
  const rank = x.shape.length;
  const swapsLastTwo = rank >= 2 && perm.every((axis, i) => axis === (i < rank - 2 ? i : 2 * rank - 3 - i));
  const [rows, columns] = [x.shape[rank - 2] ?? 0, x.shape[rank - 1] ?? 0];
  if (!swapsLastTwo || x.dtype === 'string' || x.dtype === 'bool' || columns % 4 !== 0 || rows < 4 || !activeWasmHeap()) {
    return stockTranspose!({ inputs, backend, attrs } as never) as tf.TensorInfo;
  }
  const out = backend.makeOutput(perm.map((axis) => x.shape[axis]!), x.dtype);
  const source = backend.typedArrayFromHeap(x) as NumericArray;
  const target = backend.typedArrayFromHeap(out) as NumericArray;
  const matrices = tf.util.sizeFromShape(x.shape.slice(0, -2));
  const rowBlocks = Math.floor(rows / 4);
  const transpose4x4 = heapFunction(activeWasmHeap()!.memory, TRANSPOSE_4X4);
  for (let m = 0; m < matrices; m++) {
    const offset = m * rows * columns;
    transpose4x4(source.byteOffset + 4 * offset, target.byteOffset + 4 * offset, rowBlocks, columns / 4, 4 * columns, 4 * rows);
    for (let row = 4 * rowBlocks; row < rows; row++) {
      for (let column = 0; column < columns; column++) target[offset + column * rows + row] = source[offset + row * columns + column]!;
    }
  }
  return out;
}

/**
 * Concat (of every U-Net skip connection): seen as 2-D, [outer, slab] with slab the size of the axes from
 * `axis` on, each input's slabs land evenly spaced in the output, one SIMD call per input. The stock kernel
 * copies row by row in JS. Inputs of other than 4-byte values or of mixed dtypes go to the stock kernel.
 */
function concat({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const parts = Object.values(inputs).filter((part) => tf.util.sizeFromShape(part.shape) > 0);
  const first = parts[0];
  if (!first) return stockConcat!({ inputs, backend, attrs } as never) as tf.TensorInfo;
  const axis = tf.util.parseAxisParam(attrs.axis as number, first.shape)[0]!;
  const slab = (part: tf.TensorInfo) => tf.util.sizeFromShape(part.shape.slice(axis));
  const sample = backend.typedArrayFromHeap(first) as NumericArray;
  if (parts.length < 2 || !wordRuns(sample) || parts.some((part) => part.dtype !== first.dtype)) {
    return stockConcat!({ inputs, backend, attrs } as never) as tf.TensorInfo;
  }
  const outShape = tf.backend_util.computeOutShape(parts.map((part) => part.shape), axis);
  const out = backend.makeOutput(outShape, first.dtype);
  const outer = tf.util.sizeFromShape(outShape.slice(0, axis));
  const outSlab = tf.util.sizeFromShape(outShape.slice(axis));
  const target = backend.typedArrayFromHeap(out) as NumericArray;
  let offset = 0;
  for (const part of parts) {
    copyEvenRuns(backend.typedArrayFromHeap(part) as NumericArray, 0, slab(part), target, offset, outSlab, outer, slab(part));
    offset += slab(part);
  }
  return out;
}

/** `f64x2.promote_low_f32x4`, `f64x2.add`, and the shuffle that moves a vector's upper 8 bytes down. */
const F64X2_PROMOTE_LOW_F32X4 = 0x5f;
const F64X2_ADD = 0xf0;
const UPPER_HALF_DOWN = [0x0d, ...Array.from({ length: 16 }, (_, i) => 8 + (i % 8))];

/**
 * `sumRows(source, rows, groups, totals)`: adds each of `rows` rows of 4 * `groups` floats at `source` into
 * the float64 `totals`, four floats at a time, in row order (the order of the plain loop, so the same sums).
 */
const SUM_ROWS: HeapFunctionSource = (() => {
  // Parameters source 0, rows 1, groups 2, totals 3; locals: total pointer 4, groups left 5, four floats 6.
  const code = [...op.block, ...op.loop, op.localGet, 1, op.i32Eqz, op.brIf, 1];
  code.push(op.localGet, 3, op.localSet, 4, op.localGet, 2, op.localSet, 5);
  code.push(...op.block, ...op.loop, op.localGet, 5, op.i32Eqz, op.brIf, 1);
  code.push(op.localGet, 0, ...v128Load(0), op.localSet, 6);
  code.push(op.localGet, 4, op.localGet, 4, ...v128Load(0), op.localGet, 6, ...simd(F64X2_PROMOTE_LOW_F32X4), ...simd(F64X2_ADD), ...v128Store(0));
  code.push(op.localGet, 4, op.localGet, 4, ...v128Load(16), op.localGet, 6, op.localGet, 6, 0xfd, ...UPPER_HALF_DOWN);
  code.push(...simd(F64X2_PROMOTE_LOW_F32X4), ...simd(F64X2_ADD), ...v128Store(16));
  code.push(...addTo(0, 16), ...addTo(4, 32), ...addTo(5, -1), op.br, 0, op.end, op.end);
  code.push(...addTo(1, -1), op.br, 0, op.end, op.end);
  return { name: 'sumRows', params: 4, i32Locals: 2, v128Locals: 1, code };
})();

/** Sums of the columns of x seen as [rows, width], in float64: SIMD when width is a multiple of 4. */
function columnSums(backend: BackendWasm, x: tf.TensorInfo, width: number): Float64Array {
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
function reduceLeadingAxes(stock: () => tf.KernelFunc, mean: boolean) {
  return ({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo => {
    const { x } = inputs as { x: tf.TensorInfo };
    const axes = tf.util.parseAxisParam(attrs.axis as number | number[], x.shape).sort((a, b) => a - b);
    const leading = axes.every((axis, i) => axis === i);
    if (!leading || axes.length === 0 || axes.length === x.shape.length || x.dtype !== 'float32') {
      return stock()({ inputs, backend, attrs } as never) as tf.TensorInfo;
    }
    const kept = x.shape.slice(axes.length);
    const out = backend.makeOutput(attrs.keepDims ? [...axes.map(() => 1), ...kept] : kept, 'float32');
    const width = tf.util.sizeFromShape(kept);
    const rows = tf.util.sizeFromShape(x.shape) / width;
    const totals = columnSums(backend, x, width);
    if (mean) for (let i = 0; i < width; i++) totals[i] /= rows;
    (backend.typedArrayFromHeap(out) as Float32Array).set(totals);
    return out;
  };
}

/**
 * Identity shares its input's buffer, counted once more, as the cpu and webgl backends do (tensors are
 * immutable: no kernel writes into its inputs). The stock wasm kernel copied it: 0.1 s of a UNet step.
 */
function identity({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Cast to the dtype a tensor already has (every ReLU gradient casts its float32 mask) is identity; others go to the stock kernel. */
function cast(args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  return args.attrs.dtype === x.dtype ? identity(args) : (stockCast!(args as never) as tf.TensorInfo);
}

/**
 * `affineChannels(source, target, pixels, groups, constants)`: for each of `pixels` runs of 4 * `groups`
 * floats writes (x - shift) * factor + offset, with per-channel vectors read from `constants`, 48 bytes a
 * group of four channels (shift, factor, offset).
 */
const AFFINE_CHANNELS: HeapFunctionSource = (() => {
  // Parameters source 0, target 1, pixels 2, groups 3, constants 4; locals: constant pointer 5, groups left 6.
  const code = [...op.block, ...op.loop, op.localGet, 2, op.i32Eqz, op.brIf, 1];
  code.push(op.localGet, 4, op.localSet, 5, op.localGet, 3, op.localSet, 6);
  code.push(...op.block, ...op.loop, op.localGet, 6, op.i32Eqz, op.brIf, 1);
  code.push(op.localGet, 1, op.localGet, 0, ...v128Load(0), op.localGet, 5, ...v128Load(0), ...simd(f32x4.sub));
  code.push(op.localGet, 5, ...v128Load(16), ...simd(f32x4.mul), op.localGet, 5, ...v128Load(32), ...simd(f32x4.add), ...v128Store(0));
  code.push(...addTo(0, 16), ...addTo(1, 16), ...addTo(5, 48), ...addTo(6, -1), op.br, 0, op.end, op.end);
  code.push(...addTo(2, -1), op.br, 0, op.end, op.end);
  return { name: 'affineChannels', params: 5, i32Locals: 2, v128Locals: 0, code };
})();

/** Whether `t` holds one value per channel of the last axis (shape [C] or [1, ..., 1, C]). */
function isChannelVector(t: tf.TensorInfo, channels: number): boolean {
  return t.shape.length > 0 && t.shape.every((size, axis) => size === (axis === t.shape.length - 1 ? channels : 1));
}

/**
 * (x - shift[c]) * factor[c] + offset[c] over x's last axis of C channels, C a multiple of 4, written by the
 * SIMD function into a new tensor (float32 arithmetic, one rounding per operation).
 */
function affineChannels(backend: BackendWasm, x: tf.TensorInfo, shift: Float32Array, factor: Float32Array, offset: Float32Array): tf.TensorInfo {
  const heap = activeWasmHeap()!;
  const channels = shift.length;
  const out = backend.makeOutput(x.shape, 'float32');
  const scratch = heap.backend.wasm._malloc(12 * channels) >>> 0;
  try {
    const constants = new Float32Array(heap.memory.buffer, scratch, 3 * channels);
    for (let group = 0; group < channels / 4; group++) {
      for (const [k, values] of [shift, factor, offset].entries()) constants.set(values.subarray(4 * group, 4 * group + 4), 12 * group + 4 * k);
    }
    // Views are taken after the allocations: growing the heap detaches older views.
    const source = backend.typedArrayFromHeap(x) as Float32Array;
    const target = backend.typedArrayFromHeap(out) as Float32Array;
    heapFunction(heap.memory, AFFINE_CHANNELS)(source.byteOffset, target.byteOffset, source.length / channels, channels / 4, scratch);
  } finally {
    heap.backend.wasm._free(scratch);
  }
  return out;
}

/** A per-channel input's values (copied out of the heap), or `fill` for an absent one. */
function channelValues(backend: BackendWasm, t: tf.TensorInfo | undefined, channels: number, fill: number): Float32Array {
  if (!t) return new Float32Array(channels).fill(fill);
  const values = backend.typedArrayFromHeap(t) as Float32Array;
  return values.length === 1 ? new Float32Array(channels).fill(values[0]!) : values.slice();
}

/**
 * FusedBatchNorm (every batch-norm layer, forward) with per-channel statistics, channels a multiple of 4:
 * the SIMD function at about a quarter of the stock kernel's time. Other layouts go to the stock kernel.
 */
function fusedBatchNorm({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { x, mean, variance, offset, scale } = inputs as { x: tf.TensorInfo; mean: tf.TensorInfo; variance: tf.TensorInfo; offset?: tf.TensorInfo; scale?: tf.TensorInfo };
  const channels = x.shape.at(-1) ?? 0;
  const perChannel = [mean, variance, offset, scale].filter((t): t is tf.TensorInfo => t !== undefined);
  if (x.dtype !== 'float32' || channels === 0 || channels % 4 !== 0 || tf.util.sizeFromShape(x.shape) === 0 || !activeWasmHeap() || !perChannel.every((t) => isChannelVector(t, channels))) {
    return stockFusedBatchNorm!({ inputs, backend, attrs } as never) as tf.TensorInfo;
  }
  const epsilon = attrs.varianceEpsilon as number;
  const variances = channelValues(backend, variance, channels, 0);
  const scales = channelValues(backend, scale, channels, 1);
  const factor = variances.map((v, c) => scales[c]! / Math.sqrt(v + epsilon));
  return affineChannels(backend, x, channelValues(backend, mean, channels, 0), factor, channelValues(backend, offset, channels, 0));
}

/**
 * Add, Sub and Multiply of a tensor and a per-channel vector or a single value (the batch-norm layers'
 * forward and backward passes are full of them) as one SIMD pass; the stock kernels broadcast at about
 * 1.2 ns a value. Same-shape operands and other broadcasts go to the stock kernel.
 */
function channelBroadcast(kernelName: 'Add' | 'Sub' | 'Multiply', stock: () => tf.KernelFunc) {
  return ({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo => {
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const [full, small] = tf.util.sizeFromShape(a.shape) >= tf.util.sizeFromShape(b.shape) ? [a, b] : [b, a];
    const channels = full.shape.at(-1) ?? 0;
    const broadcastsAlongChannels = small.shape.length <= full.shape.length && (tf.util.sizeFromShape(small.shape) === 1 || isChannelVector(small, channels));
    // A rank-0 or empty `full` has no channel axis (channels 0): stock too.
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || channels === 0 || channels % 4 !== 0 || full === small || !broadcastsAlongChannels || !activeWasmHeap()) {
      return stock()({ inputs, backend, attrs } as never) as tf.TensorInfo;
    }
    const values = channelValues(backend, small, channels, 0);
    const zeros = new Float32Array(channels);
    const ones = new Float32Array(channels).fill(1);
    if (kernelName === 'Multiply') return affineChannels(backend, full, zeros, values, zeros);
    if (kernelName === 'Add') return affineChannels(backend, full, zeros, ones, values);
    // a - b, or b - a = -(a - b) when the per-channel operand comes first (negation is exact).
    return affineChannels(backend, full, values, small === a ? ones.map(() => -1) : ones, zeros);
  };
}

/**
 * `gradientSums(dy, x, rows, groups, means, totals)`: over `rows` rows of 4 * `groups` channels adds dy and
 * dy * (x - mean) into float64 totals, 64 bytes a group of four channels (sum of dy, then of the products);
 * `means` holds 16 bytes a group.
 */
const GRADIENT_SUMS: HeapFunctionSource = (() => {
  // Parameters dy 0, x 1, rows 2, groups 3, means 4, totals 5; locals: mean pointer 6, total pointer 7,
  // groups left 8, dy vector 9, product 10.
  const accumulate = (offset: number, vector: number, upper: boolean) => [
    op.localGet, 7, op.localGet, 7, ...v128Load(offset), op.localGet, vector,
    ...(upper ? [op.localGet, vector, 0xfd, ...UPPER_HALF_DOWN] : []),
    ...simd(F64X2_PROMOTE_LOW_F32X4), ...simd(F64X2_ADD), ...v128Store(offset),
  ];
  const code = [...op.block, ...op.loop, op.localGet, 2, op.i32Eqz, op.brIf, 1];
  code.push(op.localGet, 4, op.localSet, 6, op.localGet, 5, op.localSet, 7, op.localGet, 3, op.localSet, 8);
  code.push(...op.block, ...op.loop, op.localGet, 8, op.i32Eqz, op.brIf, 1);
  code.push(op.localGet, 0, ...v128Load(0), op.localSet, 9);
  code.push(op.localGet, 1, ...v128Load(0), op.localGet, 6, ...v128Load(0), ...simd(f32x4.sub), op.localGet, 9, ...simd(f32x4.mul), op.localSet, 10);
  code.push(...accumulate(0, 9, false), ...accumulate(16, 9, true), ...accumulate(32, 10, false), ...accumulate(48, 10, true));
  code.push(...addTo(0, 16), ...addTo(1, 16), ...addTo(6, 16), ...addTo(7, 64), ...addTo(8, -1), op.br, 0, op.end, op.end);
  code.push(...addTo(2, -1), op.br, 0, op.end, op.end);
  return { name: 'gradientSums', params: 6, i32Locals: 3, v128Locals: 2, code };
})();

/**
 * `affineTwoInputs(dy, x, target, rows, groups, constants)`: writes dy * a + (x - mean) * b + k over `rows`
 * rows of 4 * `groups` channels, per-channel vectors read from `constants`, 64 bytes a group of four
 * channels (mean, a, b, k).
 */
const AFFINE_TWO_INPUTS: HeapFunctionSource = (() => {
  // Parameters dy 0, x 1, target 2, rows 3, groups 4, constants 5; locals: constant pointer 6, groups left 7.
  const code = [...op.block, ...op.loop, op.localGet, 3, op.i32Eqz, op.brIf, 1];
  code.push(op.localGet, 5, op.localSet, 6, op.localGet, 4, op.localSet, 7);
  code.push(...op.block, ...op.loop, op.localGet, 7, op.i32Eqz, op.brIf, 1);
  code.push(op.localGet, 2, op.localGet, 0, ...v128Load(0), op.localGet, 6, ...v128Load(16), ...simd(f32x4.mul));
  code.push(op.localGet, 1, ...v128Load(0), op.localGet, 6, ...v128Load(0), ...simd(f32x4.sub), op.localGet, 6, ...v128Load(32), ...simd(f32x4.mul));
  code.push(...simd(f32x4.add), op.localGet, 6, ...v128Load(48), ...simd(f32x4.add), ...v128Store(0));
  code.push(...addTo(0, 16), ...addTo(1, 16), ...addTo(2, 16), ...addTo(6, 64), ...addTo(7, -1), op.br, 0, op.end, op.end);
  code.push(...addTo(3, -1), op.br, 0, op.end, op.end);
  return { name: 'affineTwoInputs', params: 6, i32Locals: 2, v128Locals: 0, code };
})();

/** Per channel: the sum of dy and of dy * (x - mean) over the rows of [rows, C] tensors, in float64. */
function batchNormGradientSums(backend: BackendWasm, dy: tf.TensorInfo, x: tf.TensorInfo, means: Float32Array): { dySums: Float64Array; productSums: Float64Array } {
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
      const [gradient, input] = [dy, x].map((t) => backend.typedArrayFromHeap(t) as Float32Array) as [Float32Array, Float32Array];
      heapFunction(heap.memory, GRADIENT_SUMS)(gradient.byteOffset, input.byteOffset, rows, groups, scratch, totalsAt);
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

/**
 * The batch-norm training gradient (see BATCH_NORM_TRAINING_GRADIENT): with s = 1/sqrt(variance + eps),
 * G = sum of dy * (x - mean) and n rows, dScale = G s, dOffset = sum of dy, and dx = a dy + b (x - mean) + k
 * with a = scale s, b = -scale s^3 G / n, k = -scale s (sum of dy) / n. Two passes over x, float64 sums.
 */
function batchNormTrainingGradient({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const { dy, x, mean, variance, scale } = inputs as Record<'dy' | 'x' | 'mean' | 'variance' | 'scale', tf.TensorInfo>;
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
        for (const [field, values] of [means, a, b, k].entries()) constants.set(values.subarray(4 * group, 4 * group + 4), 16 * group + 4 * field);
      }
      const [gradient, input, target] = [dy, x, dx].map((t) => backend.typedArrayFromHeap(t) as Float32Array) as [Float32Array, Float32Array, Float32Array];
      heapFunction(heap.memory, AFFINE_TWO_INPUTS)(gradient.byteOffset, input.byteOffset, target.byteOffset, rows, groups, scratch);
    } finally {
      heap.backend.wasm._free(scratch);
    }
  } else {
    const [gradient, input, target] = [dy, x, dx].map((t) => backend.typedArrayFromHeap(t) as Float32Array) as [Float32Array, Float32Array, Float32Array];
    for (let i = 0; i < target.length; i++) {
      const c = i % channels;
      target[i] = gradient[i]! * a[c]! + (input[i]! - means[c]!) * b[c]! + k[c]!;
    }
  }
  return [dx, dScale, dOffset];
}

/**
 * BATCH_MOMENTS: the mean from one pass of column sums, the variance from a second that sums x (x - mean)
 * with the gradient's SIMD function, less mean * (sum of x - n mean), which is the sum of (x - mean)^2
 * without the float32 mean's rounding. Both passes read x only; the stock moments write two x-sized tensors.
 */
function batchMoments({ inputs, backend }: KernelArgs): tf.TensorInfo[] {
  const { x } = inputs as { x: tf.TensorInfo };
  const channels = x.shape.at(-1) ?? 0;
  const rows = channels === 0 ? 0 : tf.util.sizeFromShape(x.shape) / channels;
  const means = Float32Array.from(columnSums(backend, x, channels), (sum) => sum / rows);
  const { dySums: sums, productSums } = batchNormGradientSums(backend, x, x, means);
  const mean = backend.makeOutput([channels], 'float32');
  (backend.typedArrayFromHeap(mean) as Float32Array).set(means);
  const variance = backend.makeOutput([channels], 'float32');
  (backend.typedArrayFromHeap(variance) as Float32Array).set(productSums.map((p, c) => (p - means[c]! * (sums[c]! - rows * means[c]!)) / rows));
  return [mean, variance];
}

/** Sums rows of x into the segments their ids name (the gradient of gather); ids out of range are dropped. */
function unsortedSegmentSum({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
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

/** The geometry of a depthwise convolution (dilation 1: TF.js has no gradients for dilated ones). */
function depthwiseInfo(inputShape: number[], filterShape: number[], attrs: Attrs): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    inputShape as [number, number, number, number], filterShape as [number, number, number, number], attrs.strides as [number, number], 1,
    attrs.pad as 'same', attrs.dimRoundingMode as 'floor' | undefined, true,
  );
}

/**
 * Calls `visit(outputOffset, inputOffset, tapOffset)` for every output position and every filter tap that
 * falls inside the input: offsets of the first channel of dy, of x and of the filter's [r, c] slice.
 */
function forEachDepthwiseTap(info: tf.backend_util.Conv2DInfo, visit: (output: number, input: number, tap: number) => void): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const { top, left } = info.padInfo;
  for (let b = 0; b < batchSize; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ox = 0; ox < outWidth; ox++) {
        const output = ((b * outHeight + oy) * outWidth + ox) * outChannels;
        for (let r = 0; r < filterHeight; r++) {
          const y = oy * strideHeight + r - top;
          if (y < 0 || y >= inHeight) continue;
          for (let c = 0; c < filterWidth; c++) {
            const xx = ox * strideWidth + c - left;
            if (xx < 0 || xx >= inWidth) continue;
            visit(output, ((b * inHeight + y) * inWidth + xx) * inChannels, (r * filterWidth + c) * outChannels);
          }
        }
      }
    }
  }
}

/** dW[r, c, ci, m] = sum over n, i, j of x[n, i*s + r - top, j*s + c - left, ci] * dy[n, i, j, ci*M + m]. */
function depthwiseConv2dBackpropFilter({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
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
    for (let d = 0; d < channels; d++) totals[tap + d] += input[at + Math.floor(d / multiplier)]! * grad[output + d]!;
  });
  (backend.typedArrayFromHeap(out) as Float32Array).set(totals);
  return out;
}

/** dx[n, y, x, ci] = sum over the taps that read it of dy[n, i, j, ci*M + m] * W[r, c, ci, m]. */
function depthwiseConv2dBackpropInput({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
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
    for (let d = 0; d < channels; d++) dx[at + Math.floor(d / multiplier)] += grad[output + d]! * weights[tap + d]!;
  });
  return out;
}

/** One-hot with the requested dtype's own representation of on and off values. */
function oneHot({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
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

/** The stock Conv2D with 'same' padding spelled out (see `conv2D`). */
function stockConv2DExplicitPadding({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  if (attrs.pad !== 'same') return stockConv2D!({ inputs, backend, attrs } as never) as tf.TensorInfo;
  const { x, filter } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
    attrs.strides as [number, number], attrs.dilations as [number, number], 'same',
  );
  const { top, bottom, left, right } = info.padInfo;
  return stockConv2D!({ inputs, backend, attrs: { ...attrs, pad: [[0, 0], [top, bottom], [left, right], [0, 0]] } } as never) as tf.TensorInfo;
}

/**
 * The narrowest output for each Winograd block size: on maps narrower than 32 F(4x4, 3x3) stages most of
 * its windows (those that reach the padding) one by one, and ran at 0.91-0.94x F(2x2, 3x3) at 16 px.
 */
const MINIMUM_WIDTH: Record<number, number> = { 2: 0, 4: 32 };

/**
 * The most outputs a layer's tiling may compute beyond its own, as a fraction: an output whose size is not a
 * multiple of the tiles' is computed on whole tiles into a larger buffer and cropped (DeepLabV3+'s 10x10
 * input gradients at rate 2 tile as 10x12).
 */
const TILING_WASTE = 0.25;

const roundUp = (value: number, multiple: number): number => Math.ceil(value / multiple) * multiple;

/**
 * Where Winograd's F(m x m, 3x3) (`winogradTiles.ts`) applies, the layer as its input transform reads it: a
 * 3x3 stride-1 undilated NHWC convolution of float32 with channels in multiples of 4, m = 4 where the output
 * is at least 32 wide (1.3-1.6x F(2x2, 3x3) on a UNet's layers), else 2, its output tiled in m x 2m blocks
 * (the convolution's products take tiles in pairs) with at most TILING_WASTE more outputs; undefined otherwise.
 * `outHeight` and `outWidth` are the tiled size; `height` and `width` the layer's.
 */
function winogradLayer(backend: BackendWasm, x: tf.TensorInfo, filterShape: readonly number[], attrs: Attrs) {
  const [kh, kw, ci, co] = filterShape as [number, number, number, number];
  if (x.dtype !== 'float32' || attrs.dataFormat !== 'NHWC' || kh !== 3 || kw !== 3 || ci % 4 !== 0 || co % 4 !== 0) return undefined;
  const [n, height, width] = x.shape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(
    [n, height, width, ci], [kh, kw, ci, co], attrs.strides as [number, number], (attrs.dilations ?? 1) as [number, number],
    attrs.pad as 'same', attrs.dimRoundingMode as 'floor' | undefined,
  );
  const { strideHeight, strideWidth, dilationHeight, dilationWidth, outHeight, outWidth } = info;
  if (strideHeight !== 1 || strideWidth !== 1 || dilationHeight !== 1 || dilationWidth !== 1) return undefined;
  const tiled = (m: number) => ({ blockSize: m, outHeight: roundUp(outHeight, m), outWidth: roundUp(outWidth, 2 * m) });
  const tiling = WINOGRAD_BLOCK_SIZES.map(tiled).find(
    (t) => outWidth >= MINIMUM_WIDTH[t.blockSize]! && t.outHeight * t.outWidth <= (1 + TILING_WASTE) * outHeight * outWidth,
  );
  if (!tiling) return undefined;
  return {
    ...tiling, images: n, height: outHeight, width: outWidth,
    input: backend.getMemoryOffset(x.dataId), inHeight: height, inWidth: width, padTop: info.padInfo.top, padLeft: info.padInfo.left, inChannels: ci, outChannels: co,
  };
}

const memoryOffset = (backend: BackendWasm, t: tf.TensorInfo): number => backend.getMemoryOffset(t.dataId);

/**
 * A 3x3 stride-1 convolution by Winograd on all threads, where `winogradLayer` allows; else undefined.
 * XNNPACK runs these layers (every convolution of a UNet but its first and last, and their input gradients)
 * at 25-30 GFLOP/s a thread here; Winograd does 4/9 of the multiplications, and its transforms cost less
 * than the rest.
 */
function winogradConvolution(backend: BackendWasm, x: tf.TensorInfo, filter: tf.TensorInfo, bias: tf.TensorInfo | undefined, attrs: Attrs): tf.TensorInfo | undefined {
  const heap = activeWasmHeap();
  const co = filter.shape[3]!;
  if (!heap || (bias && (bias.dtype !== 'float32' || tf.util.sizeFromShape(bias.shape) !== co))) return undefined;
  const layer = winogradLayer(backend, x, filter.shape, attrs);
  if (!layer) return undefined;
  const { blockSize, images, outHeight, outWidth, inChannels: ci } = layer;
  const transformed = backend.makeOutput([(blockSize + 2) ** 2, ci, co], 'float32');
  heapFunction(heap.memory, winogradFilterSource(blockSize))(memoryOffset(backend, filter), memoryOffset(backend, transformed), 4 * ci * co, (ci * co) / 4);
  const zeros = bias ? undefined : backend.makeOutput([co], 'float32');
  if (zeros) (backend.typedArrayFromHeap(zeros) as Float32Array).fill(0);
  const { blockRows, scratchBytes } = winogradBlocks(blockSize, outWidth, ci, co, BLOCK_TILES);
  const scratch = backend.makeOutput([(threadsSharingJobs(heap.memory) * scratchBytes) / 4], 'float32');
  const output = backend.makeOutput([images, outHeight, outWidth, co], 'float32');
  const [filterAt, biasAt, outputAt, scratchAt] = [transformed, bias ?? zeros!, output, scratch].map((t) => memoryOffset(backend, t)) as [number, number, number, number];
  runOnAllThreads(heap.memory, WINOGRAD_JOB, { ...layer, filter: filterAt, bias: biasAt, output: outputAt, scratch: scratchAt, scratchBytes, blockRows }, (images * outHeight) / blockSize);
  dispose(backend, transformed, scratch, ...(zeros ? [zeros] : []));
  if (outHeight === layer.height && outWidth === layer.width) return output;
  const result = cropTrailing(backend, output, outHeight - layer.height, outWidth - layer.width);
  dispose(backend, output);
  return result;
}

/**
 * Fewest (input, output) channel pairs for which the filter gradient takes F(2x2, 3x3): with 16 channels in
 * and out its transforms cost what its products save (0.85-0.99x the direct products, 256 px maps).
 * F(4x4, 3x3) is faster there (1.4-2.2x the direct products at 16 and 32 channels).
 */
const WINOGRAD_GRADIENT_CHANNEL_PAIRS = 512;

/**
 * The filter gradient of a 3x3 stride-1 convolution by Winograd on all threads (each thread sums a range of
 * the tile rows into a part of its own), where `winogradLayer` allows; else undefined.
 */
function winogradFilterGradient(backend: BackendWasm, x: tf.TensorInfo, dy: tf.TensorInfo, filterShape: readonly number[], attrs: Attrs): tf.TensorInfo | undefined {
  const heap = activeWasmHeap();
  const layer = heap && winogradLayer(backend, x, filterShape, attrs);
  if (!layer || (layer.blockSize === 2 && filterShape[2]! * filterShape[3]! < WINOGRAD_GRADIENT_CHANNEL_PAIRS)) return undefined;
  const { blockSize, images, outHeight, outWidth, inChannels: ci, outChannels: co } = layer;
  const planes = (blockSize + 2) ** 2;
  const threads = threadsSharingJobs(heap.memory);
  const sums = backend.makeOutput([threads * planes * ci * co], 'float32');
  (backend.typedArrayFromHeap(sums) as Float32Array).fill(0);
  const { blockRows, scratchBytes } = winogradBlocks(blockSize, outWidth, ci, co, BLOCK_TILES);
  const scratch = backend.makeOutput([(threads * scratchBytes) / 4], 'float32');
  // dy's blocks are read whole: beyond the layer's output, up to the tiled size, they hold zeros.
  const tiledDy = outHeight === layer.height && outWidth === layer.width
    ? dy
    : run(backend, 'PadV2', { x: dy }, { paddings: [[0, 0], [0, outHeight - layer.height], [0, outWidth - layer.width], [0, 0]], constantValue: 0 });
  const [gradient, sumsAt, scratchAt] = [tiledDy, sums, scratch].map((t) => memoryOffset(backend, t)) as [number, number, number];
  runOnAllThreads(heap.memory, WINOGRAD_GRADIENT_JOB, { ...layer, gradient, sums: sumsAt, scratch: scratchAt, scratchBytes, blockRows }, (images * outHeight) / blockSize);
  const result = backend.makeOutput([3, 3, ci, co], 'float32');
  heapFunction(heap.memory, winogradFilterGradientSource(blockSize))(sumsAt, memoryOffset(backend, result), 4 * ci * co, 4 * planes * ci * co, (ci * co) / 4, threads);
  dispose(backend, sums, scratch, ...(tiledDy === dy ? [] : [tiledDy]));
  return result;
}

/**
 * Conv2D: Winograd where it applies, else the stock kernel. The stock kernel computes 'same' padding wrongly
 * when the stride exceeds the kernel (k2 s3 gives other numbers than the cpu backend); the same convolution
 * with the padding spelled out is right.
 */
function conv2D(args: KernelArgs): tf.TensorInfo {
  const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  return winogradConvolution(args.backend, x, filter, undefined, args.attrs) ?? stockConv2DExplicitPadding(args);
}

/** FusedConv2D without an activation (a convolution and its bias, as layers call it): Winograd where it applies. */
function fusedConv2D(args: KernelArgs): tf.TensorInfo {
  const { x, filter, bias, preluActivationWeights } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo; bias?: tf.TensorInfo; preluActivationWeights?: tf.TensorInfo };
  const plain = (args.attrs.activation ?? 'linear') === 'linear' && !preluActivationWeights;
  return (plain ? winogradConvolution(args.backend, x, filter, bias, args.attrs) : undefined) ?? (stockFusedConv2D!(args as never) as tf.TensorInfo);
}

/**
 * Gradient of FusedBatchNorm with the per-channel factors broadcast, and each full-size product computed
 * once: the mean's gradient is a multiple of the offset's (sum of dy), the variance's and the scale's are
 * multiples of one sum of dy * (x - mean). The stock gradient tiles 1/sqrt(variance + epsilon) to the full
 * size of x first, which on wasm is a single-threaded copy that cost more than all convolutions of a UNet
 * step together, and forms dy * (x - mean) twice.
 */
const fusedBatchNormGradient: tf.GradConfig = {
  kernelName: 'FusedBatchNorm',
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy, saved, attrs) => {
    const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const epsilon = (attrs as { varianceEpsilon: number }).varianceEpsilon;
    const gradient = dy as tf.Tensor;
    const reductionAxes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
    const perChannel = (t: tf.Tensor) => (mean.rank === 1 ? tf.sum(t, reductionAxes) : t).reshape(mean.shape);
    const scaleValue = scale ?? tf.scalar(1);
    const inverseStd = tf.rsqrt(tf.add(variance, tf.scalar(epsilon)));
    // Made here, not in the closures: each closure runs in a scope of its own that would dispose a tensor
    // shared with another. Only the per-channel sums outlive this tidy (until the backward pass ends); the
    // full-size products in between must not, or every layer's would stay alive through the whole pass.
    const [gradientSum, gradientCenteredSum] = tf.tidy(() => [perChannel(gradient), perChannel(tf.mul(gradient, tf.sub(x, mean)))]) as [tf.Tensor, tf.Tensor];
    return {
      x: () => tf.mul(gradient, tf.mul(inverseStd, scaleValue)).reshape(x.shape),
      mean: () => tf.mul(gradientSum, tf.mul(inverseStd, scaleValue).neg()),
      variance: () => tf.mul(gradientCenteredSum, tf.mul(tf.mul(scaleValue, tf.pow(inverseStd, 3)), -0.5)),
      scale: () => tf.mul(gradientCenteredSum, inverseStd),
      offset: () => gradientSum.clone(),
    };
  },
};

let stockConv2D: tf.KernelFunc | undefined;
let stockFusedConv2D: tf.KernelFunc | undefined;
let stockConv2DBackpropInput: tf.KernelFunc | undefined;
let stockSlice: tf.KernelFunc | undefined;
let stockPadV2: tf.KernelFunc | undefined;
let stockConcat: tf.KernelFunc | undefined;
let stockSpaceToBatchND: tf.KernelFunc | undefined;
let stockBatchToSpaceND: tf.KernelFunc | undefined;
let stockTranspose: tf.KernelFunc | undefined;
let stockCast: tf.KernelFunc | undefined;
let stockFusedBatchNorm: tf.KernelFunc | undefined;
let stockAdd: tf.KernelFunc | undefined;
let stockSub: tf.KernelFunc | undefined;
let stockMultiply: tf.KernelFunc | undefined;
let stockDepthToSpace: tf.KernelFunc | undefined;
let stockSum: tf.KernelFunc | undefined;
let stockMean: tf.KernelFunc | undefined;
let stockExp: tf.KernelFunc | undefined;
let registered = false;

/**
 * Registers the training kernels for the wasm backend (once per process). Called by `selectBackend`
 * whenever wasm is chosen; call it yourself only when you set the wasm backend by other means.
 */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
  stockConv2D = tf.getKernel('Conv2D', 'wasm')?.kernelFunc;
  stockFusedConv2D = tf.getKernel('FusedConv2D', 'wasm')?.kernelFunc;
  stockConv2DBackpropInput = tf.getKernel('Conv2DBackpropInput', 'wasm')?.kernelFunc;
  stockSlice = tf.getKernel('Slice', 'wasm')?.kernelFunc;
  stockPadV2 = tf.getKernel('PadV2', 'wasm')?.kernelFunc;
  stockConcat = tf.getKernel('Concat', 'wasm')?.kernelFunc;
  stockSpaceToBatchND = tf.getKernel('SpaceToBatchND', 'wasm')?.kernelFunc;
  stockBatchToSpaceND = tf.getKernel('BatchToSpaceND', 'wasm')?.kernelFunc;
  stockTranspose = tf.getKernel('Transpose', 'wasm')?.kernelFunc;
  stockCast = tf.getKernel('Cast', 'wasm')?.kernelFunc;
  stockFusedBatchNorm = tf.getKernel('FusedBatchNorm', 'wasm')?.kernelFunc;
  stockAdd = tf.getKernel('Add', 'wasm')?.kernelFunc;
  stockSub = tf.getKernel('Sub', 'wasm')?.kernelFunc;
  stockMultiply = tf.getKernel('Multiply', 'wasm')?.kernelFunc;
  stockDepthToSpace = tf.getKernel('DepthToSpace', 'wasm')?.kernelFunc;
  stockSum = tf.getKernel('Sum', 'wasm')?.kernelFunc;
  stockMean = tf.getKernel('Mean', 'wasm')?.kernelFunc;
  stockExp = tf.getKernel('Exp', 'wasm')?.kernelFunc;
  const kernels: Array<[string, (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[]]> = [
    ['Conv2D', conv2D],
    ['FusedConv2D', fusedConv2D],
    ['Conv2DBackpropFilter', conv2DBackpropFilter],
    ['Conv2DBackpropInput', conv2DBackpropInput],
    ['MaxPoolGrad', maxPoolGrad],
    ['MaxPoolWithArgmax', maxPoolWithArgmax],
    ['OneHot', oneHot],
    ['Slice', slice],
    ['PadV2', padV2],
    ['DepthToSpace', depthToSpace],
    ['SplitV', splitV],
    ['Concat', concat],
    ['SpaceToBatchND', spaceToBatchND],
    ['BatchToSpaceND', batchToSpaceND],
    ['Transpose', transpose],
    ['FusedBatchNorm', fusedBatchNorm],
    ['Add', channelBroadcast('Add', () => stockAdd!)],
    ['Sub', channelBroadcast('Sub', () => stockSub!)],
    ['Multiply', channelBroadcast('Multiply', () => stockMultiply!)],
    ['Sum', reduceLeadingAxes(() => stockSum!, false)],
    ['Mean', reduceLeadingAxes(() => stockMean!, true)],
    ['UnsortedSegmentSum', unsortedSegmentSum],
    ['Identity', identity],
    ['Cast', cast],
    ['DepthwiseConv2dNativeBackpropFilter', depthwiseConv2dBackpropFilter],
    ['DepthwiseConv2dNativeBackpropInput', depthwiseConv2dBackpropInput],
    [BATCH_NORM_TRAINING_GRADIENT, batchNormTrainingGradient],
    [BATCH_MOMENTS, batchMoments],
    [RELU_GRADIENT, reluGradient],
    [ADAM_UPDATE, adamUpdate],
    ['Exp', exp(() => stockExp!)],
  ];
  tf.registerGradient(fusedBatchNormGradient);
  tf.registerGradient(reluGradientConfig);
  for (const [kernelName, kernelFunc] of kernels) {
    const stock = tf.getKernel(kernelName, 'wasm');
    if (stock) tf.unregisterKernel(kernelName, 'wasm');
    // The stock setup binds the wasm function that the wrappers still call.
    const setupFunc = stock?.setupFunc;
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc, ...(setupFunc ? { setupFunc } : {}) });
  }
}
