import * as tf from '@tensorflow/tfjs';
import { Slice } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { activeWasmHeap } from './backendHeap.js';
import { runKernel } from './runKernel.js';
import { COPY_RUNS } from './simd/copyRuns.js';
import { heapFunction } from './simd/heapFunctions.js';

/** Copies between tensors in the wasm backend's memory: runs of values, boxes, crops. */

export type NumericArray = Float32Array | Int32Array | Uint8Array;

/** Whether copyEvenRuns can move `array`'s values: 4-byte values in the active wasm backend's memory. */
export function wordRuns(array: NumericArray): boolean {
  return array.BYTES_PER_ELEMENT === 4 && activeWasmHeap() !== undefined;
}

/**
 * Copies `runs` runs of `length` 4-byte values (wordRuns), evenly spaced in source and target (steps in
 * values), with one SIMD call: a JS copy per run of a few channels costs more than the copy itself.
 */
export function copyEvenRuns(
  source: NumericArray,
  from: number,
  sourceStep: number,
  target: NumericArray,
  to: number,
  targetStep: number,
  runs: number,
  length: number,
): void {
  heapFunction(activeWasmHeap()!.memory, COPY_RUNS)(
    source.byteOffset + 4 * from,
    4 * sourceStep,
    target.byteOffset + 4 * to,
    4 * targetStep,
    runs,
    length,
  );
}

/**
 * Copies the box of `size` at `sourceBegin` in `source` (shape `sourceShape`) to `targetBegin` in `target`
 * (shape `targetShape`; by default the box itself, row-major), a row of evenly spaced runs (along axis
 * rank - 2) at a time: runs of 4-byte values in one copyEvenRuns call; of other types, long runs as block
 * copies and short ones in a plain loop, which beats creating a view per run.
 */
export function copyBox(
  source: NumericArray,
  sourceShape: readonly number[],
  sourceBegin: readonly number[],
  size: readonly number[],
  target: NumericArray,
  targetShape: readonly number[] = size,
  targetBegin: readonly number[] = size.map(() => 0),
): void {
  if (sourceShape.length <= 1) {
    const [from, to, length] = [sourceBegin[0] ?? 0, targetBegin[0] ?? 0, size[0] ?? 1];
    target.set(source.subarray(from, from + length), to);
    return;
  }
  const rank = sourceShape.length;
  const sourceStrides = tf.util.computeStrides(sourceShape as number[]);
  const targetStrides = tf.util.computeStrides(targetShape as number[]);
  const runLength = size[rank - 1]!;
  const [runs, sourceStep, targetStep] = [
    size[rank - 2]!,
    sourceStrides[rank - 2]!,
    targetStrides[rank - 2]!,
  ];
  const wasmRuns = wordRuns(source);
  const groupAxes = rank - 2;
  const outer = size.slice(0, groupAxes).reduce((a, b) => a * b, 1);
  const position = new Array<number>(groupAxes).fill(0);
  for (let k = 0; k < outer; k++) {
    let from = sourceBegin[rank - 1]! + sourceBegin[rank - 2]! * sourceStep;
    let to = targetBegin[rank - 1]! + targetBegin[rank - 2]! * targetStep;
    for (let axis = 0; axis < groupAxes; axis++) {
      from += (sourceBegin[axis]! + position[axis]!) * sourceStrides[axis]!;
      to += (targetBegin[axis]! + position[axis]!) * targetStrides[axis]!;
    }
    if (wasmRuns) {
      copyEvenRuns(source, from, sourceStep, target, to, targetStep, runs, runLength);
    } else if (runLength >= 64) {
      for (let run = 0; run < runs; run++)
        target.set(
          source.subarray(from + run * sourceStep, from + run * sourceStep + runLength),
          to + run * targetStep,
        );
    } else {
      for (let run = 0; run < runs; run++, from += sourceStep, to += targetStep) {
        for (let i = 0; i < runLength; i++) target[to + i] = source[from + i]!;
      }
    }
    for (let axis = groupAxes - 1; axis >= 0; axis--) {
      if (++position[axis]! < size[axis]!) break;
      position[axis] = 0;
    }
  }
}

/** Crops the trailing rows/columns of an NHWC tensor that negative padding would remove, or whole tiles added. */
export function cropTrailing(
  backend: BackendWasm,
  x: tf.TensorInfo,
  rows: number,
  cols: number,
): tf.TensorInfo {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  return runKernel(backend, Slice, { x }, { begin: [0, 0, 0, 0], size: [n, h - rows, w - cols, c] });
}
