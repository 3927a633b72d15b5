import { addLocal, f32x4, f32x4Const, op, simd, v128Load, v128Store } from './heapFunctions.js';

/** Code-building helpers shared by the Winograd filter and tile transforms. */
export type Code = number[];
export const get = (local: number): Code => [op.localGet, local];
export const transpose = (matrix: number[][]): number[][] =>
  matrix[0]!.map((_, j) => matrix.map((row) => row[j]!));
/** 0, 1, ..., n - 1. */
export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
/** `local += other` `count` times (an i32 local advanced by a stride parameter). */
export const addTimes = (local: number, other: number, count: number): Code =>
  range(count).flatMap(() => addLocal(local, other));

/** `matrix` times a column of vectors: one expression per row, zero coefficients skipped, ones not multiplied. */
export function multiply(matrix: number[][], values: Code[]): Code[] {
  const scaled = (value: Code, magnitude: number): Code =>
    magnitude === 1 ? value : [...value, ...f32x4Const(magnitude), ...simd(f32x4.mul)];
  return matrix.map((row) => {
    const terms = row.flatMap((coefficient, j) =>
      coefficient === 0 ? [] : [{ coefficient, value: values[j]! }],
    );
    const [first, ...rest] = terms as [(typeof terms)[number], ...typeof terms];
    let code =
      first.coefficient < 0
        ? [...scaled(first.value, -first.coefficient), ...simd(f32x4.neg)]
        : scaled(first.value, first.coefficient);
    for (const { coefficient, value } of rest)
      code = [
        ...code,
        ...scaled(value, Math.abs(coefficient)),
        ...simd(coefficient < 0 ? f32x4.sub : f32x4.add),
      ];
    return code;
  });
}

/**
 * Code for left * D * right^T of a block D of vectors: loads D row by row (`load(i, j)` leaves a vector on
 * the stack), multiplies each column by `left`, each row of that by `right`, and hands the results row by
 * row to `store(r, k, value)`. v128 locals from `firstLocal`: D, then left * D (`sandwichLocals` of them).
 */
export function sandwich(
  left: number[][],
  right: number[][],
  load: (i: number, j: number) => Code,
  store: (r: number, k: number, value: Code) => Code,
  firstLocal: number,
): Code {
  const [rows, cols] = [left[0]!.length, right[0]!.length];
  const block = (i: number, j: number) => firstLocal + i * cols + j;
  const leftProduct = (r: number, j: number) => firstLocal + rows * cols + r * cols + j;
  const code: Code = [];
  for (const i of range(rows))
    for (const j of range(cols)) code.push(...load(i, j), op.localSet, block(i, j));
  for (const j of range(cols))
    multiply(
      left,
      range(rows).map((i) => get(block(i, j))),
    ).forEach((value, r) => code.push(...value, op.localSet, leftProduct(r, j)));
  for (const r of range(left.length))
    multiply(
      right,
      range(cols).map((j) => get(leftProduct(r, j))),
    ).forEach((value, k) => code.push(...store(r, k, value)));
  return code;
}

export const sandwichLocals = (left: number[][], right: number[][]): number =>
  (left[0]!.length + left.length) * right[0]!.length;

/** Code that loads the vector at `pointer` and then advances it by the i32 parameter `step`. */
export const loadAndStep = (pointer: number, step: number): Code => [
  op.localGet,
  pointer,
  ...v128Load(0),
  ...addLocal(pointer, step),
];
/** Code that stores `value` at `pointer` and then advances it by the i32 parameter `step`. */
export const storeAndStep = (pointer: number, step: number, value: Code): Code => [
  op.localGet,
  pointer,
  ...value,
  ...v128Store(0),
  ...addLocal(pointer, step),
];
