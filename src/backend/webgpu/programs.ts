import type * as tf from '@tensorflow/tfjs';

/**
 * A compute program as the tfjs webgpu backend runs it (the fields of its `WebGPUProgram` that segstream's
 * programs set; tfjs-backend-webgpu 4.22). The backend declares each input as a storage array named by
 * `variableNames`, the uniforms (`size`, then `uniforms`), and calls `main(index)` once per flat index.
 */
interface FlatProgram {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames: string[];
  workgroupSize: [number, number, number];
  size: true;
  uniforms?: string;
  getUserCode(): string;
}

/** A float32 value that a program reads from its uniforms, by name. */
export interface ProgramUniform {
  name: string;
  value: number;
  type?: 'float32' | 'int32';
}

/** The parts of the tfjs webgpu backend that segstream's programs use (not in TF.js's exported types). */
export interface WebgpuProgramRunner {
  runWebGPUProgram(
    program: FlatProgram,
    inputs: tf.TensorInfo[],
    outputDtype: 'float32',
    uniforms?: { type: string; data: number[] }[],
  ): tf.TensorInfo;
}

/** The parts of the tfjs webgpu backend's data handling that kernels use. */
interface WebgpuData {
  disposeData(dataId: object): void;
}

const WORKGROUP = 64;

/**
 * Runs a program that computes each element of a float32 output from its flat index, one thread an element.
 * `body` is WGSL that ends with `return <value>;`; it reads `index`, the inputs by name (`name[index]` for an
 * input of the output's shape), and `uniforms.<name>`. `key` names the code: the backend compiles one
 * pipeline per key and input ranks, and passes shapes and uniforms at each run.
 */
export function runFlatProgram(
  backend: object,
  key: string,
  inputs: Record<string, tf.TensorInfo>,
  outputShape: number[],
  body: string,
  uniforms: ProgramUniform[] = [],
): tf.TensorInfo {
  const size = outputShape.reduce((a, b) => a * b, 1);
  const program: FlatProgram = {
    outputShape,
    shaderKey: `segstream_${key}`,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    // The backend spreads a dispatch over y and z where x exceeds the device's limit.
    dispatch: [Math.ceil(size / WORKGROUP), 1, 1],
    variableNames: Object.keys(inputs),
    workgroupSize: [WORKGROUP, 1, 1],
    size: true,
    ...(uniforms.length ? { uniforms: uniforms.map((u) => `${u.name} : ${wgslType(u)},`).join(' ') } : {}),
    getUserCode: () => `
      fn elementValue(index : i32) -> f32 {
        ${body}
      }
      fn main(index : i32) {
        if (index < uniforms.size) {
          setOutputAtIndex(index, elementValue(index));
        }
      }`,
  };
  return (backend as unknown as WebgpuProgramRunner).runWebGPUProgram(
    program,
    Object.values(inputs),
    'float32',
    uniforms.map((u) => ({ type: u.type ?? 'float32', data: [u.value] })),
  );
}

function wgslType(uniform: ProgramUniform): string {
  return uniform.type === 'int32' ? 'i32' : 'f32';
}

/**
 * Column sums over an input seen as [rows, channels], in two programs and without the transpose that TF.js's
 * reductions over leading axes run: partial sums of blocks of about sqrt(rows) rows (so both passes have
 * that many terms a thread), then the sum of each column's partials, times `scale`. `term` is the WGSL value
 * that column `column` adds at row `row` (both i32; `uniforms.channels` is the row length); it reads the
 * inputs by name.
 * @returns a float32 tensor of `columns` sums; the caller disposes it.
 */
export function columnSums(
  backend: object,
  key: string,
  inputs: Record<string, tf.TensorInfo>,
  shape: { rows: number; channels: number; columns: number },
  term: string,
  scale = 1,
): tf.TensorInfo {
  const { rows, channels, columns } = shape;
  const blockRows = Math.max(1, Math.ceil(Math.sqrt(rows)));
  const blocks = Math.ceil(rows / blockRows);
  const partials = runFlatProgram(
    backend,
    `${key}_partialSums`,
    inputs,
    [blocks, columns],
    `let column = index % uniforms.columns;
        let first = (index / uniforms.columns) * uniforms.blockRows;
        let last = min(first + uniforms.blockRows, uniforms.rows);
        var sum = 0.0;
        for (var row = first; row < last; row = row + 1) {
          sum = sum + ${term};
        }
        return sum;`,
    [
      { name: 'columns', value: columns, type: 'int32' },
      { name: 'blockRows', value: blockRows, type: 'int32' },
      { name: 'rows', value: rows, type: 'int32' },
      { name: 'channels', value: channels, type: 'int32' },
    ],
  );
  const sums = runFlatProgram(
    backend,
    'columnSumsOfPartials',
    { partials },
    [columns],
    `var sum = 0.0;
        for (var block = 0; block < uniforms.blocks; block = block + 1) {
          sum = sum + partials[block * uniforms.columns + index];
        }
        return sum * uniforms.scale;`,
    [
      { name: 'columns', value: columns, type: 'int32' },
      { name: 'blocks', value: blocks, type: 'int32' },
      { name: 'scale', value: scale },
    ],
  );
  disposeIntermediate(backend, partials);
  return sums;
}

/** Frees a program's output that a kernel used on the way and does not return. */
export function disposeIntermediate(backend: object, tensor: tf.TensorInfo): void {
  (backend as unknown as WebgpuData).disposeData(tensor.dataId);
}
