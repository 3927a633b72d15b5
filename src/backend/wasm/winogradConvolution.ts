import * as tf from '@tensorflow/tfjs';
import { PadV2 } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { activeWasmHeap } from './backendHeap.js';
import { cropTrailing } from './dataMovement.js';
import { WINOGRAD_GRADIENT_JOB, WINOGRAD_JOB } from './helperJobs.js';
import { runOnAllThreads, threadsSharingJobs } from './helperThread.js';
import { disposeData, runKernel } from './runKernel.js';
import { heapFunction } from './simd/heapFunctions.js';
import {
  BLOCK_TILES,
  WINOGRAD_BLOCK_SIZES,
  winogradBlocks,
  winogradFilterGradientSource,
  winogradFilterSource,
} from './simd/winogradTiles.js';

/**
 * The kernels' side of Winograd convolutions and filter gradients: where they apply, and their jobs on all
 * threads (the tiles themselves are in simd/winogradTiles.ts).
 */

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
function winogradLayer(
  backend: BackendWasm,
  x: tf.TensorInfo,
  filterShape: readonly number[],
  attrs: tf.NamedAttrMap,
) {
  const [kh, kw, ci, co] = filterShape as [number, number, number, number];
  if (
    x.dtype !== 'float32' ||
    attrs.dataFormat !== 'NHWC' ||
    kh !== 3 ||
    kw !== 3 ||
    ci % 4 !== 0 ||
    co % 4 !== 0
  )
    return undefined;
  const [n, height, width] = x.shape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(
    [n, height, width, ci],
    [kh, kw, ci, co],
    attrs.strides as [number, number],
    (attrs.dilations ?? 1) as [number, number],
    attrs.pad as 'same',
    attrs.dimRoundingMode as 'floor' | undefined,
  );
  const { strideHeight, strideWidth, dilationHeight, dilationWidth, outHeight, outWidth } = info;
  if (strideHeight !== 1 || strideWidth !== 1 || dilationHeight !== 1 || dilationWidth !== 1)
    return undefined;
  const tiled = (m: number) => ({
    blockSize: m,
    outHeight: roundUp(outHeight, m),
    outWidth: roundUp(outWidth, 2 * m),
  });
  const tiling = WINOGRAD_BLOCK_SIZES.map(tiled).find(
    (t) =>
      outWidth >= MINIMUM_WIDTH[t.blockSize]! &&
      t.outHeight * t.outWidth <= (1 + TILING_WASTE) * outHeight * outWidth,
  );
  if (!tiling) return undefined;
  return {
    ...tiling,
    images: n,
    height: outHeight,
    width: outWidth,
    input: backend.getMemoryOffset(x.dataId),
    inHeight: height,
    inWidth: width,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
    inChannels: ci,
    outChannels: co,
  };
}

const memoryOffset = (backend: BackendWasm, t: tf.TensorInfo): number => backend.getMemoryOffset(t.dataId);

/**
 * A 3x3 stride-1 convolution by Winograd on all threads, where `winogradLayer` allows; else undefined.
 * XNNPACK runs these layers (every convolution of a UNet but its first and last, and their input gradients)
 * at 25-30 GFLOP/s a thread here; Winograd does 4/9 of the multiplications, and its transforms cost less
 * than the rest.
 */
