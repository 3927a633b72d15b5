import type * as tf from '@tensorflow/tfjs';
import { ADAM_UPDATE_PACKED, adamConstants } from '../../fusedKernels.js';
import { runFlatProgram } from '../programs.js';

// The stock optimizer's float32 operations in its order (as the wasm kernel): m' = m b1 + g (1 - b1),
// v' = v b2 + g^2 (1 - b2), w' = (m' / c1) / (sqrt(v' / c2) + eps) * (-rate) + w. Element i's moments are
// moments[i] and moments[variableSize + i].
const firstMoment = (i: string) => `moments[${i}] * uniforms.beta1 + gradient[${i}] * uniforms.oneMinusBeta1`;
const secondMoment = (i: string) =>
  `moments[uniforms.variableSize + ${i}] * uniforms.beta2 + (gradient[${i}] * gradient[${i}]) * uniforms.oneMinusBeta2`;

/**
 * ADAM_UPDATE_PACKED on webgpu: two programs a variable, both moments in one and the value in the other (it
 * recomputes the moments rather than read them back). A program has one output in the tfjs webgpu backend.
 */
function adamUpdatePacked({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const { value, gradient, moments } = inputs as Record<'value' | 'gradient' | 'moments', tf.TensorInfo>;
  const size = moments.shape[0]! / 2;
  const uniforms = [
    ...Object.entries(adamConstants(attrs)).map(([name, number]) => ({ name, value: number })),
    { name: 'variableSize', value: size, type: 'int32' as const },
  ];
  const newValue = runFlatProgram(
    backend,
    'adamValue',
    { value, gradient, moments },
    value.shape,
    `let m = ${firstMoment('index')};
        let v = ${secondMoment('index')};
        return ((m / uniforms.firstCorrection) / (sqrt(v / uniforms.secondCorrection) + uniforms.epsilon))
          * uniforms.negativeRate + value[index];`,
    { uniforms },
  );
  // The first moments in the first half, the second in the other.
  const newMoments = runFlatProgram(
    backend,
    'adamMoments',
    { gradient, moments },
    moments.shape,
    `if (index < uniforms.variableSize) {
          return ${firstMoment('index')};
        }
        let i = index - uniforms.variableSize;
        return ${secondMoment('i')};`,
    { uniforms },
  );
  return [newValue, newMoments];
}

export const adamUpdatePackedConfig: tf.KernelConfig = {
  kernelName: ADAM_UPDATE_PACKED,
  backendName: 'webgpu',
  kernelFunc: adamUpdatePacked as tf.KernelFunc,
};
