import * as tf from '@tensorflow/tfjs';
import { Conv2DBackpropFilter, PadV2, Slice, Transpose } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { activeWasmHeap } from '../backendHeap.js';
import { copyBox } from '../dataMovement.js';
import { FILTER_GRADIENT_JOB } from '../helperJobs.js';
import { runOnAllThreads } from '../helperThread.js';
import { disposeData, runKernel, type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { winogradFilterGradient } from '../winogradConvolution.js';

/**
 * x zero-padded (channels to `pairedChannels`) and split into its stride phases, [sh, sw, N * gridRows *
 * gridCols, pairedChannels]: padded row i*sh + r is row i + floor(r / sh) of phase r mod sh, and the grid
 * holds every tap of every output.
 */
function strideSplitGrid(
  backend: BackendWasm,
  x: tf.TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  pairedChannels: number,
) {
  const {
    strideHeight: sh,
    strideWidth: sw,
    filterHeight: kh,
    filterWidth: kw,
    outHeight: oh,
    outWidth: ow,
    inChannels: ci,
  } = info;
  const [n, height, width] = x.shape as [number, number, number, number];
  const { top, left } = info.padInfo;
  const gridRows = oh - 1 + Math.ceil(kh / sh);
  const gridCols = ow - 1 + Math.ceil(kw / sw);
  const padded = runKernel(
    backend,
    PadV2,
    { x },
    {
      paddings: [
        [0, 0],
        [top, Math.max(0, gridRows * sh - height - top)],
        [left, Math.max(0, gridCols * sw - width - left)],
        [0, pairedChannels - ci],
      ],
      constantValue: 0,
    },
  );
  // Rows or columns past the last tap (a 'valid' convolution that does not use them) are cropped.
  const fitted =
    padded.shape[1]! > gridRows * sh || padded.shape[2]! > gridCols * sw
      ? runKernel(
          backend,
          Slice,
          { x: padded },
          { begin: [0, 0, 0, 0], size: [n, gridRows * sh, gridCols * sw, pairedChannels] },
        )
      : padded;
  // Two transposes of rank 4, not one of rank 5 (the stock kernel was 10x slower at rank 6).
  const rowPhasesFirst =
    sh === 1
      ? fitted
      : runKernel(
          backend,
          Transpose,
          { x: { ...fitted, shape: [n * gridRows, sh, gridCols, sw * pairedChannels] } },
          { perm: [1, 0, 2, 3] },
        );
  const phases =
    sw === 1
      ? rowPhasesFirst
      : runKernel(
          backend,
          Transpose,
          { x: { ...rowPhasesFirst, shape: [sh, n * gridRows * gridCols, sw, pairedChannels] } },
          { perm: [0, 2, 1, 3] },
        );
  for (const t of new Set([padded, fitted, rowPhasesFirst])) if (t !== phases) disposeData(backend, t);
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
function conv2DBackpropFilter({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const filterShape = attrs.filterShape as [number, number, number, number];
  const winograd = winogradFilterGradient(backend, x, dy, filterShape, attrs);
  if (winograd) return winograd;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    attrs.strides as [number, number],
    1,
    attrs.pad as 'same',
    attrs.dimRoundingMode as 'floor' | undefined,
  );
  const {
    strideHeight: sh,
    strideWidth: sw,
    filterHeight: kh,
    filterWidth: kw,
    outHeight: oh,
    outWidth: ow,
    inChannels: ci,
    outChannels: co,
  } = info;
  const [n, height, width] = x.shape as [number, number, number, number];
  const { top, left } = info.padInfo;
  // The products take channels of x in pairs and of dy in whole vectors: zero channels complete them.
  const pairedChannels = ci + (ci % 2);
  const channels = 4 * Math.ceil(co / 4);
  const grid =
    sh === 1 && sw === 1 && pairedChannels === ci
      ? { operands: x, gridRows: height, gridCols: width, padTop: top, padLeft: left }
      : strideSplitGrid(backend, x, info, pairedChannels);
  const paddedDy = runKernel(
    backend,
    PadV2,
    { x: dy },
    {
      paddings: [
        [0, 0],
        [0, 0],
        [0, 0],
        [0, channels - co],
      ],
      constantValue: 0,
    },
  );
  const cropped = pairedChannels !== ci || channels !== co;
  const product = backend.makeOutput(
    cropped ? [kh, kw, pairedChannels, channels] : [kh, kw, ci, co],
    'float32',
  );
  (backend.typedArrayFromHeap(product) as Float32Array).fill(0);
  const [operands, gradient, sums] = [grid.operands, paddedDy, product].map((t) =>
    backend.getMemoryOffset(t.dataId),
  ) as [number, number, number];
  const { gridRows, gridCols, padTop, padLeft } = grid;
  // A single tap over an unpadded grid reads x and dy cell for cell: the batch is one row of cells, so
  // blocks span output rows (on 16 px maps per-row blocks reloaded the sums four times as often).
  const oneRow = kh === 1 && kw === 1 && gridRows === oh && gridCols === ow && padTop === 0 && padLeft === 0;
  const layout = oneRow
    ? { images: 1, outHeight: 1, outWidth: n * oh * ow, gridRows: 1, gridCols: n * oh * ow }
    : { images: n, outHeight: oh, outWidth: ow, gridRows, gridCols };
  const job = {
    operands,
    gradient,
    sums,
    ...layout,
    strideHeight: sh,
    strideWidth: sw,
    filterHeight: kh,
    filterWidth: kw,
    pairedChannels,
    channels,
    padTop,
    padLeft,
  };
  runOnAllThreads(activeWasmHeap()!.memory, FILTER_GRADIENT_JOB, job, pairedChannels / 2);
  disposeData(backend, paddedDy, ...(grid.operands === x ? [] : [grid.operands]));
  if (!cropped) return product;
  const result = backend.makeOutput([kh, kw, ci, co], 'float32');
  copyBox(
    backend.typedArrayFromHeap(product) as Float32Array,
    [kh, kw, pairedChannels, channels],
    [0, 0, 0, 0],
    [kh, kw, ci, co],
    backend.typedArrayFromHeap(result) as Float32Array,
  );
  disposeData(backend, product);
  return result;
}

export const conv2DBackpropFilterConfig = wasmKernelConfig(Conv2DBackpropFilter, conv2DBackpropFilter);
