import * as tf from '@tensorflow/tfjs';

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

/** A value that a program reads from its uniforms, by name. [type='float32'] */
export interface ProgramUniform {
  name: string;
  value: number;
  type?: ProgramDtype;
}

/** The parts of the tfjs webgpu backend that segstream's programs use (not in TF.js's exported types). */
export interface WebgpuProgramRunner {
  runWebGPUProgram(
    program: FlatProgram,
    inputs: tf.TensorInfo[],
    outputDtype: ProgramDtype,
    uniforms?: { type: string; data: number[] }[],
  ): tf.TensorInfo;
}

/** The parts of the tfjs webgpu backend's data handling that kernels use. */
interface WebgpuData {
  disposeData(dataId: object): void;
}

const WORKGROUP = 64;

/** The element type of a program's output: float32, or int32 for counts. */
export type ProgramDtype = 'float32' | 'int32';

/** Options of {@link runFlatProgram}. */
export interface FlatProgramOptions {
  uniforms?: ProgramUniform[];
  /** [dtype='float32'] */
  dtype?: ProgramDtype;
  /** WGSL functions that `body` calls. */
  functions?: string;
}

/**
 * Runs a program that computes each element of its output from its flat index, one thread an element.
 * `body` is WGSL that ends with `return <value>;` (f32, or i32 for an int32 output); it reads `index`, the
 * inputs by name (`name[index]` for an input of the output's shape), and `uniforms.<name>`. `key` names the
 * code: the backend compiles one pipeline per key and input ranks, and passes shapes and uniforms at each run.
 */
export function runFlatProgram(
  backend: object,
  key: string,
  inputs: Record<string, tf.TensorInfo>,
  outputShape: number[],
  body: string,
  { uniforms = [], dtype = 'float32', functions = '' }: FlatProgramOptions = {},
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
    ...(uniforms.length
      ? { uniforms: uniforms.map((u) => `${u.name} : ${wgslType(u.type)},`).join(' ') }
      : {}),
    getUserCode: () => `
      ${functions}
      fn elementValue(index : i32) -> ${wgslType(dtype)} {
        ${body}
      }
      fn main(index : i32) {
        if (index < uniforms.size) {
          setOutputAtIndex${dtype === 'int32' ? 'I32' : ''}(index, elementValue(index));
        }
      }`,
  };
  return (backend as unknown as WebgpuProgramRunner).runWebGPUProgram(
    program,
    Object.values(inputs),
    dtype,
    uniforms.map((u) => ({ type: u.type ?? 'float32', data: [u.value] })),
  );
}

function wgslType(dtype: ProgramDtype = 'float32'): string {
  return dtype === 'int32' ? 'i32' : 'f32';
}

/** Frees a program's output that a kernel used on the way and does not return. */
export function disposeIntermediate(backend: object, tensor: tf.TensorInfo): void {
  (backend as unknown as WebgpuData).disposeData(tensor.dataId);
}

/** The most partial sums a column sum keeps (64 MiB of float32): a filter gradient has up to 590,000 columns. */
const MOST_PARTIAL_SUMS = 2 ** 24;

/**
 * The WGSL of `fn blockSum(first, last, column)` that {@link columnSums} calls, from `term`: the body of
 * `fn term(row : i32, column : i32)`, ending with `return <value>;`, what column `column` adds at row `row`.
 */
export function sumOfTerms(term: string, dtype: ProgramDtype = 'float32'): string {
  const type = wgslType(dtype);
  return `fn term(row : i32, column : i32) -> ${type} {
        ${term}
      }
      fn blockSum(first : i32, last : i32, column : i32) -> ${type} {
        var sum = ${dtype === 'int32' ? '0' : '0.0'};
        for (var row = first; row < last; row = row + 1) {
          sum = sum + term(row, column);
        }
        return sum;
      }`;
}

/** What column sums run over: `rows` rows of `columns` columns, the inputs read as [rows, channels]. */
export interface ColumnSumShape {
  rows: number;
  channels: number;
  columns: number;
}

/** The first pass of {@link columnSums}: per block of rows, the partial sums of every column. */
export interface PartialSums {
  /** [blocks, columns] (float32, or int32); the caller disposes it. */
  partials: tf.TensorInfo;
  blocks: number;
  /** Rows a block sums; the last block may have fewer. */
  blockRows: number;
  columns: number;
}

/**
 * The partial sums of {@link columnSums} alone, for kernels whose second pass does more than add them up
 * (reading them with {@link partialsSumFunction}). `blockSum` and the other arguments as there.
 */
