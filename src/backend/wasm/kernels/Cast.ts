import type * as tf from '@tensorflow/tfjs';
import { Cast } from '@tensorflow/tfjs';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { stockKernel } from '../stockKernels.js';
import { identity } from './Identity.js';

/** Cast to the dtype a tensor already has (every ReLU gradient casts its float32 mask) is identity; others go to the stock kernel. */
function cast(args: WasmKernelArgs): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  return args.attrs.dtype === x.dtype ? identity(args) : (stockKernel(Cast)(args) as tf.TensorInfo);
}

export const castConfig = wasmKernelConfig(Cast, cast);
