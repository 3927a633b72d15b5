import * as tf from '@tensorflow/tfjs';
import { SplitV } from '@tensorflow/tfjs';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { slice } from './Slice.js';

/** SplitV (the gradient of concatenation, so of every U-Net skip) as slices that read the input in place. */
function splitV({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo[] {
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

export const splitVConfig = wasmKernelConfig(SplitV, splitV);
