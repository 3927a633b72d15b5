import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { type HeapFunctionSource, addTo, f32x4, f32x4Const, heapFunction, i32x4, i32x4Const, op, simd, v128Bits, v128Load, v128Load32Splat, v128Store } from './wasm/simd/heapFunctions.js';
import { activeWasmHeap } from './wasm/backendHeap.js';
import { RELU_GRADIENT } from './fusedKernels.js';

interface KernelArgs {
  inputs: Record<string, tf.TensorInfo>;
  backend: BackendWasm;
  attrs: Record<string, unknown>;
}

/** Cephes' single-precision exp: range reduction by n ln 2 in two parts, then a degree-7 polynomial. */
const EXP_COEFFICIENTS = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];
const LN2_HIGH = 0.693359375;
const LN2_LOW = -2.12194440e-4;

/**
 * `exp(source, target, vectors)`: e^x for `vectors` groups of four floats. x is clamped to [-104, 89], where
 * e^x is 0 and infinity in float32 anyway, and 2^n is applied as two halves, so every n in that range scales
 * exactly (the results below 2^-126 round to subnormals as the scalar function's do); NaN stays NaN.
 */
const EXP: HeapFunctionSource = (() => {
  // Parameters source 0, target 1, vectors 2; vectors: x 3, n 4, r 5, polynomial 6, n as int32 7, half of n 8.
  const powerOfTwo = (exponent: number) => [op.localGet, exponent, ...i32x4Const(127), ...simd(i32x4.add), op.i32Const, 23, ...simd(i32x4.shl)];
  const code = [...op.block, ...op.loop, op.localGet, 2, op.i32Eqz, op.brIf, 1, op.localGet, 1];
  code.push(op.localGet, 0, ...v128Load(0), ...f32x4Const(-104), ...simd(f32x4.max), ...f32x4Const(89), ...simd(f32x4.min), op.localSet, 3);
  code.push(op.localGet, 3, ...f32x4Const(Math.LOG2E), ...simd(f32x4.mul), ...simd(f32x4.nearest), op.localSet, 4);
  code.push(op.localGet, 3, op.localGet, 4, ...f32x4Const(LN2_HIGH), ...simd(f32x4.mul), ...simd(f32x4.sub));
  code.push(op.localGet, 4, ...f32x4Const(LN2_LOW), ...simd(f32x4.mul), ...simd(f32x4.sub), op.localSet, 5);
  code.push(...f32x4Const(EXP_COEFFICIENTS[0]!));
  for (const coefficient of EXP_COEFFICIENTS.slice(1)) code.push(op.localGet, 5, ...simd(f32x4.mul), ...f32x4Const(coefficient), ...simd(f32x4.add));
  code.push(op.localGet, 5, op.localGet, 5, ...simd(f32x4.mul), ...simd(f32x4.mul), op.localGet, 5, ...simd(f32x4.add), ...f32x4Const(1), ...simd(f32x4.add), op.localSet, 6);
  code.push(op.localGet, 4, ...simd(i32x4.truncSatFromF32x4), op.localSet, 7);
  code.push(op.localGet, 7, op.i32Const, 1, ...simd(i32x4.shrS), op.localSet, 8);
  code.push(op.localGet, 6, ...powerOfTwo(8), ...simd(f32x4.mul));
  code.push(op.localGet, 7, op.localGet, 8, ...simd(i32x4.sub), op.localSet, 7, ...powerOfTwo(7), ...simd(f32x4.mul), ...v128Store(0));
  code.push(...addTo(0, 16), ...addTo(1, 16), ...addTo(2, -1), op.br, 0, op.end, op.end);
  return { name: 'exp', params: 3, i32Locals: 0, v128Locals: 6, code };
})();

/**
 * Exp of float32 tensors in SIMD: the stock kernel calls the scalar function, about 10 ns a value (30 ms of
 * a UNet step, in the softmax of its loss). Within 2 units in the last place of the rounded exact value.
 */
