/**
 * Small SIMD functions that work directly in the wasm backend's memory, for the few steps where neither a
 * JS loop nor a stock kernel is fast enough. Each is a one-function WebAssembly module encoded here (a few
 * hundred bytes, no toolchain) that imports the backend's memory, so it reads and writes tensors in place.
 * This module loads no TF.js, so that a helper thread sharing the memory can run them too.
 */

/** The parts of the WebAssembly API used here (TypeScript declares it only in its DOM library). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}
declare const WebAssembly: {
  Memory: abstract new (...args: never[]) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
};

/** LEB128 of an unsigned integer (wasm's encoding of indices, sizes and offsets). */
export function unsigned(value: number): number[] {
  const bytes: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0);
  return bytes;
}

/** Signed LEB128 (the immediate of i32.const). */
export function signed(value: number): number[] {
  const bytes: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0))
      return [...bytes, byte];
    bytes.push(byte | 0x80);
  }
}

export const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  localGet: 0x20,
  localSet: 0x21,
  i32Const: 0x41,
  i32Eqz: 0x45,
  i32LtU: 0x49,
  i32Add: 0x6a,
  i32Sub: 0x6b,
} as const;

/** Opcodes of the float32x4 arithmetic and comparisons used here (after the 0xfd prefix: pass them to `simd`). */
export const f32x4 = {
  neg: 0xe1,
  add: 0xe4,
  sub: 0xe5,
  mul: 0xe6,
  div: 0xe7,
  sqrt: 0xe3,
  ne: 0x42,
  gt: 0x44,
  min: 0xe8,
  max: 0xe9,
  nearest: 0x6a,
} as const;

/** Opcodes of whole-vector bit operations (`bitselect(a, b, mask)` takes a's bits where mask is set). */
export const v128Bits = { and: 0x4e, andNot: 0x4f, or: 0x50, bitselect: 0x52 } as const;

/** Opcodes of the int32x4 operations used here (`truncSatFromF32x4` rounds toward zero, saturating). */
export const i32x4 = { shl: 0xab, shrS: 0xac, add: 0xae, sub: 0xb1, truncSatFromF32x4: 0xf8 } as const;

/** A SIMD instruction: the 0xfd prefix and its opcode. */
export const simd = (opcode: number): number[] => [0xfd, ...unsigned(opcode)];
/** v128.load / v128.store at a constant offset, with no alignment promised. */
/** `v128.const` of four equal float32 values. */
export const f32x4Const = (value: number): number[] => [
  ...simd(0x0c),
  ...new Uint8Array(new Float32Array(4).fill(value).buffer),
];
/** `v128.const` of four equal int32 values. */
export const i32x4Const = (value: number): number[] => [
  ...simd(0x0c),
  ...new Uint8Array(new Int32Array(4).fill(value).buffer),
];

export const v128Load = (offset: number): number[] => [...simd(0x00), 0, ...unsigned(offset)];
export const v128Store = (offset: number): number[] => [...simd(0x0b), 0, ...unsigned(offset)];
/** i32.load / i32.store at a constant offset (4-byte aligned). */
export const i32Load = (offset: number): number[] => [0x28, 2, ...unsigned(offset)];
export const i32Store = (offset: number): number[] => [0x36, 2, ...unsigned(offset)];
/** v128.load32_splat: one float at a constant offset, in all four lanes. */
export const v128Load32Splat = (offset: number): number[] => [...simd(0x09), 0, ...unsigned(offset)];
/** `local += by` for an i32 local. */
export const addTo = (local: number, by: number): number[] => [
  op.localGet,
  local,
  op.i32Const,
  ...signed(by),
  op.i32Add,
  op.localSet,
  local,
];
/** `local += other` for two i32 locals. */
export const addLocal = (local: number, other: number): number[] => [
  op.localGet,
  local,
  op.localGet,
  other,
  op.i32Add,
  op.localSet,
  local,
];

const I32 = 0x7f;
const V128 = 0x7b;

/** A function of `params` i32 parameters, extra i32 and v128 locals after them, and its code (without the final end). */
export interface HeapFunctionSource {
  name: string;
  params: number;
  i32Locals: number;
  v128Locals: number;
  code: number[];
}

function moduleBytes(source: HeapFunctionSource, sharedMemory: boolean): Uint8Array {
  const section = (id: number, contents: number[]): number[] => [
    id,
    ...unsigned(contents.length),
    ...contents,
  ];
  const name = (text: string): number[] => [
    ...unsigned(text.length),
    ...Array.from(text, (c) => c.charCodeAt(0)),
  ];
  const locals = [
    [source.i32Locals, I32],
    [source.v128Locals, V128],
  ].filter(([count]) => count! > 0);
  const body = [
    ...unsigned(locals.length),
    ...locals.flatMap(([count, type]) => [...unsigned(count!), type!]),
    ...source.code,
    op.end,
  ];
  // A shared memory must declare a maximum: wasm32's 65536 pages, which the backend's memory also has.
  const memoryLimits = sharedMemory ? [0x03, 1, ...unsigned(65536)] : [0x00, 1];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [1, 0x60, ...unsigned(source.params), ...new Array<number>(source.params).fill(I32), 0]),
    ...section(2, [1, ...name('env'), ...name('memory'), 0x02, ...memoryLimits]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name(source.name), 0x00, 0]),
    ...section(10, [1, ...unsigned(body.length), ...body]),
  ]);
}

/** Whether `value` is a WebAssembly memory. */
export function isWasmMemory(value: unknown): value is WasmMemory {
  return value instanceof WebAssembly.Memory;
}

const modules = new Map<string, object>();

/** `source` compiled for a shared (threaded backend) or unshared memory, once per process. */
export function heapFunctionModule(source: HeapFunctionSource, sharedMemory: boolean): object {
  const key = `${source.name}/${sharedMemory}`;
  let module = modules.get(key);
  if (!module) modules.set(key, (module = new WebAssembly.Module(moduleBytes(source, sharedMemory))));
  return module;
}

/** A compiled heap function bound to `memory` (in any thread that shares it). */
export function instantiateHeapFunction(
  module: object,
  memory: WasmMemory,
  name: string,
): (...args: number[]) => void {
  return new WebAssembly.Instance(module, { env: { memory } }).exports[name] as (...args: number[]) => void;
}

const instances = new WeakMap<WasmMemory, Map<string, (...args: number[]) => void>>();

/** The function `source` describes, instantiated once per backend memory. */
export function heapFunction(memory: WasmMemory, source: HeapFunctionSource): (...args: number[]) => void {
  let functions = instances.get(memory);
  if (!functions) instances.set(memory, (functions = new Map()));
  let fn = functions.get(source.name);
  if (!fn) {
    fn = instantiateHeapFunction(
      heapFunctionModule(source, memory.buffer instanceof SharedArrayBuffer),
      memory,
      source.name,
    );
    functions.set(source.name, fn);
  }
  return fn;
}
