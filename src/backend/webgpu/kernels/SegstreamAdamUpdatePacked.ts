import * as tf from '@tensorflow/tfjs';
import { ADAM_UPDATE_PACKED, adamConstants } from '../../fusedKernels.js';
import { runMultiOutputProgram } from '../multiOutputProgram.js';

/** A variable's buffers in a program: value, gradient and moments read, value and moments written. */
const BUFFERS_PER_VARIABLE = 5;

/** The most variables a program updates: each thread finds its variable by comparing its index with each end. */
const MOST_VARIABLES_PER_PROGRAM = 8;

/**
 * The WGSL of one Adam step of `count` variables, variable k at the indices from uniforms.end(k-1) to
 * uniforms.end(k). The stock optimizer's float32 operations in its order (as the wasm kernel):
 * m' = m b1 + g (1 - b1), v' = v b2 + g^2 (1 - b2), w' = (m' / c1) / (sqrt(v' / c2) + eps) * (-rate) + w,
 * with element i's moments at moments[i] and moments[size + i].
 */
function adamCode(count: number): string {
  const step = (k: number) => `{
          let start = ${k === 0 ? '0' : `uniforms.end${k - 1}`};
          let i = index - start;
          let size = uniforms.end${k} - start;
          let g = gradient${k}[i];
          let m = moments${k}[i] * uniforms.beta1 + g * uniforms.oneMinusBeta1;
          let v = moments${k}[size + i] * uniforms.beta2 + (g * g) * uniforms.oneMinusBeta2;
          newMoments${k}[i] = m;
          newMoments${k}[size + i] = v;
          newValue${k}[i] = ((m / uniforms.firstCorrection) / (sqrt(v / uniforms.secondCorrection) + uniforms.epsilon))
            * uniforms.negativeRate + value${k}[i];
        }`;
  return `fn main(index : i32) {
        ${Array.from({ length: count }, (_, k) => `if (index < uniforms.end${k}) ${step(k)}`).join(' else ')}
      }`;
}

/**
 * ADAM_UPDATE_PACKED on webgpu: as many variables a program as the device lets one bind, up to eight (three
 * where a program may bind 16 storage buffers), where the stock optimizer runs thirteen programs a variable.
 */
function adamUpdatePacked({ inputs, backend, attrs }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo[] {
  const tensors = inputs as Record<string, tf.TensorInfo>;
  const variables = Object.keys(tensors).filter((name) => name.startsWith('value')).length;
  const limits = (backend as unknown as { device: { limits: Record<string, number> } }).device.limits;
  const bindable = Math.min(limits.maxStorageBuffersPerShaderStage!, limits.maxBindingsPerBindGroup! - 1);
  const perProgram = Math.max(
    1,
    Math.min(MOST_VARIABLES_PER_PROGRAM, Math.floor(bindable / BUFFERS_PER_VARIABLE)),
  );
  const constants = Object.entries(adamConstants(attrs)).map(([name, value]) => ({ name, value }));
  const outputs: tf.TensorInfo[] = [];
  for (let first = 0; first < variables; first += perProgram) {
    const count = Math.min(perProgram, variables - first);
    const programInputs: Record<string, tf.TensorInfo> = {};
    const programOutputs: Record<string, number[]> = {};
    const ends: number[] = [];
    for (let k = 0; k < count; k++) {
      const [value, gradient, moments] = ['value', 'gradient', 'moments'].map(
        (name) => tensors[name + (first + k)]!,
      );
      Object.assign(programInputs, {
        [`value${k}`]: value!,
        [`gradient${k}`]: gradient!,
        [`moments${k}`]: moments!,
      });
      Object.assign(programOutputs, { [`newValue${k}`]: value!.shape, [`newMoments${k}`]: moments!.shape });
      ends.push((ends.at(-1) ?? 0) + tf.util.sizeFromShape(value!.shape));
    }
    outputs.push(
      ...runMultiOutputProgram(backend, {
        key: `adam_${count}`,
        inputs: programInputs,
        outputs: programOutputs,
        code: adamCode(count),
        threads: ends.at(-1)!,
        uniforms: [
          ...constants,
          ...ends.map((end, k) => ({ name: `end${k}`, value: end, type: 'int32' as const })),
        ],
      }),
    );
  }
  return outputs;
}

export const adamUpdatePackedConfig: tf.KernelConfig = {
  kernelName: ADAM_UPDATE_PACKED,
  backendName: 'webgpu',
  kernelFunc: adamUpdatePacked as tf.KernelFunc,
};
