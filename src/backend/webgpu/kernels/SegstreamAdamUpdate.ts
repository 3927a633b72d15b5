import type * as tf from '@tensorflow/tfjs';
import { ADAM_UPDATE, type AdamUpdateInputs, adamConstants } from '../../fusedKernels.js';
import { runFlatProgram } from '../programs.js';

// The stock optimizer's float32 operations in its order (as the wasm kernel): m' = m b1 + g (1 - b1),
// v' = v b2 + g^2 (1 - b2), w' = (m' / c1) / (sqrt(v' / c2) + eps) * (-rate) + w.
const FIRST_MOMENT = 'firstMoment[index] * uniforms.beta1 + gradient[index] * uniforms.oneMinusBeta1';
const SECOND_MOMENT =
  'secondMoment[index] * uniforms.beta2 + (gradient[index] * gradient[index]) * uniforms.oneMinusBeta2';

/**
 * ADAM_UPDATE on webgpu: three programs a variable (the value's recomputes both moments rather than read them
 * back), where the stock optimizer dispatches twelve. A program has one output in the tfjs webgpu backend.
 */
function adamUpdate({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const { value, gradient, firstMoment, secondMoment } = inputs as unknown as AdamUpdateInputs<tf.TensorInfo>;
  const uniforms = Object.entries(adamConstants(attrs)).map(([name, number]) => ({ name, value: number }));
  const programs: Array<[string, Record<string, tf.TensorInfo>, string]> = [
    [
      'adamValue',
      { value, gradient, firstMoment, secondMoment },
      `let m = ${FIRST_MOMENT};
        let v = ${SECOND_MOMENT};
        return ((m / uniforms.firstCorrection) / (sqrt(v / uniforms.secondCorrection) + uniforms.epsilon))
          * uniforms.negativeRate + value[index];`,
    ],
    ['adamFirstMoment', { gradient, firstMoment }, `return ${FIRST_MOMENT};`],
    ['adamSecondMoment', { gradient, secondMoment }, `return ${SECOND_MOMENT};`],
  ];
  return programs.map(([key, programInputs, body]) =>
    runFlatProgram(backend, key, programInputs, value.shape, body, { uniforms }),
  );
}

export const adamUpdateConfig: tf.KernelConfig = {
  kernelName: ADAM_UPDATE,
  backendName: 'webgpu',
  kernelFunc: adamUpdate as tf.KernelFunc,
};