export function partialColumnSums(
  backend: object,
  key: string,
  inputs: Record<string, tf.TensorInfo>,
  shape: ColumnSumShape,
  blockSum: string,
  { dtype = 'float32', uniforms = [] }: { dtype?: ProgramDtype; uniforms?: ProgramUniform[] } = {},
): PartialSums {
  const { rows, channels, columns } = shape;
  // Blocks of about sqrt(rows) rows, fewer where the partial sums would pass MOST_PARTIAL_SUMS.
  const blocks = Math.max(
    1,
    Math.min(Math.ceil(Math.sqrt(rows)), Math.floor(MOST_PARTIAL_SUMS / Math.max(1, columns))),
  );
  const blockRows = Math.max(1, Math.ceil(rows / blocks));
  const partials = runFlatProgram(
    backend,
    `${key}_partialSums`,
    inputs,
    [blocks, columns],
    `let first = (index / uniforms.columns) * uniforms.blockRows;
        return blockSum(first, min(first + uniforms.blockRows, uniforms.rows), index % uniforms.columns);`,
    {
      dtype,
      functions: blockSum,
      uniforms: [
        { name: 'columns', value: columns, type: 'int32' },
        { name: 'blockRows', value: blockRows, type: 'int32' },
        { name: 'rows', value: rows, type: 'int32' },
        { name: 'channels', value: channels, type: 'int32' },
        ...uniforms,
      ],
    },
  );
  return { partials, blocks, blockRows, columns };
}

/**
 * WGSL of `fn partialsSum(column)`, the sum of a column of the {@link partialColumnSums} named `partials` over
 * its blocks; it reads the {@link partialsUniforms}.
 */
export function partialsSumFunction(dtype: ProgramDtype = 'float32'): string {
  return `fn partialsSum(column : i32) -> ${wgslType(dtype)} {
        var sum = ${dtype === 'int32' ? '0' : '0.0'};
        for (var block = 0; block < uniforms.blocks; block = block + 1) {
          sum = sum + partials[block * uniforms.partialColumns + column];
        }
        return sum;
      }`;
}

/** The uniforms that {@link partialsSumFunction} reads: `blocks` and `partialColumns`. */
export function partialsUniforms({
  blocks,
  columns,
}: Pick<PartialSums, 'blocks' | 'columns'>): ProgramUniform[] {
  return [
    { name: 'blocks', value: blocks, type: 'int32' },
    { name: 'partialColumns', value: columns, type: 'int32' },
  ];
}

/**
 * Column sums over rows, in two programs and without the transpose that TF.js's reductions over leading axes
 * run: partial sums of blocks of about sqrt(rows) rows (so both passes have that many terms a thread), then
 * the sum of each column's partials, times `scale` (float32 only). `blockSum` is WGSL defining
 * `fn blockSum(first : i32, last : i32, column : i32)`, the sum of column `column` over rows first..last-1
 * ({@link sumOfTerms} makes it from a term a row); it reads the inputs by name, `uniforms.channels` (the
 * row length of an input seen as [rows, channels]) and the `uniforms` given.
 * @returns a tensor of `columns` sums (float32, or int32 with `dtype`); the caller disposes it.
 */
export function columnSums(
  backend: object,
  key: string,
  inputs: Record<string, tf.TensorInfo>,
  shape: ColumnSumShape,
  blockSum: string,
  {
    scale = 1,
    dtype = 'float32',
    uniforms = [],
  }: { scale?: number; dtype?: ProgramDtype; uniforms?: ProgramUniform[] } = {},
): tf.TensorInfo {
  const partial = partialColumnSums(backend, key, inputs, shape, blockSum, { dtype, uniforms });
  const sums = runFlatProgram(
    backend,
    `columnSumsOfPartials_${dtype}`,
    { partials: partial.partials },
    [shape.columns],
    dtype === 'int32' ? 'return partialsSum(index);' : 'return partialsSum(index) * uniforms.scale;',
    {
      dtype,
      functions: partialsSumFunction(dtype),
      uniforms: [...partialsUniforms(partial), { name: 'scale', value: scale }],
    },
  );
  disposeIntermediate(backend, partial.partials);
  return sums;
}

/** The tfjs webgpu backend's Reshape, which shares the data (no program). */
export function reshape(backend: object, x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  const kernel = (tf.getKernel(tf.Reshape, 'webgpu') as tf.KernelConfig).kernelFunc;
  return kernel({
    inputs: { x },
    backend,
    attrs: { shape },
  } as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
}

/**
 * The sum (times `scale`) of a float32 x over all its axes but the last, as column sums: where TF.js transposes
 * x and then reduces each channel in one workgroup, which leaves most of a large GPU idle.
 */
export function sumOverLeadingAxes(
  backend: object,
  x: tf.TensorInfo,
  keepDims: boolean,
  scale: number,
): tf.TensorInfo {
  const channels = x.shape.at(-1)!;
  const rows = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const sums = columnSums(
    backend,
    'leadingAxesSum',
    { x },
    { rows, channels, columns: channels },
    sumOfTerms('return x[row * uniforms.channels + column];'),
    { scale },
  );
  if (!keepDims) return sums;
  const kept = reshape(backend, sums, [...x.shape.slice(0, -1).map(() => 1), channels]);
  disposeIntermediate(backend, sums);
  return kept;
}

/** Whether a reduction over `axis` of x takes every axis but the last, of a non-empty float32 x of rank 2 or more. */
export function reducesLeadingAxes(x: tf.TensorInfo, axis: number | number[] | null): boolean {
  const rank = x.shape.length;
  // A null axis reduces all axes.
  if (axis === null || rank < 2 || x.dtype !== 'float32' || x.shape.some((d) => d === 0)) return false;
  const axes = new Set((Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a)));
  return axes.size === rank - 1 && [...axes].every((a) => a >= 0 && a < rank - 1);
}
