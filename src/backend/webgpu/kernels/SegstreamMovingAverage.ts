import * as tf from '@tensorflow/tfjs';
import { MOVING_AVERAGE } from '../../fusedKernels.js';
import { overTensorsEndToEnd, runMultiOutputProgram } from '../multiOutputProgram.js';

/**
 * MOVING_AVERAGE on webgpu: every average in one program (a batch-norm layer's mean and variance), for what
 * the stock update runs as Sub, Multiply and Sub an average.
 */
function movingAverage({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const tensors = inputs as Record<string, tf.TensorInfo>;
  const averages = Object.keys(tensors).filter((name) => name.startsWith('average')).length;
  const programInputs: Record<string, tf.TensorInfo> = {};
  const outputs: Record<string, number[]> = {};
  for (let k = 0; k < averages; k++) {
    Object.assign(programInputs, {
      [`average${k}`]: tensors[`average${k}`]!,
      [`value${k}`]: tensors[`value${k}`]!,
    });
    outputs[`updated${k}`] = tensors[`average${k}`]!.shape;
  }
  const { code, threads, uniforms } = overTensorsEndToEnd(
    Object.values(outputs).map((shape) => tf.util.sizeFromShape(shape)),
    (k) => `updated${k}[i] = average${k}[i] - (average${k}[i] - value${k}[i]) * uniforms.decay;`,
  );
  return runMultiOutputProgram(backend, {
    key: `movingAverage_${averages}`,
    inputs: programInputs,
    outputs,
    code,
    threads,
    uniforms: [{ name: 'decay', value: 1 - (attrs as { momentum: number }).momentum }, ...uniforms],
  });
}

export const movingAverageConfig: tf.KernelConfig = {
  kernelName: MOVING_AVERAGE,
  backendName: 'webgpu',
  kernelFunc: movingAverage as tf.KernelFunc,
};