export function exp(stock: () => tf.KernelFunc) {
  return ({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo => {
    const { x } = inputs as { x: tf.TensorInfo };
    const heap = activeWasmHeap();
    if (x.dtype !== 'float32' || !heap) return stock()({ inputs, backend, attrs } as never) as tf.TensorInfo;
    const out = backend.makeOutput(x.shape, 'float32');
    const source = backend.typedArrayFromHeap(x) as Float32Array;
    const target = backend.typedArrayFromHeap(out) as Float32Array;
    const vectors = source.length >> 2;
    heapFunction(heap.memory, EXP)(source.byteOffset, target.byteOffset, vectors);
    for (let i = 4 * vectors; i < source.length; i++) target[i] = Math.exp(source[i]!);
    return out;
  };
}

/**
 * `reluGradient(dy, x, target, vectors)`: dy * step(x) for `vectors` groups of four floats, step(x) being 1
 * where x > 0, NaN where x is NaN, else 0 (a product, so NaN and infinite dy behave as in the stock graph).
 */
const RELU_GRADIENT_PRODUCTS: HeapFunctionSource = (() => {
  // Parameters dy 0, x 1, target 2, vectors 3; vectors: x 4.
  const code = [...op.block, ...op.loop, op.localGet, 3, op.i32Eqz, op.brIf, 1, op.localGet, 2];
  code.push(op.localGet, 1, ...v128Load(0), op.localSet, 4);
  code.push(op.localGet, 0, ...v128Load(0));
  code.push(...f32x4Const(1), op.localGet, 4, ...f32x4Const(0), ...simd(f32x4.gt), ...simd(v128Bits.and));
  code.push(op.localGet, 4, op.localGet, 4, op.localGet, 4, ...simd(f32x4.ne), ...simd(v128Bits.and), ...simd(v128Bits.or));
  code.push(...simd(f32x4.mul), ...v128Store(0));
  code.push(...addTo(0, 16), ...addTo(1, 16), ...addTo(2, 16), ...addTo(3, -1), op.br, 0, op.end, op.end);
  return { name: 'reluGradient', params: 4, i32Locals: 0, v128Locals: 1, code };
})();

/** RELU_GRADIENT on wasm: one SIMD pass where the stock gradient runs Step and then Multiply. */
export function reluGradient({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
  const out = backend.makeOutput(x.shape, 'float32');
  const [gradient, input, target] = [dy, x, out].map((t) => backend.typedArrayFromHeap(t) as Float32Array) as [Float32Array, Float32Array, Float32Array];
  const heap = activeWasmHeap();
  const vectors = heap ? target.length >> 2 : 0;
  if (heap) heapFunction(heap.memory, RELU_GRADIENT_PRODUCTS)(gradient.byteOffset, input.byteOffset, target.byteOffset, vectors);
  for (let i = 4 * vectors; i < target.length; i++) {
    const value = input[i]!;
    target[i] = gradient[i]! * (Number.isNaN(value) ? NaN : value > 0 ? 1 : 0);
  }
  return out;
}

/** Relu's gradient through RELU_GRADIENT where the backend has it, else the stock formula. */
export const reluGradientConfig: tf.GradConfig = {
  kernelName: 'Relu',
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved as [tf.Tensor];
    const gradient = dy as tf.Tensor;
    return {
      x: () => (tf.getKernel(RELU_GRADIENT, tf.getBackend()) && x.dtype === 'float32' && gradient.dtype === 'float32'
        ? tf.engine().runKernel(RELU_GRADIENT, { dy: gradient, x }) as tf.Tensor
        : tf.mul(gradient, tf.cast(tf.step(x), 'float32'))),
    };
  },
};

/** The constants ADAM_STEP reads, in this order (float32 each). */
const ADAM_CONSTANTS = ['beta1', 'oneMinusBeta1', 'beta2', 'oneMinusBeta2', 'firstCorrection', 'secondCorrection', 'epsilon', 'negativeRate'] as const;

/**
 * `adamStep(value, gradient, m, v, valueOut, mOut, vOut, vectors, constants)`: for `vectors` groups of four
 * floats m' = m b1 + g (1 - b1), v' = v b2 + g^2 (1 - b2), value' = (m' / c1) / (sqrt(v' / c2) + eps) * -rate
 * + value, each operation rounded to float32 as tf.train.adam's separate kernels round it.
 */
const ADAM_STEP: HeapFunctionSource = (() => {
  // Parameters value 0, gradient 1, m 2, v 3, value out 4, m out 5, v out 6, vectors 7, constants 8;
  // vectors: gradient 9, new m 10, new v 11.
  const constant = (name: (typeof ADAM_CONSTANTS)[number]) => [op.localGet, 8, ...v128Load32Splat(4 * ADAM_CONSTANTS.indexOf(name))];
  const code = [...op.block, ...op.loop, op.localGet, 7, op.i32Eqz, op.brIf, 1];
  code.push(op.localGet, 1, ...v128Load(0), op.localSet, 9);
  code.push(op.localGet, 2, ...v128Load(0), ...constant('beta1'), ...simd(f32x4.mul), op.localGet, 9, ...constant('oneMinusBeta1'), ...simd(f32x4.mul), ...simd(f32x4.add), op.localSet, 10);
  code.push(op.localGet, 3, ...v128Load(0), ...constant('beta2'), ...simd(f32x4.mul), op.localGet, 9, op.localGet, 9, ...simd(f32x4.mul), ...constant('oneMinusBeta2'), ...simd(f32x4.mul), ...simd(f32x4.add), op.localSet, 11);
  code.push(op.localGet, 5, op.localGet, 10, ...v128Store(0), op.localGet, 6, op.localGet, 11, ...v128Store(0));
  code.push(op.localGet, 4, op.localGet, 10, ...constant('firstCorrection'), ...simd(f32x4.div));
  code.push(op.localGet, 11, ...constant('secondCorrection'), ...simd(f32x4.div), ...simd(f32x4.sqrt), ...constant('epsilon'), ...simd(f32x4.add), ...simd(f32x4.div));
  code.push(...constant('negativeRate'), ...simd(f32x4.mul), op.localGet, 0, ...v128Load(0), ...simd(f32x4.add), ...v128Store(0));
  for (const pointer of [0, 1, 2, 3, 4, 5, 6]) code.push(...addTo(pointer, 16));
  code.push(...addTo(7, -1), op.br, 0, op.end, op.end);
  return { name: 'adamStep', params: 9, i32Locals: 0, v128Locals: 3, code };
})();

/** ADAM_UPDATE on wasm: the SIMD function over whole vectors, float32 arithmetic in JS for the rest. */
export function adamUpdate({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const { value, gradient, firstMoment, secondMoment } = inputs as Record<'value' | 'gradient' | 'firstMoment' | 'secondMoment', tf.TensorInfo>;
  const { beta1, beta2, epsilon, learningRate, firstCorrection, secondCorrection } = attrs as Record<string, number>;
  const constants = new Float32Array([beta1!, 1 - beta1!, beta2!, 1 - beta2!, firstCorrection!, secondCorrection!, epsilon!, -learningRate!]);
  const outputs = [value, firstMoment, secondMoment].map((t) => backend.makeOutput(t.shape, 'float32'));
  const heap = activeWasmHeap();
  const scratch = heap ? heap.backend.wasm._malloc(4 * constants.length) >>> 0 : 0;
  try {
    // Views after the allocation: growing the heap detaches older ones.
    const [w, g, m, v, wOut, mOut, vOut] = [value, gradient, firstMoment, secondMoment, ...outputs].map((t) => backend.typedArrayFromHeap(t!) as Float32Array) as Float32Array[];
    const vectors = heap ? w!.length >> 2 : 0;
    if (heap) {
      new Float32Array(heap.memory.buffer, scratch, constants.length).set(constants);
      heapFunction(heap.memory, ADAM_STEP)(...[w, g, m, v, wOut, mOut, vOut].map((t) => t!.byteOffset), vectors, scratch);
    }
    const [b1, oneMinusB1, b2, oneMinusB2, c1, c2, eps, negativeRate] = constants as unknown as number[];
    const f = Math.fround;
    for (let i = 4 * vectors; i < w!.length; i++) {
      const gi = g![i]!;
      const mi = (mOut![i] = f(f(m![i]! * b1!) + f(gi * oneMinusB1!)));
      const vi = (vOut![i] = f(f(v![i]! * b2!) + f(f(gi * gi) * oneMinusB2!)));
      wOut![i] = f(f(f(f(mi / c1!) / f(f(Math.sqrt(f(vi / c2!))) + eps!)) * negativeRate!) + w![i]!);
    }
  } finally {
    if (heap) heap.backend.wasm._free(scratch);
  }
  return outputs;
}
