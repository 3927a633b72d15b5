import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_TRAINING_GRADIENT } from '../../fusedKernels.js';
import { columnSums, disposeIntermediate, runFlatProgram, sumOfTerms } from '../programs.js';

/**
 * BATCH_NORM_TRAINING_GRADIENT on webgpu (the closed form of the wasm kernel and of the stock fallback): with
 * s = 1/sqrt(variance + eps), G = sum of dy (x - mean), D = sum of dy and n rows, dScale = G s,
 * dOffset = D and dx = scale s (dy - (x - mean) s^2 G / n - D / n). Both sums in one pair of column-sum
 * programs, then one program for dx and one each for the two per-channel outputs: five programs without a
 * transpose, where the stock ops run about fifteen.
 */
function batchNormTrainingGradient({
  inputs,
  backend,
  attrs,
}: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const { dy, x, mean, variance, scale } = inputs as Record<
    'dy' | 'x' | 'mean' | 'variance' | 'scale',
    tf.TensorInfo
  >;
  const channels = x.shape.at(-1) ?? 0;
  const rows = channels === 0 ? 0 : tf.util.sizeFromShape(x.shape) / channels;
  // Columns 0..C-1 sum dy, columns C..2C-1 sum dy (x - mean).
  const sums = columnSums(
    backend,
    'batchNormGradientSums',
    { dy, x, mean },
    { rows, channels, columns: 2 * channels },
    sumOfTerms(`let c = column % uniforms.channels;
        let i = row * uniforms.channels + c;
        return dy[i] * select(1.0, x[i] - mean[c], column >= uniforms.channels);`),
  );
  const uniforms = [
    { name: 'channels', value: channels, type: 'int32' as const },
    { name: 'rows', value: rows },
    { name: 'epsilon', value: attrs!.varianceEpsilon as number },
  ];
  const inverseStd = 'inverseSqrt(variance[c] + uniforms.epsilon)';
  const dx = runFlatProgram(
    backend,
    'batchNormGradientInput',
    { dy, x, mean, variance, scale, sums },
    x.shape,
    `let c = index % uniforms.channels;
        let s = ${inverseStd};
        let product = sums[uniforms.channels + c];
        return scale[c] * s * (dy[index] - (x[index] - mean[c]) * s * s * product / uniforms.rows
          - sums[c] / uniforms.rows);`,
    { uniforms },
  );
  const dScale = runFlatProgram(
    backend,
    'batchNormGradientScale',
    { variance, sums },
    [channels],
    `let c = index;
        return sums[uniforms.channels + c] * ${inverseStd};`,
    { uniforms },
  );
  const dOffset = runFlatProgram(
    backend,
    'batchNormGradientOffset',
    { sums },
    [channels],
    'return sums[index];',
  );
  disposeIntermediate(backend, sums);
  return [dx, dScale, dOffset];
}

export const batchNormTrainingGradientConfig: tf.KernelConfig = {
  kernelName: BATCH_NORM_TRAINING_GRADIENT,
  backendName: 'webgpu',
  kernelFunc: batchNormTrainingGradient as tf.KernelFunc,
};
