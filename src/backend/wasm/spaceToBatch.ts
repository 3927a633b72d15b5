import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { copyEvenRuns, type NumericArray, wordRuns } from './dataMovement.js';

/** Pixel moves between an NHWC batch and its space-to-batch form (SpaceToBatchND, BatchToSpaceND). */

/** The first and last index j in [0, count) with j * step + offset inside [0, size), or undefined when none is. */
function runRange(
  count: number,
  step: number,
  offset: number,
  size: number,
): { first: number; last: number } | undefined {
  const first = Math.max(0, Math.ceil(-offset / step));
  const last = Math.min(count - 1, Math.floor((size - 1 - offset) / step));
  return first <= last ? { first, last } : undefined;
}

/**
 * Moves pixels between an NHWC image batch `full` [N, rows, cols, C] and its space-to-batch form `batched`
 * [bh * bw * N, gridRows, gridCols, C]: batched image (py * bw + px) * N + n, pixel (i, j) is full's pixel
 * (i * bh + py - top, j * bw + px - left) where that lies inside `full`. Each pixel's C values are one run;
 * a row of runs is one SIMD call (4-byte values).
 */
export function copySpaceToBatchRows(
  full: { data: NumericArray; n: number; rows: number; cols: number },
  batched: { data: NumericArray; gridRows: number; gridCols: number },
  block: readonly number[],
  top: number,
  left: number,
  channels: number,
  towardBatched: boolean,
): void {
  const [bh, bw] = block as [number, number];
  for (let py = 0; py < bh; py++) {
    for (let px = 0; px < bw; px++) {
      const columns = runRange(batched.gridCols, bw, px - left, full.cols);
      for (let image = 0; image < full.n && columns; image++) {
        const batchedImage = (py * bw + px) * full.n + image;
        for (let i = 0; i < batched.gridRows; i++) {
          const y = i * bh + py - top;
          if (y < 0 || y >= full.rows) continue;
          const fullAt = ((image * full.rows + y) * full.cols + columns.first * bw + px - left) * channels;
          const batchedAt =
            ((batchedImage * batched.gridRows + i) * batched.gridCols + columns.first) * channels;
          const runs = columns.last - columns.first + 1;
          if (towardBatched)
            copyEvenRuns(full.data, fullAt, bw * channels, batched.data, batchedAt, channels, runs, channels);
          else
            copyEvenRuns(batched.data, batchedAt, channels, full.data, fullAt, bw * channels, runs, channels);
        }
      }
    }
  }
}

/** Whether x is NHWC with blocks over its two spatial axes and 4-byte values (copySpaceToBatchRows' case). */
export function spatialBlocksOfRuns(
  backend: BackendWasm,
  x: tf.TensorInfo,
  block: readonly number[],
): boolean {
  return (
    x.shape.length === 4 && block.length === 2 && wordRuns(backend.typedArrayFromHeap(x) as NumericArray)
  );
}
