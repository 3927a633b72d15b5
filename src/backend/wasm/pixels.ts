import * as tf from '@tensorflow/tfjs';
import { activeWasmHeap } from './backendHeap.js';
import {
  addTo,
  f32x4,
  type HeapFunctionSource,
  heapFunction,
  op,
  simd,
  unsigned,
  v128Load,
  v128Store,
} from './simd/heapFunctions.js';

/**
 * Turns 8-bit pixels (RGB, or one channel per raster band) into a normalized float32 tensor directly in the
 * wasm backend's memory. The plain way (convert to a Float32Array, scale it in a JS loop, then let the
 * backend copy it into its heap) spent about a third of the ingest pipeline's main thread; here the bytes
 * are copied in once and a small SIMD function, sharing the backend's memory, widens and scales 16 values
 * at a time.
 */

const I16X8_EXTEND_LOW_I8X16_U = 0x89;
const I16X8_EXTEND_HIGH_I8X16_U = 0x8a;
const I32X4_EXTEND_LOW_I16X8_U = 0xa9;
const I32X4_EXTEND_HIGH_I16X8_U = 0xaa;
const F32X4_CONVERT_I32X4_S = 0xfa;

const greatestCommonDivisor = (a: number, b: number): number =>
  b === 0 ? a : greatestCommonDivisor(b, a % b);
/** Bytes of one SIMD block for `channels` channels: whole 16-byte loads that start on channel 0 (48 for RGB). */
const blockBytes = (channels: number): number => (16 * channels) / greatestCommonDivisor(16, channels);

/**
 * The module for `channels` channels: `normalize(source, target, blocks, constants)` reads `blocks` blocks
 * of bytes at `source` and writes as many floats at `target`, value v of channel c as v * scale[c] + offset[c].
 * Four consecutive values starting on channel s need the scales and offsets of channels s, s+1, s+2, s+3
 * (mod channels): `constants` holds those vectors for every s, scales first, and the k-th group of four
 * in a block starts on channel 4k mod channels.
 */
function normalizeSource(channels: number): HeapFunctionSource {
  // Parameters source 0, target 1, blocks 2, constants 3; locals: scale vectors, offset vectors, 16 bytes, 8 halfwords.
  const [SCALE, OFFSET, BYTES, HALVES] = [4, 4 + channels, 4 + 2 * channels, 5 + 2 * channels];
  const get = (local: number): number[] => [op.localGet, ...unsigned(local)];
  const set = (local: number): number[] => [op.localSet, ...unsigned(local)];
  const block = blockBytes(channels);
  const code: number[] = [];
  for (let k = 0; k < 2 * channels; k++) code.push(...get(3), ...v128Load(16 * k), ...set(SCALE + k));
  code.push(...op.block, ...op.loop);
  code.push(...get(2), op.i32Eqz, op.brIf, 1); // blocks == 0: leave
  for (let load = 0; load < block / 16; load++) {
    code.push(...get(0), ...v128Load(16 * load), ...set(BYTES));
    for (const [half, widenHalf] of [I16X8_EXTEND_LOW_I8X16_U, I16X8_EXTEND_HIGH_I8X16_U].entries()) {
      code.push(...get(BYTES), ...simd(widenHalf), ...set(HALVES));
      for (const [quarter, widenQuarter] of [I32X4_EXTEND_LOW_I16X8_U, I32X4_EXTEND_HIGH_I16X8_U].entries()) {
        const group = 4 * load + 2 * half + quarter;
        const first = (4 * group) % channels;
        code.push(...get(1), ...get(HALVES), ...simd(widenQuarter), ...simd(F32X4_CONVERT_I32X4_S));
        code.push(...get(SCALE + first), ...simd(f32x4.mul), ...get(OFFSET + first), ...simd(f32x4.add));
        code.push(...v128Store(16 * group));
      }
    }
  }
  code.push(...addTo(0, block), ...addTo(1, 4 * block), ...addTo(2, -1));
  code.push(op.br, 0, op.end, op.end); // next block; end loop, end block
  return { name: `normalize${channels}`, params: 4, i32Locals: 0, v128Locals: 2 * channels + 2, code };
}

const normalizeSources = new Map<number, HeapFunctionSource>();

/**
 * A float32 tensor of `shape` (last axis: the channels, one scale and offset each) holding the bytes of
 * `parts`, one after another, as value * scale[channel] + offset[channel] in float32 arithmetic, made in
 * the wasm backend's memory; or undefined when the wasm backend is not the active one (build the values in
 * JS then).
 *
 * @example
 * const images = normalizedPixelTensor(tiles.map((t) => t.image.data), [tiles.length, 256, 256, 3], [1 / 255, 1 / 255, 1 / 255], [0, 0, 0]);
 */
export function normalizedPixelTensor(
  parts: readonly Uint8Array[],
  shape: number[],
  scale: readonly number[],
  offset: readonly number[],
): tf.Tensor | undefined {
  const heap = activeWasmHeap();
  if (!heap) return undefined;
  const { backend, memory } = heap;
  const channels = shape.at(-1)!;
  const count = tf.util.sizeFromShape(shape);
  const given = parts.reduce((sum, part) => sum + part.length, 0);
  if (given !== count)
    throw new RangeError(
      `normalizedPixelTensor: ${given} bytes do not fill a tensor of shape [${shape.join(', ')}]`,
    );
  if (scale.length !== channels || offset.length !== channels)
    throw new RangeError(
      `normalizedPixelTensor: ${scale.length} scales and ${offset.length} offsets for ${channels} channels`,
    );
  let source = normalizeSources.get(channels);
  if (!source) normalizeSources.set(channels, (source = normalizeSource(channels)));
  const output = backend.makeOutput(shape, 'float32');
  const target = backend.dataIdMap.get(output.dataId).memoryOffset;
  const constantsBytes = 32 * channels;
  // Constants first (16-byte aligned by malloc), then the bytes.
  const scratch = backend.wasm._malloc(constantsBytes + count) >>> 0;
  try {
    const constants = new Float32Array(memory.buffer, scratch, constantsBytes / 4);
    for (let first = 0; first < channels; first++) {
      for (let lane = 0; lane < 4; lane++) {
        constants[4 * first + lane] = scale[(first + lane) % channels]!;
        constants[4 * (channels + first) + lane] = offset[(first + lane) % channels]!;
      }
    }
    const bytes = new Uint8Array(memory.buffer, scratch + constantsBytes, count);
    let at = 0;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.length;
    }
    const block = blockBytes(channels);
    const blocks = Math.floor(count / block);
    heapFunction(memory, source)(scratch + constantsBytes, target, blocks, scratch);
    // The few values after the last whole block: same arithmetic. Lane 0 of vector c holds channel c's factor.
    const values = new Float32Array(memory.buffer, target, count);
    for (let i = blocks * block; i < count; i++) {
      const c = i % channels;
      values[i] = Math.fround(Math.fround(bytes[i]! * constants[4 * c]!) + constants[4 * (channels + c)]!);
    }
  } finally {
    backend.wasm._free(scratch);
  }
  return tf.engine().makeTensorFromTensorInfo(output);
}
