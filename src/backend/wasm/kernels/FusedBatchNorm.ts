import * as tf from '@tensorflow/tfjs';
import { FusedBatchNorm } from '@tensorflow/tfjs';
import { activeWasmHeap } from '../backendHeap.js';
import { affineChannels, channelValues, isChannelVector } from '../channelArithmetic.js';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { stockKernel } from '../stockKernels.js';

/**
 * FusedBatchNorm (every batch-norm layer, forward) with per-channel statistics, channels a multiple of 4:
 * the SIMD function at about a quarter of the stock kernel's time. Other layouts go to the stock kernel.
 */
function fusedBatchNorm({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  const { x, mean, variance, offset, scale } = inputs as {
    x: tf.TensorInfo;
    mean: tf.TensorInfo;
    variance: tf.TensorInfo;
    offset?: tf.TensorInfo;
    scale?: tf.TensorInfo;
  };
  const channels = x.shape.at(-1) ?? 0;
  const perChannel = [mean, variance, offset, scale].filter((t): t is tf.TensorInfo => t !== undefined);
  if (
    x.dtype !== 'float32' ||
    channels === 0 ||
    channels % 4 !== 0 ||
    tf.util.sizeFromShape(x.shape) === 0 ||
    !activeWasmHeap() ||
    !perChannel.every((t) => isChannelVector(t, channels))
  ) {
    return stockKernel(FusedBatchNorm)({ inputs, backend, attrs }) as tf.TensorInfo;
  }
  const epsilon = attrs.varianceEpsilon as number;
  const variances = channelValues(backend, variance, channels, 0);
  const scales = channelValues(backend, scale, channels, 1);
  const factor = variances.map((v, c) => scales[c]! / Math.sqrt(v + epsilon));
  return affineChannels(
    backend,
    x,
    channelValues(backend, mean, channels, 0),
    factor,
    channelValues(backend, offset, channels, 0),
  );
}

export const fusedBatchNormConfig = wasmKernelConfig(FusedBatchNorm, fusedBatchNorm);
