import { addLocal, addTo, type HeapFunctionSource, op, v128Load, v128Store } from './heapFunctions.js';

/** `i8x16.shuffle` of two vectors picking float lanes (0-3 from the first, 4-7 from the second). */
const shuffleFloats = (lanes: readonly number[]): number[] => [
  0xfd,
  0x0d,
  ...lanes.flatMap((lane) => [0, 1, 2, 3].map((byte) => 4 * lane + byte)),
];

/**
 * `transpose4x4(source, target, rowBlocks, columnBlocks, sourceRowBytes, targetRowBytes)`: transposes a
 * matrix of 4 * rowBlocks rows and 4 * columnBlocks columns, a 4x4 block at a time (four loads, eight
 * shuffles, four stores).
 */
export const TRANSPOSE_4X4: HeapFunctionSource = (() => {
  // Parameters source 0, target 1, rowBlocks 2, columnBlocks 3, sourceRowBytes 4, targetRowBytes 5;
  // i32 locals: from 6, to 7, blocks left 8, pointer 9; v128 locals: rows 10-13, pairs 14-17.
  const [FROM, TO, LEFT, POINTER, ROW, PAIR] = [6, 7, 8, 9, 10, 14];
  const code = [...op.block, ...op.loop, op.localGet, 2, op.i32Eqz, op.brIf, 1];
  code.push(
    op.localGet,
    0,
    op.localSet,
    FROM,
    op.localGet,
    1,
    op.localSet,
    TO,
    op.localGet,
    3,
    op.localSet,
    LEFT,
  );
  code.push(...op.block, ...op.loop, op.localGet, LEFT, op.i32Eqz, op.brIf, 1);
  code.push(op.localGet, FROM, op.localSet, POINTER);
  for (let k = 0; k < 4; k++)
    code.push(op.localGet, POINTER, ...v128Load(0), op.localSet, ROW + k, ...addLocal(POINTER, 4));
  // Pairs interleave rows 0/1 and 2/3; their halves combine into the four columns.
  for (const [k, first, lanes] of [
    [0, 0, [0, 4, 1, 5]],
    [1, 0, [2, 6, 3, 7]],
    [2, 2, [0, 4, 1, 5]],
    [3, 2, [2, 6, 3, 7]],
  ] as const) {
    code.push(
      op.localGet,
      ROW + first,
      op.localGet,
      ROW + first + 1,
      ...shuffleFloats(lanes),
      op.localSet,
      PAIR + k,
    );
  }
  code.push(op.localGet, TO, op.localSet, POINTER);
  for (const [pair, lanes] of [
    [0, [0, 1, 4, 5]],
    [0, [2, 3, 6, 7]],
    [1, [0, 1, 4, 5]],
    [1, [2, 3, 6, 7]],
  ] as const) {
    code.push(
      op.localGet,
      POINTER,
      op.localGet,
      PAIR + pair,
      op.localGet,
      PAIR + pair + 2,
      ...shuffleFloats(lanes),
      ...v128Store(0),
      ...addLocal(POINTER, 5),
    );
  }
  code.push(
    ...addTo(FROM, 16),
    op.localGet,
    POINTER,
    op.localSet,
    TO,
    ...addTo(LEFT, -1),
    op.br,
    0,
    op.end,
    op.end,
  );
  code.push(
    op.localGet,
    4,
    op.localGet,
    4,
    op.i32Add,
    op.localGet,
    4,
    op.i32Add,
    op.localGet,
    4,
    op.i32Add,
    op.localGet,
    0,
    op.i32Add,
    op.localSet,
    0,
  );
  code.push(...addTo(1, 16), ...addTo(2, -1), op.br, 0, op.end, op.end);
  return { name: 'transpose4x4', params: 6, i32Locals: 4, v128Locals: 8, code };
})();
