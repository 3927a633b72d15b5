import {
  addLocal,
  addTo,
  type HeapFunctionSource,
  i32Load,
  i32Store,
  op,
  v128Load,
  v128Store,
} from './heapFunctions.js';

/**
 * `copyRuns(source, sourceStep, target, targetStep, runs, words)`: copies `runs` runs of `words` 4-byte
 * words, the k-th from source + k * sourceStep to target + k * targetStep (byte addresses): 16-byte vectors,
 * then the words left over.
 */
export const COPY_RUNS: HeapFunctionSource = (() => {
  // Parameters source 0, sourceStep 1, target 2, targetStep 3, runs 4, words 5; locals: from 6, to 7, words left 8.
  const code = [...op.block, ...op.loop, op.localGet, 4, op.i32Eqz, op.brIf, 1];
  code.push(op.localGet, 0, op.localSet, 6, op.localGet, 2, op.localSet, 7, op.localGet, 5, op.localSet, 8);
  code.push(...op.block, ...op.loop, op.localGet, 8, op.i32Const, 4, op.i32LtU, op.brIf, 1);
  code.push(op.localGet, 7, op.localGet, 6, ...v128Load(0), ...v128Store(0));
  code.push(...addTo(6, 16), ...addTo(7, 16), ...addTo(8, -4), op.br, 0, op.end, op.end);
  code.push(...op.block, ...op.loop, op.localGet, 8, op.i32Eqz, op.brIf, 1);
  code.push(op.localGet, 7, op.localGet, 6, ...i32Load(0), ...i32Store(0));
  code.push(...addTo(6, 4), ...addTo(7, 4), ...addTo(8, -1), op.br, 0, op.end, op.end);
  code.push(...addLocal(0, 1), ...addLocal(2, 3), ...addTo(4, -1), op.br, 0, op.end, op.end);
  return { name: 'copyRuns', params: 6, i32Locals: 3, v128Locals: 0, code };
})();
