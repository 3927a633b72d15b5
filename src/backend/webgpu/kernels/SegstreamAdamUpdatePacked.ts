import * as tf from '@tensorflow/tfjs';
import { ADAM_UPDATE_PACKED, adamConstants } from '../../fusedKernels.js';
import { overTensorsEndToEnd, runMultiOutputProgram } from '../multiOutputProgram.js';

/** A variable's buffers in a program: value, gradient and moments read, value and moments written. */
const BUFFERS_PER_VARIABLE = 5;

/** The most variables a program updates: each thread finds its variable by comparing its index with each end. */
const MOST_VARIABLES_PER_PROGRAM = 8;

/**
 * The WGSL of variable k's Adam step at its element i (see overTensorsEndToEnd). The stock optimizer's float32
 * operations in its order (as the wasm kernel): m' = m b1 + g (1 - b1), v' = v b2 + g^2 (1 - b2),
 * w' = (m' / c1) / (sqrt(v' / c2) + eps) * (-rate) + w, with element i's moments at moments[i] and
 * moments[size + i].
 */
function adamStep(k: number): string {
  return `let g = gradient${k}[i];
          let m = moments${k}[i] * uniforms.beta1 + g * uniforms.oneMinusBeta1;
          let v = moments${k}[size + i] * uniforms.beta2 + (g * g) * uniforms.oneMinusBeta2;
          newMoments${k}[i] = m;
          newMoments${k}[size + i] = v;
          newValue${k}[i] = ((m / uniforms.firstCorrection) / (sqrt(v / uniforms.secondCorrection) + uniforms.epsilon))
            * uniforms.negativeRate + value${k}[i];`;
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
    }
    const sizes = Array.from({ length: count }, (_, k) =>
      tf.util.sizeFromShape(programInputs[`value${k}`]!.shape),
    );
    const { code, threads, uniforms } = overTensorsEndToEnd(sizes, adamStep);
    outputs.push(
      ...runMultiOutputProgram(backend, {
        key: `adam_${count}`,
        inputs: programInputs,
        outputs: programOutputs,
        code,
        threads,
        uniforms: [...constants, ...uniforms],
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
