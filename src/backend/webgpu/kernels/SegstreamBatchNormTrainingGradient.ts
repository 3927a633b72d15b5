import * as tf from '@tensorflow/tfjs';
import { BATCH_NORM_TRAINING_GRADIENT } from '../../fusedKernels.js';
import { runMultiOutputProgram } from '../multiOutputProgram.js';
import {
  disposeIntermediate,
  partialColumnSums,
  partialsSumFunction,
  partialsUniforms,
  runFlatProgram,
  sumOfTerms,
} from '../programs.js';

/**
 * BATCH_NORM_TRAINING_GRADIENT on webgpu (the closed form of the wasm kernel and of the stock fallback): with
 * s = 1/sqrt(variance + eps), G = sum of dy (x - mean), D = sum of dy and n rows, dScale = G s,
 * dOffset = D and dx = scale s (dy - (x - mean) s dScale / n - dOffset / n). Both sums' partials in one
 * program, dOffset and dScale from them in another, then dx from those: three programs without a transpose,
 * where the stock ops run about fifteen.
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
  const partial = partialColumnSums(
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
  const [dOffset, dScale] = runMultiOutputProgram(backend, {
    key: 'batchNormGradientOffsetAndScale',
    inputs: { partials: partial.partials, variance },
    outputs: { dOffset: [channels], dScale: [channels] },
    threads: channels,
    code: `${partialsSumFunction()}
      fn main(c : i32) {
        dOffset[c] = partialsSum(c);
        dScale[c] = partialsSum(uniforms.channels + c) * ${inverseStd};
      }`,
    uniforms: [...partialsUniforms(partial), ...uniforms],
  });
  disposeIntermediate(backend, partial.partials);
  const dx = runFlatProgram(
    backend,
    'batchNormGradientInput',
    { dy, x, mean, variance, scale, dScale: dScale!, dOffset: dOffset! },
    x.shape,
    `let c = index % uniforms.channels;
        let s = ${inverseStd};
        return scale[c] * s * (dy[index] - (x[index] - mean[c]) * s * dScale[c] / uniforms.rows
          - dOffset[c] / uniforms.rows);`,
    { uniforms },
  );
  return [dx, dScale!, dOffset!];
}

export const batchNormTrainingGradientConfig: tf.KernelConfig = {
  kernelName: BATCH_NORM_TRAINING_GRADIENT,
  backendName: 'webgpu',
  kernelFunc: batchNormTrainingGradient as tf.KernelFunc,
};
