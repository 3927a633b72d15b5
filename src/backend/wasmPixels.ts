import * as tf from '@tensorflow/tfjs';

/**
 * Turns 8-bit RGB pixels into a normalized float32 tensor directly in the wasm backend's memory. The plain
 * way (convert to a Float32Array, scale it in a JS loop, then let the backend copy it into its heap) spent
 * about a third of the ingest pipeline's main thread; here the bytes are copied in once and a small SIMD
 * function, sharing the backend's memory, widens and scales 16 pixels at a time.
 */

/** The parts of the WebAssembly API used here (TypeScript declares it only in its DOM library). */
interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
}
declare const WebAssembly: {
  Memory: abstract new (...args: never[]) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
};

/** The emscripten module of the wasm backend, as far as this file uses it. */
interface WasmModule {
  _malloc(bytes: number): number;
  _free(pointer: number): void;
  wasmMemory?: WasmMemory;
  asm?: { memory?: WasmMemory };
}
interface WasmBackendInternals {
  wasm: WasmModule;
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
}

/** Values per SIMD block: 48 bytes are 16 RGB pixels and start on a red value. */
const BLOCK = 48;
/** Bytes of the per-channel constants: 3 scale and 3 offset vectors of 4 floats. */
const CONSTANTS_BYTES = 96;

type Normalize = (source: number, target: number, blocks: number, constants: number) => void;

/** LEB128 of an unsigned integer (wasm's encoding of indices, sizes and offsets). */
function unsigned(value: number): number[] {
  const bytes: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0);
  return bytes;
}

/** A wasm section: its id, then its contents prefixed by their length. */
const section = (id: number, contents: number[]): number[] => [id, ...unsigned(contents.length), ...contents];
const name = (text: string): number[] => [...unsigned(text.length), ...Array.from(text, (c) => c.charCodeAt(0))];

const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
/** A SIMD instruction: the 0xfd prefix and its opcode. */
const simd = (opcode: number): number[] => [0xfd, ...unsigned(opcode)];
/** v128.load / v128.store at a constant offset, with no alignment promised. */
const v128Load = (offset: number): number[] => [...simd(0x00), 0, ...unsigned(offset)];
const v128Store = (offset: number): number[] => [...simd(0x0b), 0, ...unsigned(offset)];
const I16X8_EXTEND_LOW_I8X16_U = 0x89;
const I16X8_EXTEND_HIGH_I8X16_U = 0x8a;
const I32X4_EXTEND_LOW_I16X8_U = 0xa9;
const I32X4_EXTEND_HIGH_I16X8_U = 0xaa;
const F32X4_CONVERT_I32X4_S = 0xfa;
const F32X4_MUL = 0xe6;
const F32X4_ADD = 0xe4;

/**
 * The module: `normalize(source, target, blocks, constants)` reads `blocks` x 48 bytes at `source` and
 * writes as many floats at `target`, value v of channel c as v * scale[c] + offset[c]. Four consecutive
 * values of interleaved RGB start on channel k mod 3 for the k-th group of four, so three rotated scale and
 * offset vectors (read from `constants`) cover every group.
 */