export function winogradConvolution(
  backend: BackendWasm,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  bias: tf.TensorInfo | undefined,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo | undefined {
  const heap = activeWasmHeap();
  const co = filter.shape[3]!;
  if (!heap || (bias && (bias.dtype !== 'float32' || tf.util.sizeFromShape(bias.shape) !== co)))
    return undefined;
  const layer = winogradLayer(backend, x, filter.shape, attrs);
  if (!layer) return undefined;
  const { blockSize, images, outHeight, outWidth, inChannels: ci } = layer;
  const transformed = backend.makeOutput([(blockSize + 2) ** 2, ci, co], 'float32');
  heapFunction(heap.memory, winogradFilterSource(blockSize))(
    memoryOffset(backend, filter),
    memoryOffset(backend, transformed),
    4 * ci * co,
    (ci * co) / 4,
  );
  const zeros = bias ? undefined : backend.makeOutput([co], 'float32');
  if (zeros) (backend.typedArrayFromHeap(zeros) as Float32Array).fill(0);
  const { blockRows, scratchBytes } = winogradBlocks(blockSize, outWidth, ci, co, BLOCK_TILES);
  const scratch = backend.makeOutput([(threadsSharingJobs(heap.memory) * scratchBytes) / 4], 'float32');
  const output = backend.makeOutput([images, outHeight, outWidth, co], 'float32');
  const [filterAt, biasAt, outputAt, scratchAt] = [transformed, bias ?? zeros!, output, scratch].map((t) =>
    memoryOffset(backend, t),
  ) as [number, number, number, number];
  runOnAllThreads(
    heap.memory,
    WINOGRAD_JOB,
    {
      ...layer,
      filter: filterAt,
      bias: biasAt,
      output: outputAt,
      scratch: scratchAt,
      scratchBytes,
      blockRows,
    },
    (images * outHeight) / blockSize,
  );
  disposeData(backend, transformed, scratch, ...(zeros ? [zeros] : []));
  if (outHeight === layer.height && outWidth === layer.width) return output;
  const result = cropTrailing(backend, output, outHeight - layer.height, outWidth - layer.width);
  disposeData(backend, output);
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
export function winogradFilterGradient(
  backend: BackendWasm,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  filterShape: readonly number[],
  attrs: tf.NamedAttrMap,
): tf.TensorInfo | undefined {
  const heap = activeWasmHeap();
  const layer = heap && winogradLayer(backend, x, filterShape, attrs);
  if (
    !layer ||
    (layer.blockSize === 2 && filterShape[2]! * filterShape[3]! < WINOGRAD_GRADIENT_CHANNEL_PAIRS)
  )
    return undefined;
  const { blockSize, images, outHeight, outWidth, inChannels: ci, outChannels: co } = layer;
  const planes = (blockSize + 2) ** 2;
  const threads = threadsSharingJobs(heap.memory);
  const sums = backend.makeOutput([threads * planes * ci * co], 'float32');
  (backend.typedArrayFromHeap(sums) as Float32Array).fill(0);
  const { blockRows, scratchBytes } = winogradBlocks(blockSize, outWidth, ci, co, BLOCK_TILES);
  const scratch = backend.makeOutput([(threads * scratchBytes) / 4], 'float32');
  // dy's blocks are read whole: beyond the layer's output, up to the tiled size, they hold zeros.
  const tiledDy =
    outHeight === layer.height && outWidth === layer.width
      ? dy
      : runKernel(
          backend,
          PadV2,
          { x: dy },
          {
            paddings: [
              [0, 0],
              [0, outHeight - layer.height],
              [0, outWidth - layer.width],
              [0, 0],
            ],
            constantValue: 0,
          },
        );
  const [gradient, sumsAt, scratchAt] = [tiledDy, sums, scratch].map((t) => memoryOffset(backend, t)) as [
    number,
    number,
    number,
  ];
  runOnAllThreads(
    heap.memory,
    WINOGRAD_GRADIENT_JOB,
    { ...layer, gradient, sums: sumsAt, scratch: scratchAt, scratchBytes, blockRows },
    (images * outHeight) / blockSize,
  );
  const result = backend.makeOutput([3, 3, ci, co], 'float32');
  heapFunction(heap.memory, winogradFilterGradientSource(blockSize))(
    sumsAt,
    memoryOffset(backend, result),
    4 * ci * co,
    4 * planes * ci * co,
    (ci * co) / 4,
    threads,
  );
  disposeData(backend, sums, scratch, ...(tiledDy === dy ? [] : [tiledDy]));
  return result;
}
