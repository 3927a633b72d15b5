import {
  addTo,
  f32x4,
  f32x4Const,
  type HeapFunctionSource,
  i32x4,
  i32x4Const,
  op,
  simd,
  v128Load,
  v128Store,
} from './heapFunctions.js';

/** Cephes' single-precision exp: range reduction by n ln 2 in two parts, then a degree-7 polynomial. */
const EXP_COEFFICIENTS = [
  1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1,
];
const LN2_HIGH = 0.693359375;
const LN2_LOW = -2.1219444e-4;

/**
 * `exp(source, target, vectors)`: e^x for `vectors` groups of four floats. x is clamped to [-104, 89], where
 * e^x is 0 and infinity in float32 anyway, and 2^n is applied as two halves, so every n in that range scales
 * exactly (the results below 2^-126 round to subnormals as the scalar function's do); NaN stays NaN.
 */
export const EXP: HeapFunctionSource = (() => {
  // Parameters source 0, target 1, vectors 2; vectors: x 3, n 4, r 5, polynomial 6, n as int32 7, half of n 8.
  const powerOfTwo = (exponent: number) => [
    op.localGet,
    exponent,
    ...i32x4Const(127),
    ...simd(i32x4.add),
    op.i32Const,
    23,
    ...simd(i32x4.shl),
  ];
  const code = [...op.block, ...op.loop, op.localGet, 2, op.i32Eqz, op.brIf, 1, op.localGet, 1];
  code.push(
    op.localGet,
    0,
    ...v128Load(0),
    ...f32x4Const(-104),
    ...simd(f32x4.max),
    ...f32x4Const(89),
    ...simd(f32x4.min),
    op.localSet,
    3,
  );
  code.push(
    op.localGet,
    3,
    ...f32x4Const(Math.LOG2E),
    ...simd(f32x4.mul),
    ...simd(f32x4.nearest),
    op.localSet,
    4,
  );
  code.push(op.localGet, 3, op.localGet, 4, ...f32x4Const(LN2_HIGH), ...simd(f32x4.mul), ...simd(f32x4.sub));
  code.push(op.localGet, 4, ...f32x4Const(LN2_LOW), ...simd(f32x4.mul), ...simd(f32x4.sub), op.localSet, 5);
  code.push(...f32x4Const(EXP_COEFFICIENTS[0]!));
  for (const coefficient of EXP_COEFFICIENTS.slice(1))
    code.push(op.localGet, 5, ...simd(f32x4.mul), ...f32x4Const(coefficient), ...simd(f32x4.add));
  code.push(
    op.localGet,
    5,
    op.localGet,
    5,
    ...simd(f32x4.mul),
    ...simd(f32x4.mul),
    op.localGet,
    5,
    ...simd(f32x4.add),
    ...f32x4Const(1),
    ...simd(f32x4.add),
    op.localSet,
    6,
  );
  code.push(op.localGet, 4, ...simd(i32x4.truncSatFromF32x4), op.localSet, 7);
  code.push(op.localGet, 7, op.i32Const, 1, ...simd(i32x4.shrS), op.localSet, 8);
  code.push(op.localGet, 6, ...powerOfTwo(8), ...simd(f32x4.mul));
  code.push(
    op.localGet,
    7,
    op.localGet,
    8,
    ...simd(i32x4.sub),
    op.localSet,
    7,
    ...powerOfTwo(7),
    ...simd(f32x4.mul),
    ...v128Store(0),
  );
  code.push(...addTo(0, 16), ...addTo(1, 16), ...addTo(2, -1), op.br, 0, op.end, op.end);
  return { name: 'exp', params: 3, i32Locals: 0, v128Locals: 6, code };
})();
