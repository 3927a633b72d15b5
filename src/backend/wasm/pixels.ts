import * as tf from '@tensorflow/tfjs';
import { type HeapFunctionSource, addTo, f32x4, heapFunction, op, simd, v128Load, v128Store } from './simd/heapFunctions.js';
import { activeWasmHeap } from './backendHeap.js';

/**
 * Turns 8-bit RGB pixels into a normalized float32 tensor directly in the wasm backend's memory. The plain
 * way (convert to a Float32Array, scale it in a JS loop, then let the backend copy it into its heap) spent
 * about a third of the ingest pipeline's main thread; here the bytes are copied in once and a small SIMD
 * function, sharing the backend's memory, widens and scales 16 pixels at a time.
 */

/** Values per SIMD block: 48 bytes are 16 RGB pixels and start on a red value. */
const BLOCK = 48;
/** Bytes of the per-channel constants: 3 scale and 3 offset vectors of 4 floats. */
const CONSTANTS_BYTES = 96;
const I16X8_EXTEND_LOW_I8X16_U = 0x89;
const I16X8_EXTEND_HIGH_I8X16_U = 0x8a;
const I32X4_EXTEND_LOW_I16X8_U = 0xa9;
const I32X4_EXTEND_HIGH_I16X8_U = 0xaa;
const F32X4_CONVERT_I32X4_S = 0xfa;

/**
 * The module: `normalize(source, target, blocks, constants)` reads `blocks` x 48 bytes at `source` and
 * writes as many floats at `target`, value v of channel c as v * scale[c] + offset[c]. Four consecutive
 * values of interleaved RGB start on channel k mod 3 for the k-th group of four, so three rotated scale and
 * offset vectors (read from `constants`) cover every group.
 */
const NORMALIZE: HeapFunctionSource = (() => {
  // Parameters source 0, target 1, blocks 2, constants 3; locals: scale vectors 4-6, offset vectors 7-9, 16 bytes 10, 8 halfwords 11.
  const [SCALE, OFFSET, BYTES, HALVES] = [4, 7, 10, 11];
  const code: number[] = [];
  for (let k = 0; k < 6; k++) code.push(op.localGet, 3, ...v128Load(16 * k), op.localSet, SCALE + k);
  code.push(...op.block, ...op.loop);
  code.push(op.localGet, 2, op.i32Eqz, op.brIf, 1); // blocks == 0: leave
  for (let load = 0; load < 3; load++) {
    code.push(op.localGet, 0, ...v128Load(16 * load), op.localSet, BYTES);
    for (const [half, widenHalf] of [I16X8_EXTEND_LOW_I8X16_U, I16X8_EXTEND_HIGH_I8X16_U].entries()) {
      code.push(op.localGet, BYTES, ...simd(widenHalf), op.localSet, HALVES);
      for (const [quarter, widenQuarter] of [I32X4_EXTEND_LOW_I16X8_U, I32X4_EXTEND_HIGH_I16X8_U].entries()) {
        const group = 4 * load + 2 * half + quarter;
        code.push(op.localGet, 1, op.localGet, HALVES, ...simd(widenQuarter), ...simd(F32X4_CONVERT_I32X4_S));
        code.push(op.localGet, SCALE + (group % 3), ...simd(f32x4.mul), op.localGet, OFFSET + (group % 3), ...simd(f32x4.add));
        code.push(...v128Store(16 * group));
      }
    }
  }
  code.push(...addTo(0, BLOCK), ...addTo(1, 4 * BLOCK), ...addTo(2, -1));
  code.push(op.br, 0, op.end, op.end); // next block; end loop, end block
  return { name: 'normalize', params: 4, i32Locals: 0, v128Locals: 8, code };
})();

/**
 * A float32 tensor of `shape` (last axis 3) holding the RGB bytes of `parts`, one after another, as
 * value * scale[channel] + offset[channel] in float32 arithmetic, made in the wasm backend's memory; or
 * undefined when the wasm backend is not the active one (build the values in JS then).
 *
 * @example
 * const images = normalizedPixelTensor(tiles.map((t) => t.image.data), [tiles.length, 256, 256, 3], [1 / 255, 1 / 255, 1 / 255], [0, 0, 0]);
 */
export function normalizedPixelTensor(parts: readonly Uint8Array[], shape: number[], scale: readonly number[], offset: readonly number[]): tf.Tensor | undefined {
  const heap = activeWasmHeap();
  if (!heap) return undefined;
  const { backend, memory } = heap;
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
    heapFunction(memory, NORMALIZE)(scratch + CONSTANTS_BYTES, target, blocks, scratch);
    // The few values after the last whole block (a tensor of under 16 pixels per 48 bytes): same arithmetic.
    const values = new Float32Array(memory.buffer, target, count);
    for (let i = blocks * BLOCK; i < count; i++) values[i] = Math.fround(Math.fround(bytes[i]! * constants[i % 3]!) + constants[12 + (i % 3)]!);
  } finally {
    backend.wasm._free(scratch);
  }
  return tf.engine().makeTensorFromTensorInfo(output);
}
