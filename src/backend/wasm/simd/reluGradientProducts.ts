import {
  addTo,
  f32x4,
  f32x4Const,
  type HeapFunctionSource,
  op,
  simd,
  v128Bits,
  v128Load,
  v128Store,
} from './heapFunctions.js';

/**
 * `reluGradient(dy, x, target, vectors)`: dy * step(x) for `vectors` groups of four floats, step(x) being 1
 * where x > 0, NaN where x is NaN, else 0 (a product, so NaN and infinite dy behave as in the stock graph).
 */
export const RELU_GRADIENT_PRODUCTS: HeapFunctionSource = (() => {
  // Parameters dy 0, x 1, target 2, vectors 3; vectors: x 4.
  const code = [...op.block, ...op.loop, op.localGet, 3, op.i32Eqz, op.brIf, 1, op.localGet, 2];
  code.push(op.localGet, 1, ...v128Load(0), op.localSet, 4);
  code.push(op.localGet, 0, ...v128Load(0));
  code.push(...f32x4Const(1), op.localGet, 4, ...f32x4Const(0), ...simd(f32x4.gt), ...simd(v128Bits.and));
  code.push(
    op.localGet,
    4,
    op.localGet,
    4,
    op.localGet,
    4,
    ...simd(f32x4.ne),
    ...simd(v128Bits.and),
    ...simd(v128Bits.or),
  );
  code.push(...simd(f32x4.mul), ...v128Store(0));
  code.push(...addTo(0, 16), ...addTo(1, 16), ...addTo(2, 16), ...addTo(3, -1), op.br, 0, op.end, op.end);
  return { name: 'reluGradient', params: 4, i32Locals: 0, v128Locals: 1, code };
})();
