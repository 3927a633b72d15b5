import {
  addTo,
  f32x4,
  type HeapFunctionSource,
  op,
  simd,
  v128Load,
  v128Load32Splat,
  v128Store,
} from './heapFunctions.js';

/** The constants ADAM_STEP reads, in this order (float32 each). */
const ADAM_CONSTANTS = [
  'beta1',
  'oneMinusBeta1',
  'beta2',
  'oneMinusBeta2',
  'firstCorrection',
  'secondCorrection',
  'epsilon',
  'negativeRate',
] as const;

/**
 * `adamStep(value, gradient, m, v, valueOut, mOut, vOut, vectors, constants)`: for `vectors` groups of four
 * floats m' = m b1 + g (1 - b1), v' = v b2 + g^2 (1 - b2), value' = (m' / c1) / (sqrt(v' / c2) + eps) * -rate
 * + value, each operation rounded to float32 as tf.train.adam's separate kernels round it.
 */
export const ADAM_STEP: HeapFunctionSource = (() => {
  // Parameters value 0, gradient 1, m 2, v 3, value out 4, m out 5, v out 6, vectors 7, constants 8;
  // vectors: gradient 9, new m 10, new v 11.
  const constant = (name: (typeof ADAM_CONSTANTS)[number]) => [
    op.localGet,
    8,
    ...v128Load32Splat(4 * ADAM_CONSTANTS.indexOf(name)),
  ];
  const code = [...op.block, ...op.loop, op.localGet, 7, op.i32Eqz, op.brIf, 1];
  code.push(op.localGet, 1, ...v128Load(0), op.localSet, 9);
  code.push(
    op.localGet,
    2,
    ...v128Load(0),
    ...constant('beta1'),
    ...simd(f32x4.mul),
    op.localGet,
    9,
    ...constant('oneMinusBeta1'),
    ...simd(f32x4.mul),
    ...simd(f32x4.add),
    op.localSet,
    10,
  );
  code.push(
    op.localGet,
    3,
    ...v128Load(0),
    ...constant('beta2'),
    ...simd(f32x4.mul),
    op.localGet,
    9,
    op.localGet,
    9,
    ...simd(f32x4.mul),
    ...constant('oneMinusBeta2'),
    ...simd(f32x4.mul),
    ...simd(f32x4.add),
    op.localSet,
    11,
  );
  code.push(
    op.localGet,
    5,
    op.localGet,
    10,
    ...v128Store(0),
    op.localGet,
    6,
    op.localGet,
    11,
    ...v128Store(0),
  );
  code.push(op.localGet, 4, op.localGet, 10, ...constant('firstCorrection'), ...simd(f32x4.div));
  code.push(
    op.localGet,
    11,
    ...constant('secondCorrection'),
    ...simd(f32x4.div),
    ...simd(f32x4.sqrt),
    ...constant('epsilon'),
    ...simd(f32x4.add),
    ...simd(f32x4.div),
  );
  code.push(
    ...constant('negativeRate'),
    ...simd(f32x4.mul),
    op.localGet,
    0,
    ...v128Load(0),
    ...simd(f32x4.add),
    ...v128Store(0),
  );
  for (const pointer of [0, 1, 2, 3, 4, 5, 6]) code.push(...addTo(pointer, 16));
  code.push(...addTo(7, -1), op.br, 0, op.end, op.end);
  return { name: 'adamStep', params: 9, i32Locals: 0, v128Locals: 3, code };
})();
