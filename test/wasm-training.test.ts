import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { buildUNet } from '../src/models/unet.js';

function maxRelativeError(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++)
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(Math.abs(b[i]!), 1e-3));
  return worst;
}

function seededValues(size: number, seed: number): Float32Array {
  const values = new Float32Array(size);
  let state = seed;
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[i] = state / 2 ** 32 - 0.5;
  }
  return values;
}

test('batch-norm gradient (broadcast, registered with the wasm kernels) equals autodiff of the written-out formula', async () => {
  await selectBackend({ backend: 'wasm', wasmThreads: 1 });
  const x = tf.tensor4d(seededValues(2 * 5 * 4 * 3, 1), [2, 5, 4, 3]);
  const mean = tf.tensor1d([0.1, -0.2, 0.05]);
  const variance = tf.tensor1d([0.5, 1.5, 0.25]);
  const scale = tf.tensor1d([1.2, 0.7, -0.4]);
  const offset = tf.tensor1d([0.3, 0, -0.1]);
  const weights = tf.tensor4d(seededValues(2 * 5 * 4 * 3, 2), [2, 5, 4, 3]);
  const inputs = [x, mean, variance, scale, offset];
  const fused = tf.grads((a, m, v, s, o) =>
    tf
      .batchNorm(
        a as tf.Tensor4D,
        m as tf.Tensor1D,
        v as tf.Tensor1D,
        o as tf.Tensor1D,
        s as tf.Tensor1D,
        1e-3,
      )
      .mul(weights)
      .sum(),
  )(inputs);
  const written = tf.grads((a, m, v, s, o) =>
    a
      .sub(m)
      .mul(tf.rsqrt(v.add(1e-3)))
      .mul(s)
      .add(o)
      .mul(weights)
      .sum(),
  )(inputs);
  fused.forEach((g, i) => {
    const error = maxRelativeError(g.dataSync() as Float32Array, written[i]!.dataSync() as Float32Array);
    assert.ok(error < 1e-4, `input ${i}: relative error ${error}`);
  });
  tf.dispose([...inputs, weights, ...fused, ...written]);
});

test('batch-norm gradient holds only per-channel values between its layer and the end of the backward pass', async () => {
  await selectBackend({ backend: 'wasm', wasmThreads: 1 });
  const x = tf.tensor4d(seededValues(2 * 16 * 16 * 8, 3), [2, 16, 16, 8]);
  const dy = tf.tensor4d(seededValues(2 * 16 * 16 * 8, 4), [2, 16, 16, 8]);
  const [mean, variance, scale] = [tf.fill([8], 0.1), tf.fill([8], 0.5), tf.fill([8], 1.2)];
  const gradient = tf.getGradient('FusedBatchNorm')!;
  const before = tf.memory().numBytes;
  // What gradFunc makes before any input's gradient is asked for lives until the whole backward pass ends
  // (full-size products kept there held every layer's, and DeepLabV3+ training ran out of wasm memory).
  const closures = gradient.gradFunc(dy, [x, mean, variance, scale], { varianceEpsilon: 1e-3 }) as Record<
    string,
    () => tf.Tensor
  >;
  const held = tf.memory().numBytes - before;
  assert.ok(held < x.size * 4, `gradFunc holds ${held} bytes, an activation is ${x.size * 4}`);
  const grads = Object.values(closures).map((grad) => tf.tidy(grad));
  assert.equal(
    grads.map((g) => g.shape),
    [[2, 16, 16, 8], [8], [8], [8], [8]],
  );
  tf.dispose([x, dy, mean, variance, scale, ...grads]);
});

/** Three SGD-momentum steps of a small UNet (batch norm, transposed convs, max pooling) on one backend. */
async function trainSmallUNet(backend: 'cpu' | 'wasm'): Promise<{ weights: Float32Array[]; leaked: number }> {
  await selectBackend({ backend, wasmThreads: 1 });
  // 32 px maps: the 3x3 convolutions take Winograd F(4x4, 3x3) at 32 px and F(2x2, 3x3) at 16 px on wasm.
  const model = buildUNet({ depth: 2, baseFilters: 4, batchNorm: true, numClasses: 3, inputSize: [32, 32] });
  // The same starting weights on both backends.
  model.weights.forEach((w, i) => {
    const shape = w.shape as number[];
    w.write(
      tf.tidy(() =>
        tf
          .tensor(
            seededValues(
              shape.reduce((a, b) => a * b, 1),
              100 + i,
            ),
            shape,
          )
          .mul(0.5),
      ),
    );
  });
  // SGD with momentum: Adam would turn the float noise in gradients that are zero in exact arithmetic (conv biases
  // before batch norm) into full-size steps of either sign, which no backend comparison can match.
  const optimizer = tf.train.momentum(0.05, 0.9);
  const images = tf.tensor4d(seededValues(2 * 32 * 32 * 3, 7), [2, 32, 32, 3]);
  const labels = tf
    .oneHot(
      tf.tensor3d(
        Array.from(seededValues(2 * 32 * 32, 8), (v) => Math.floor((v + 0.5) * 3)),
        [2, 32, 32],
        'int32',
      ),
      3,
    )
    .cast('float32');
  const step = () =>
    tf.tidy(() => {
      optimizer.minimize(
        () => tf.losses.softmaxCrossEntropy(labels, model.apply(images, { training: true }) as tf.Tensor),
        false,
      );
    });
  step();
  const before = tf.memory().numTensors;
  step();
  step();
  const leaked = tf.memory().numTensors - before;
  const weights = model.weights.map((w) => w.read().dataSync() as Float32Array);
  tf.dispose([images, labels]);
  optimizer.dispose();
  model.dispose();
  return { weights, leaked };
}

test('three SGD-momentum steps of a small UNet give the same weights on wasm as on cpu, with no tensor growth', async () => {
  const cpu = await trainSmallUNet('cpu');
  const wasm = await trainSmallUNet('wasm');
  assert.is(wasm.leaked, 0);
  assert.is(cpu.leaked, 0);
  let worst = 0;
  cpu.weights.forEach((reference, i) => {
    let diff = 0;
    let norm = 0;
    for (let k = 0; k < reference.length; k++) {
      diff = Math.max(diff, Math.abs(wasm.weights[i]![k]! - reference[k]!));
      norm = Math.max(norm, Math.abs(reference[k]!));
    }
    worst = Math.max(worst, diff / Math.max(norm, 1e-6));
  });
  assert.ok(worst < 1e-4, `worst relative weight difference ${worst}`);
});

test.run();
