import {
  addLocal,
  addTo,
  f32x4,
  type HeapFunctionSource,
  op,
  simd,
  v128Bits,
  v128Load,
  v128Store,
} from './heapFunctions.js';

/**
 * `maxPoolGrad2x2(x, dy, dx, rows, columns, groups, rowBytes, pixelBytes)`: for each of `rows` pairs of input
 * rows and `columns` windows in them, for each group of four channels, writes dy to the first maximum of the
 * window (row-major, strict comparisons as the scalar loop: NaN never wins) and 0 to its other three cells.
 * x and dx share one layout, addressed by one offset.
 */
export const MAX_POOL_GRAD_2X2: HeapFunctionSource = (() => {
  // Parameters x 0, dy 1, dx 2, rows 3, columns 4, groups 5, rowBytes 6, pixelBytes 7; locals: offset 8,
  // columns left 9, groups left 10, x cell 11, dx cell 12; vectors: top left 13, top right 14, bottom left 15,
  // bottom right 16, running maximum 17, top right wins 18, bottom left wins 19, bottom right wins 20, dy 21.
  const cell = (base: number, right: boolean, bottom: boolean) => [
    op.localGet,
    base,
    ...(right ? [op.localGet, 7, op.i32Add] : []),
    ...(bottom ? [op.localGet, 6, op.i32Add] : []),
  ];
  const code = [
    ...op.block,
    ...op.loop,
    op.localGet,
    3,
    op.i32Eqz,
    op.brIf,
    1,
    op.localGet,
    4,
    op.localSet,
    9,
  ];
  code.push(...op.block, ...op.loop, op.localGet, 9, op.i32Eqz, op.brIf, 1, op.localGet, 5, op.localSet, 10);
  code.push(...op.block, ...op.loop, op.localGet, 10, op.i32Eqz, op.brIf, 1);
  code.push(
    op.localGet,
    0,
    op.localGet,
    8,
    op.i32Add,
    op.localSet,
    11,
    op.localGet,
    2,
    op.localGet,
    8,
    op.i32Add,
    op.localSet,
    12,
  );
  code.push(
    ...cell(11, false, false),
    ...v128Load(0),
    op.localSet,
    13,
    ...cell(11, true, false),
    ...v128Load(0),
    op.localSet,
    14,
  );
  code.push(
    ...cell(11, false, true),
    ...v128Load(0),
    op.localSet,
    15,
    ...cell(11, true, true),
    ...v128Load(0),
    op.localSet,
    16,
  );
  // Later cells win only when strictly greater than the maximum so far.
  code.push(op.localGet, 14, op.localGet, 13, ...simd(f32x4.gt), op.localSet, 18);
  code.push(op.localGet, 14, op.localGet, 13, op.localGet, 18, ...simd(v128Bits.bitselect), op.localSet, 17);
  code.push(op.localGet, 15, op.localGet, 17, ...simd(f32x4.gt), op.localSet, 19);
  code.push(op.localGet, 15, op.localGet, 17, op.localGet, 19, ...simd(v128Bits.bitselect), op.localSet, 17);
  code.push(op.localGet, 16, op.localGet, 17, ...simd(f32x4.gt), op.localSet, 20);
  code.push(op.localGet, 1, ...v128Load(0), op.localSet, 21);
  code.push(
    ...cell(12, true, true),
    op.localGet,
    21,
    op.localGet,
    20,
    ...simd(v128Bits.and),
    ...v128Store(0),
  );
  code.push(
    ...cell(12, false, true),
    op.localGet,
    21,
    op.localGet,
    19,
    op.localGet,
    20,
    ...simd(v128Bits.andNot),
    ...simd(v128Bits.and),
    ...v128Store(0),
  );
  code.push(
    ...cell(12, true, false),
    op.localGet,
    21,
    op.localGet,
    18,
    op.localGet,
    19,
    ...simd(v128Bits.andNot),
    op.localGet,
    20,
    ...simd(v128Bits.andNot),
    ...simd(v128Bits.and),
    ...v128Store(0),
  );
  code.push(
    ...cell(12, false, false),
    op.localGet,
    21,
    op.localGet,
    18,
    op.localGet,
    19,
    ...simd(v128Bits.or),
    op.localGet,
    20,
    ...simd(v128Bits.or),
    ...simd(v128Bits.andNot),
    ...v128Store(0),
  );
  code.push(...addTo(8, 16), ...addTo(1, 16), ...addTo(10, -1), op.br, 0, op.end, op.end);
  // Past the window's right column, then (after the last window) past the row pair's bottom row.
  code.push(...addLocal(8, 7), ...addTo(9, -1), op.br, 0, op.end, op.end);
  code.push(...addLocal(8, 6), ...addTo(3, -1), op.br, 0, op.end, op.end);
  return { name: 'maxPoolGrad2x2', params: 8, i32Locals: 5, v128Locals: 9, code };
})();
