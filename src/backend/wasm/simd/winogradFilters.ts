import { addLocal, addTo, f32x4, type HeapFunctionSource, op, simd, v128Load } from './heapFunctions.js';
import { type Code, loadAndStep, sandwich, sandwichLocals, storeAndStep, transpose } from './winogradCode.js';
import type { WinogradMatrices } from './winogradMatrices.js';

/**
 * `transformFilter<m>(filter, transformed, tapBytes, vectors)`: G g G^T for `vectors` groups of four (input,
 * output) channel pairs of a [3, 3, Ci, Co] filter, into [(m + 2)^2, Ci, Co] (taps and planes tapBytes =
 * 4 Ci Co apart).
 */
export function filterSource({ m, filter: g }: WinogradMatrices): HeapFunctionSource {
  // Parameters filter 0, transformed 1, tapBytes 2, vectors 3; i32 locals: load pointer 4, store pointer 5.
  const code = [
    ...op.block,
    ...op.loop,
    op.localGet,
    3,
    op.i32Eqz,
    op.brIf,
    1,
    op.localGet,
    0,
    op.localSet,
    4,
    op.localGet,
    1,
    op.localSet,
    5,
  ];
  code.push(
    ...sandwich(
      g,
      g,
      () => loadAndStep(4, 2),
      (_r, _k, value) => storeAndStep(5, 2, value),
      6,
    ),
  );
  code.push(...addTo(0, 16), ...addTo(1, 16), ...addTo(3, -1), op.br, 0, op.end, op.end);
  return { name: `winogradFilter${m}`, params: 4, i32Locals: 2, v128Locals: sandwichLocals(g, g), code };
}

/**
 * `transformFilterGradient<m>(sums, filterGradient, planeBytes, partBytes, vectors, parts)`: G^T S G for
 * `vectors` groups of four (input, output) channel pairs, S the sum of `parts` parts of [(m + 2)^2, Ci, Co]
 * sums (partBytes apart; planes planeBytes = 4 Ci Co apart), into a [3, 3, Ci, Co] filter gradient.
 */
export function filterGradientSource({ m, filter: g }: WinogradMatrices): HeapFunctionSource {
  // Parameters sums 0, filterGradient 1, planeBytes 2, partBytes 3, vectors 4, parts 5; i32 locals: part 0's
  // pointer 6, store pointer 7, further part's pointer 8, parts left 9; v128 locals: the sum 10, sandwich's.
  const gt = transpose(g);
  const code = [
    ...op.block,
    ...op.loop,
    op.localGet,
    4,
    op.i32Eqz,
    op.brIf,
    1,
    op.localGet,
    0,
    op.localSet,
    6,
    op.localGet,
    1,
    op.localSet,
    7,
  ];
  const load = (): Code => [
    op.localGet,
    6,
    ...v128Load(0),
    op.localSet,
    10,
    op.localGet,
    6,
    op.localSet,
    8,
    op.localGet,
    5,
    op.localSet,
    9,
    ...addTo(9, -1),
    ...op.block,
    ...op.loop,
    op.localGet,
    9,
    op.i32Eqz,
    op.brIf,
    1,
    ...addLocal(8, 3),
    op.localGet,
    10,
    op.localGet,
    8,
    ...v128Load(0),
    ...simd(f32x4.add),
    op.localSet,
    10,
    ...addTo(9, -1),
    op.br,
    0,
    op.end,
    op.end,
    ...addLocal(6, 2),
    op.localGet,
    10,
  ];
  code.push(...sandwich(gt, gt, load, (_r, _k, value) => storeAndStep(7, 2, value), 11));
  code.push(...addTo(0, 16), ...addTo(1, 16), ...addTo(4, -1), op.br, 0, op.end, op.end);
  return {
    name: `winogradFilterGradient${m}`,
    params: 6,
    i32Locals: 4,
    v128Locals: 1 + sandwichLocals(gt, gt),
    code,
  };
}
