import type * as tf from '@tensorflow/tfjs';
import { BatchToSpaceND } from '@tensorflow/tfjs';
import type { NumericArray } from '../dataMovement.js';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { copySpaceToBatchRows, spatialBlocksOfRuns } from '../spaceToBatch.js';
import { stockKernel } from '../stockKernels.js';

/** BatchToSpaceND, the inverse of spaceToBatchND (then cropped), by copySpaceToBatchRows; other layouts go to the stock kernel. */
function batchToSpaceND({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  const block = attrs.blockShape as number[];
  if (!spatialBlocksOfRuns(backend, x, block))
    return stockKernel(BatchToSpaceND)({ inputs, backend, attrs }) as tf.TensorInfo;
  const [batch, gridRows, gridCols, channels] = x.shape as [number, number, number, number];
  const [[top, bottom], [left, right]] = attrs.crops as [[number, number], [number, number]];
  const n = batch / (block[0]! * block[1]!);
  const [rows, cols] = [gridRows * block[0]! - top - bottom, gridCols * block[1]! - left - right];
  const out = backend.makeOutput([n, rows, cols, channels], x.dtype);
  // Views after the allocation: growing the heap detaches older views.
  copySpaceToBatchRows(
    { data: backend.typedArrayFromHeap(out) as NumericArray, n, rows, cols },
    { data: backend.typedArrayFromHeap(x) as NumericArray, gridRows, gridCols },
    block,
    top,
    left,
    channels,
    false,
  );
  return out;
}

export const batchToSpaceNDConfig = wasmKernelConfig(BatchToSpaceND, batchToSpaceND);
