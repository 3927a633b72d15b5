import type * as tf from '@tensorflow/tfjs';
import { SpaceToBatchND } from '@tensorflow/tfjs';
import type { NumericArray } from '../dataMovement.js';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { copySpaceToBatchRows, spatialBlocksOfRuns } from '../spaceToBatch.js';
import { stockKernel } from '../stockKernels.js';

/**
 * SpaceToBatchND of an NHWC tensor over its two spatial axes (every atrous convolution's input), zero
 * padding included, by copySpaceToBatchRows. The stock kernel pads, then transposes at rank 6: with
 * BatchToSpaceND, a quarter of a DeepLabV3+ training step. Other layouts go to the stock kernel.
 */
function spaceToBatchND({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  const block = attrs.blockShape as number[];
  if (!spatialBlocksOfRuns(backend, x, block))
    return stockKernel(SpaceToBatchND)({ inputs, backend, attrs }) as tf.TensorInfo;
  const [n, rows, cols, channels] = x.shape as [number, number, number, number];
  const [[top, bottom], [left, right]] = attrs.paddings as [[number, number], [number, number]];
  const [gridRows, gridCols] = [(rows + top + bottom) / block[0]!, (cols + left + right) / block[1]!];
  const out = backend.makeOutput([block[0]! * block[1]! * n, gridRows, gridCols, channels], x.dtype);
  const batched = backend.typedArrayFromHeap(out) as NumericArray;
  batched.fill(0);
  copySpaceToBatchRows(
    { data: backend.typedArrayFromHeap(x) as NumericArray, n, rows, cols },
    { data: batched, gridRows, gridCols },
    block,
    top,
    left,
    channels,
    true,
  );
  return out;
}

export const spaceToBatchNDConfig = wasmKernelConfig(SpaceToBatchND, spaceToBatchND);
