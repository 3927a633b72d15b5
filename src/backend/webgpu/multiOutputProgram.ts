import * as tf from '@tensorflow/tfjs';
import type { ProgramUniform } from './programs.js';

/** The parts of the tfjs webgpu backend (4.22) that a program with several outputs is recorded through. */
interface WebgpuRecorder {
  device: {
    limits: Record<string, number>;
    createShaderModule(descriptor: { code: string }): object;
    createComputePipeline(descriptor: {
      layout: 'auto';
      compute: { module: object; entryPoint: string };
    }): object;
  };
  makeTensorInfo(shape: number[], dtype: 'float32', values?: Float32Array): tf.TensorInfo;
  uploadToGPU(dataId: object): void;
  /**
   * The backend's one dispatch function: binds `output`, then `inputs`, then a uniform buffer that starts with
   * NaN, Infinity and each buffer's shape and strides (inputs first), then `uniforms`; records the dispatch and
   * submits the queue as its own programs do. Every program runs through it, so its counters count these too.
   */
  recordAndSubmit(
    program: { pipeline: object; dispatch: [number, number, number]; shaderKey: string },
    output: tf.TensorInfo,
    inputs: tf.TensorInfo[],
    uniforms: { type: string; data: number[] }[],
  ): void;
}

/** One pipeline per backend and code key. */
const pipelines = new WeakMap<object, Map<string, object>>();

const WORKGROUP = 64;

/** Options of {@link runMultiOutputProgram}. */
export interface MultiOutputProgram {
  /** Names the code: one pipeline is compiled per key. */
  key: string;
  /** float32 inputs by the name the code reads them with. */
  inputs: Record<string, tf.TensorInfo>;
  /** float32 outputs to make, by the name the code writes them with, and their shapes. */
  outputs: Record<string, number[]>;
  /** WGSL that defines `fn main(index : i32)`, called once for each index below `threads`. */
  code: string;
  threads: number;
  uniforms?: ProgramUniform[];
}

/**
 * Runs one program that writes several outputs, where a tfjs webgpu program writes one: many small tensors
 * (an optimizer's variables, a layer's statistics) are then updated by one dispatch instead of one each.
 * The inputs and outputs are flat storage arrays of f32 named as given, and `uniforms.<name>` the uniforms.
 * @returns the outputs, in the order of `outputs`.
 */
export function runMultiOutputProgram(
  backend: object,
  { key, inputs, outputs, code, threads, uniforms = [] }: MultiOutputProgram,
): tf.TensorInfo[] {
  const recorder = backend as WebgpuRecorder;
  // Nothing to run (and an empty buffer cannot be bound): empty outputs, as the backend makes them.
  if (threads === 0)
    return Object.values(outputs).map((shape) =>
      recorder.makeTensorInfo(shape, 'float32', new Float32Array(tf.util.sizeFromShape(shape))),
    );
  const made = Object.values(outputs).map((shape) => {
    const output = recorder.makeTensorInfo(shape, 'float32');
    recorder.uploadToGPU(output.dataId);
    return output;
  });
  for (const input of Object.values(inputs)) recorder.uploadToGPU(input.dataId);
  // Bound flat: each buffer then adds two scalars to the backend's part of the uniforms (its size, strides []).
  const flat = (t: tf.TensorInfo): tf.TensorInfo => ({ ...t, shape: [tf.util.sizeFromShape(t.shape)] });
  const [first, ...rest] = [...made, ...Object.values(inputs)].map(flat);
  const bufferCount = made.length + Object.keys(inputs).length;
  const cache = pipelines.get(backend) ?? new Map<string, object>();
  pipelines.set(backend, cache);
  let pipeline = cache.get(key);
  if (!pipeline) {
    const outputNames = Object.keys(outputs);
    const declarations = [...outputNames, ...Object.keys(inputs)]
      .map((name, i) => {
        const access = i < outputNames.length ? 'read_write' : 'read';
        return `@group(0) @binding(${i}) var<storage, ${access}> ${name} : array<f32>;`;
      })
      .join('\n');
    const wgsl = `
      struct Uniforms {
        notANumber : f32,
        infinity : f32,
        ${Array.from({ length: bufferCount }, (_, i) => `size${i} : i32, strides${i} : i32,`).join(' ')}
        threads : i32,
        ${uniforms.map((u) => `${u.name} : ${u.type === 'int32' ? 'i32' : 'f32'},`).join(' ')}
      };
      ${declarations}
      @group(0) @binding(${bufferCount}) var<uniform> uniforms : Uniforms;
      ${code}
      @compute @workgroup_size(${WORKGROUP})
      fn entry(@builtin(global_invocation_id) id : vec3<u32>, @builtin(num_workgroups) groups : vec3<u32>) {
        let index = i32(id.y * groups.x * ${WORKGROUP}u + id.x);
        if (index < uniforms.threads) {
          main(index);
        }
      }`;
    const module = recorder.device.createShaderModule({ code: wgsl });
    pipeline = recorder.device.createComputePipeline({
      layout: 'auto',
      compute: { module, entryPoint: 'entry' },
    });
    cache.set(key, pipeline);
  }
  const workgroups = Math.ceil(threads / WORKGROUP);
  const widest = recorder.device.limits.maxComputeWorkgroupsPerDimension!;
  const dispatch: [number, number, number] = [
    Math.min(workgroups, widest),
    Math.ceil(workgroups / widest),
    1,
  ];
  // The key as the backend's own programs carry one, for whoever looks at the programs dispatched.
  recorder.recordAndSubmit({ pipeline, dispatch, shaderKey: `segstream_${key}` }, first!, rest, [
    { type: 'int32', data: [threads] },
    ...uniforms.map((u) => ({ type: u.type ?? 'float32', data: [u.value] })),
  ]);
  return made;
}

/**
 * The `code`, `threads` and `uniforms` of a {@link runMultiOutputProgram} over tensors laid end to end, one
 * thread an element: the elements of tensor k (of `sizes[k]`) run the WGSL `step(k)`, which reads `i`, the
 * element's index in tensor k, and `size`, that tensor's size.
 */
export function overTensorsEndToEnd(
  sizes: number[],
  step: (k: number) => string,
): Required<Pick<MultiOutputProgram, 'code' | 'threads' | 'uniforms'>> {
  const ends = sizes.map((_, k) => sizes.slice(0, k + 1).reduce((a, b) => a + b, 0));
  const branch = (k: number) => `if (index < uniforms.end${k}) {
          let start = ${k === 0 ? '0' : `uniforms.end${k - 1}`};
          let i = index - start;
          let size = uniforms.end${k} - start;
          ${step(k)}
        }`;
  return {
    code: `fn main(index : i32) {
        ${sizes.map((_, k) => branch(k)).join(' else ')}
      }`,
    threads: ends.at(-1) ?? 0,
    uniforms: ends.map((end, k) => ({ name: `end${k}`, value: end, type: 'int32' })),
  };
}
