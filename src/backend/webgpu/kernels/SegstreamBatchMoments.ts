import * as tf from '@tensorflow/tfjs';
import { BATCH_MOMENTS } from '../../fusedKernels.js';
import { runMultiOutputProgram } from '../multiOutputProgram.js';
import {
  disposeIntermediate,
  partialColumnSums,
  partialsSumFunction,
  partialsUniforms,
} from '../programs.js';

/**
 * Per block of rows, columns 0..C-1 sum x and columns C..2C-1 sum the squared deviations from the block's own
 * mean (a second loop over the block's rows, as the variance pass over x before).
 */
const BLOCK_SUMS = `fn blockSum(first : i32, last : i32, column : i32) -> f32 {
        let c = column % uniforms.channels;
        var sum = 0.0;
        for (var row = first; row < last; row = row + 1) {
          sum = sum + x[row * uniforms.channels + c];
        }
        if (column < uniforms.channels || last <= first) {
          return sum;
        }
        let blockMean = sum / f32(last - first);
        var squares = 0.0;
        for (var row = first; row < last; row = row + 1) {
          let deviation = x[row * uniforms.channels + c] - blockMean;
          squares = squares + deviation * deviation;
        }
        return squares;
      }`;

/**
 * BATCH_MOMENTS on webgpu in two programs, the first reading x twice: per block of rows, the sums and the
 * squared deviations from the block's mean; then, in one program, the mean, and the variance as the blocks'
 * squared deviations plus each block's rows times its mean's squared distance from the mean (Chan's
 * combination of block variances). tf.moments transposes x twice and writes two more x-sized tensors.
 */
function batchMoments({ inputs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const { x } = inputs as { x: tf.TensorInfo };
  const channels = x.shape.at(-1) ?? 0;
  const rows = channels === 0 ? 0 : tf.util.sizeFromShape(x.shape) / channels;
  const partial = partialColumnSums(
    backend,
    'batchMoments',
    { x },
    { rows, channels, columns: 2 * channels },
    BLOCK_SUMS,
  );
  const [mean, variance] = runMultiOutputProgram(backend, {
    key: 'batchMoments',
    inputs: { partials: partial.partials },
    outputs: { mean: [channels], variance: [channels] },
    threads: channels,
    code: `${partialsSumFunction()}
      fn main(index : i32) {
        let average = partialsSum(index) * uniforms.inverseRows;
        mean[index] = average;
        var squares = 0.0;
        for (var block = 0; block < uniforms.blocks; block = block + 1) {
          let count = min(uniforms.blockRows, uniforms.rows - block * uniforms.blockRows);
          if (count > 0) {
            let toMean = partials[block * uniforms.partialColumns + index] / f32(count) - average;
            squares = squares + partials[block * uniforms.partialColumns + uniforms.channels + index]
              + f32(count) * toMean * toMean;
          }
        }
        variance[index] = squares * uniforms.inverseRows;
      }`,
    uniforms: [
      ...partialsUniforms(partial),
      { name: 'channels', value: channels, type: 'int32' },
      { name: 'rows', value: rows, type: 'int32' },
      { name: 'blockRows', value: partial.blockRows, type: 'int32' },
      { name: 'inverseRows', value: 1 / rows },
    ],
  });
  disposeIntermediate(backend, partial.partials);
  return [mean!, variance!];
}

export const batchMomentsConfig: tf.KernelConfig = {
  kernelName: BATCH_MOMENTS,
  backendName: 'webgpu',
  kernelFunc: batchMoments as tf.KernelFunc,
};
