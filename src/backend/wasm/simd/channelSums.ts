import { addTo, f32x4, type HeapFunctionSource, op, simd, v128Load, v128Store } from './heapFunctions.js';

/** `f64x2.promote_low_f32x4`, `f64x2.add`, and the shuffle that moves a vector's upper 8 bytes down. */
const F64X2_PROMOTE_LOW_F32X4 = 0x5f;
const F64X2_ADD = 0xf0;
const UPPER_HALF_DOWN = [0x0d, ...Array.from({ length: 16 }, (_, i) => 8 + (i % 8))];

/**
 * `sumRows(source, rows, groups, totals)`: adds each of `rows` rows of 4 * `groups` floats at `source` into
 * the float64 `totals`, four floats at a time, in row order (the order of the plain loop, so the same sums).
 */
export const SUM_ROWS: HeapFunctionSource = (() => {
  // Parameters source 0, rows 1, groups 2, totals 3; locals: total pointer 4, groups left 5, four floats 6.
  const code = [...op.block, ...op.loop, op.localGet, 1, op.i32Eqz, op.brIf, 1];
  code.push(op.localGet, 3, op.localSet, 4, op.localGet, 2, op.localSet, 5);
  code.push(...op.block, ...op.loop, op.localGet, 5, op.i32Eqz, op.brIf, 1);
  code.push(op.localGet, 0, ...v128Load(0), op.localSet, 6);
  code.push(
    op.localGet,
    4,
    op.localGet,
    4,
    ...v128Load(0),
    op.localGet,
    6,
    ...simd(F64X2_PROMOTE_LOW_F32X4),
    ...simd(F64X2_ADD),
    ...v128Store(0),
  );
  code.push(
    op.localGet,
    4,
    op.localGet,
    4,
    ...v128Load(16),
    op.localGet,
    6,
    op.localGet,
    6,
    0xfd,
    ...UPPER_HALF_DOWN,
  );
  code.push(...simd(F64X2_PROMOTE_LOW_F32X4), ...simd(F64X2_ADD), ...v128Store(16));
  code.push(...addTo(0, 16), ...addTo(4, 32), ...addTo(5, -1), op.br, 0, op.end, op.end);
  code.push(...addTo(1, -1), op.br, 0, op.end, op.end);
  return { name: 'sumRows', params: 4, i32Locals: 2, v128Locals: 1, code };
})();

/**
 * `gradientSums(dy, x, rows, groups, means, totals)`: over `rows` rows of 4 * `groups` channels adds dy and
 * dy * (x - mean) into float64 totals, 64 bytes a group of four channels (sum of dy, then of the products);
 * `means` holds 16 bytes a group.
 */
export const GRADIENT_SUMS: HeapFunctionSource = (() => {
  // Parameters dy 0, x 1, rows 2, groups 3, means 4, totals 5; locals: mean pointer 6, total pointer 7,
  // groups left 8, dy vector 9, product 10.
  const accumulate = (offset: number, vector: number, upper: boolean) => [
    op.localGet,
    7,
    op.localGet,
    7,
    ...v128Load(offset),
    op.localGet,
    vector,
    ...(upper ? [op.localGet, vector, 0xfd, ...UPPER_HALF_DOWN] : []),
    ...simd(F64X2_PROMOTE_LOW_F32X4),
    ...simd(F64X2_ADD),
    ...v128Store(offset),
  ];
  const code = [...op.block, ...op.loop, op.localGet, 2, op.i32Eqz, op.brIf, 1];
  code.push(op.localGet, 4, op.localSet, 6, op.localGet, 5, op.localSet, 7, op.localGet, 3, op.localSet, 8);
  code.push(...op.block, ...op.loop, op.localGet, 8, op.i32Eqz, op.brIf, 1);
  code.push(op.localGet, 0, ...v128Load(0), op.localSet, 9);
  code.push(
    op.localGet,
    1,
    ...v128Load(0),
    op.localGet,
    6,
    ...v128Load(0),
    ...simd(f32x4.sub),
    op.localGet,
    9,
    ...simd(f32x4.mul),
    op.localSet,
    10,
  );
  code.push(
    ...accumulate(0, 9, false),
    ...accumulate(16, 9, true),
    ...accumulate(32, 10, false),
    ...accumulate(48, 10, true),
  );
  code.push(
    ...addTo(0, 16),
    ...addTo(1, 16),
    ...addTo(6, 16),
    ...addTo(7, 64),
    ...addTo(8, -1),
    op.br,
    0,
    op.end,
    op.end,
  );
  code.push(...addTo(2, -1), op.br, 0, op.end, op.end);
  return { name: 'gradientSums', params: 6, i32Locals: 3, v128Locals: 2, code };
})();