function normalizeModule(shared: boolean): Uint8Array {
  // Locals after the four i32 parameters: scale vectors 4-6, offset vectors 7-9, 16 bytes 10, 8 halfwords 11.
  const [SCALE, OFFSET, BYTES, HALVES] = [4, 7, 10, 11];
  const code: number[] = [];
  for (let k = 0; k < 6; k++) code.push(LOCAL_GET, 3, ...v128Load(16 * k), LOCAL_SET, SCALE + k);
  code.push(0x02, 0x40, 0x03, 0x40); // block, loop
  code.push(LOCAL_GET, 2, 0x45, 0x0d, 1); // blocks == 0: leave
  for (let load = 0; load < 3; load++) {
    code.push(LOCAL_GET, 0, ...v128Load(16 * load), LOCAL_SET, BYTES);
    for (const [half, widenHalf] of [I16X8_EXTEND_LOW_I8X16_U, I16X8_EXTEND_HIGH_I8X16_U].entries()) {
      code.push(LOCAL_GET, BYTES, ...simd(widenHalf), LOCAL_SET, HALVES);
      for (const [quarter, widenQuarter] of [I32X4_EXTEND_LOW_I16X8_U, I32X4_EXTEND_HIGH_I16X8_U].entries()) {
        const group = 4 * load + 2 * half + quarter;
        code.push(LOCAL_GET, 1, LOCAL_GET, HALVES, ...simd(widenQuarter), ...simd(F32X4_CONVERT_I32X4_S));
        code.push(LOCAL_GET, SCALE + (group % 3), ...simd(F32X4_MUL), LOCAL_GET, OFFSET + (group % 3), ...simd(F32X4_ADD));
        code.push(...v128Store(16 * group));
      }
    }
  }
  const step = (local: number, by: number[], opcode: number) => code.push(LOCAL_GET, local, 0x41, ...by, opcode, LOCAL_SET, local);
  step(0, [BLOCK], 0x6a); // source += 48
  step(1, [0xc0, 0x01], 0x6a); // target += 192 (signed LEB128)
  step(2, [1], 0x6b); // blocks -= 1
  code.push(0x0c, 0, 0x0b, 0x0b, 0x0b); // br loop, end loop, end block, end function
  const body = [1, 8, 0x7b, ...code]; // one run of 8 v128 locals
  // A shared memory must declare a maximum: wasm32's 65536 pages, which the backend's memory also has.
  const memoryLimits = shared ? [0x03, 1, ...unsigned(65536)] : [0x00, 1];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 0]),
    ...section(2, [1, ...name('env'), ...name('memory'), 0x02, ...memoryLimits]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('normalize'), 0x00, 0]),
    ...section(10, [1, ...unsigned(body.length), ...body]),
  ]);
}

const instances = new WeakMap<WasmMemory, Normalize>();

function normalizeFor(memory: WasmMemory): Normalize {
  let normalize = instances.get(memory);
  if (!normalize) {
    const module = new WebAssembly.Module(normalizeModule(memory.buffer instanceof SharedArrayBuffer));
    normalize = new WebAssembly.Instance(module, { env: { memory } }).exports['normalize'] as Normalize;
    instances.set(memory, normalize);
  }
  return normalize;
}

/**
 * A float32 tensor of `shape` (last axis 3) holding the RGB bytes of `parts`, one after another, as
 * value * scale[channel] + offset[channel] in float32 arithmetic, made in the wasm backend's memory; or
 * undefined when the wasm backend is not the active one (build the values in JS then).
 *
 * @example
 * const images = normalizedPixelTensor(tiles.map((t) => t.image.data), [tiles.length, 256, 256, 3], [1 / 255, 1 / 255, 1 / 255], [0, 0, 0]);
 */
export function normalizedPixelTensor(parts: readonly Uint8Array[], shape: number[], scale: readonly number[], offset: readonly number[]): tf.Tensor | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  const backend = tf.backend() as unknown as WasmBackendInternals;
  const memory = backend.wasm.wasmMemory ?? backend.wasm.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return undefined;
  const count = tf.util.sizeFromShape(shape);
  const given = parts.reduce((sum, part) => sum + part.length, 0);
  if (shape.at(-1) !== 3 || given !== count) throw new RangeError(`normalizedPixelTensor: ${given} bytes do not fill an RGB tensor of shape [${shape.join(', ')}]`);
  const output = backend.makeOutput(shape, 'float32');
  const target = backend.dataIdMap.get(output.dataId).memoryOffset;
  // Constants first (16-byte aligned by malloc), then the bytes.
  const scratch = backend.wasm._malloc(CONSTANTS_BYTES + count) >>> 0;
  try {
    const constants = new Float32Array(memory.buffer, scratch, CONSTANTS_BYTES / 4);
    for (let rotation = 0; rotation < 3; rotation++) {
      for (let lane = 0; lane < 4; lane++) {
        constants[4 * rotation + lane] = scale[(rotation + lane) % 3]!;
        constants[12 + 4 * rotation + lane] = offset[(rotation + lane) % 3]!;
      }
    }
    const bytes = new Uint8Array(memory.buffer, scratch + CONSTANTS_BYTES, count);
    let at = 0;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.length;
    }
    const blocks = Math.floor(count / BLOCK);
    normalizeFor(memory)(scratch + CONSTANTS_BYTES, target, blocks, scratch);
    // The few values after the last whole block (a tensor of under 16 pixels per 48 bytes): same arithmetic.
    const values = new Float32Array(memory.buffer, target, count);
    for (let i = blocks * BLOCK; i < count; i++) values[i] = Math.fround(Math.fround(bytes[i]! * constants[i % 3]!) + constants[12 + (i % 3)]!);
  } finally {
    backend.wasm._free(scratch);
  }
  return tf.engine().makeTensorFromTensorInfo(output);
}
