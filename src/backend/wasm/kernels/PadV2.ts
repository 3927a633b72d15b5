import * as tf from '@tensorflow/tfjs';
import { PadV2 } from '@tensorflow/tfjs';
import { copyBox, type NumericArray } from '../dataMovement.js';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { stockKernel } from '../stockKernels.js';
import { identity } from './Identity.js';

/**
 * PadV2 (the zero borders of every filter gradient and explicitly padded convolution): the output filled
 * with the constant, the input copied into it by copyBox. The stock kernel moves a value at a time (20 ms
 * for dy of a 256 px, 16-channel UNet layer). Without padding the output shares the input's buffer.
 */
function padV2({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  const paddings = attrs.paddings as Array<[number, number]>;
  if (x.dtype === 'string') return stockKernel(PadV2)({ inputs, backend, attrs }) as tf.TensorInfo;
  if (paddings.every(([before, after]) => before === 0 && after === 0))
    return identity({ inputs, backend, attrs });
  const outShape = x.shape.map((size, axis) => paddings[axis]![0] + size + paddings[axis]![1]);
  const out = backend.makeOutput(outShape, x.dtype);
  // Views after the allocation: growing the heap detaches older views.
  const target = backend.typedArrayFromHeap(out) as NumericArray;
  target.fill(attrs.constantValue as number);
  if (tf.util.sizeFromShape(x.shape) > 0) {
    copyBox(
      backend.typedArrayFromHeap(x) as NumericArray,
      x.shape,
      x.shape.map(() => 0),
      x.shape,
      target,
      outShape,
      paddings.map(([before]) => before),
    );
  }
  return out;
}

export const padV2Config = wasmKernelConfig(PadV2, padV2);
