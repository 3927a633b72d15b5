import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BATCH_NORM_TRAINING_GRADIENT } from '../src/backend/fusedKernels.js';
import { selectBackend } from '../src/backend/selectBackend.js';
import { BatchNormalization } from '../src/models/layers/batchNormalization.js';
import { relativeError } from './helpers/compare.js';
import { roundTrip } from './helpers/models.js';

type Backend = 'cpu' | 'wasm';
const SETTINGS = {
  momentum: 0.9,
  epsilon: 1e-3,
  gammaInitializer: tf.initializers.randomNormal({ mean: 1, stddev: 0.3, seed: 3 }),
  betaInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.3, seed: 4 }),
};

/**
 * Trains a fresh layer for two steps of sum(layer(x) * weights) (so dy is not uniform) on `backend` and
 * returns the gradients of x, gamma and beta of the second step and the moving statistics after both.
 */
async function gradients(
  backend: Backend,
  layerKind: 'stock' | 'segstream',
  shape: number[],
  mean = 3,
  spread = 2,
): Promise<Record<string, Float32Array>> {
  await selectBackend({ backend, wasmThreads: 1 });
  const layer =
    layerKind === 'stock' ? tf.layers.batchNormalization(SETTINGS) : new BatchNormalization(SETTINGS);
  layer.build(shape);
  // Inputs far from zero mean and unit spread: the closed form must not lose the centring.
  const x = tf.randomNormal(shape, mean, spread, 'float32', 1);
  const weights = tf.randomNormal(shape, 0, 1, 'float32', 2);
  const [gamma, beta] = layer.trainableWeights.map((w) => w.read() as tf.Variable);
  const before = tf.memory().numTensors;
  let result: Record<string, Float32Array> = {};
  for (let step = 0; step < 2; step++) {
    const [dx, dGamma, dBeta] = tf.tidy(() => {
      const { grads: byVariable } = tf.variableGrads(
        () => tf.sum(tf.mul(layer.apply(x, { training: true }) as tf.Tensor, weights)),
        [gamma!, beta!],
      );
      const inputGradient = tf.grad((input: tf.Tensor) =>
        tf.sum(tf.mul(layer.apply(input, { training: true }) as tf.Tensor, weights)),
      )(x);
      return [inputGradient, byVariable[gamma!.name]!, byVariable[beta!.name]!];
    });
    result = {
      dx: dx!.dataSync() as Float32Array,
      dGamma: dGamma!.dataSync() as Float32Array,
      dBeta: dBeta!.dataSync() as Float32Array,
    };
    tf.dispose([dx!, dGamma!, dBeta!]);
  }
  assert.is(tf.memory().numTensors, before, `${backend} ${layerKind}: no tensors left after the steps`);
  const [movingMean, movingVariance] = layer
    .getWeights()
    .slice(2)
    .map((w) => w.dataSync() as Float32Array);
  tf.dispose([x, weights]);
  return { ...result, movingMean: movingMean!, movingVariance: movingVariance! };
}

// 8 and 16 channels take the wasm SIMD passes; 6 the kernels' plain loops; rank 2 is a dense layer's batch
// norm; a mean 200 times the spread tests the variance's cancellation.
for (const [shape, mean, spread] of [
  [[2, 5, 6, 8], 3, 2],
  [[4, 9, 7, 16], 3, 2],
  [[3, 4, 4, 6], 3, 2],
  [[7, 12], 3, 2],
  [[2, 8, 8, 8], 100, 0.5],
] as const) {
  test(`batch norm in training: gradients and moving statistics equal the stock layer's on cpu and wasm (${shape.join('x')}, mean ${mean})`, async () => {
    const reference = await gradients('cpu', 'stock', [...shape], mean, spread);
    for (const backend of ['cpu', 'wasm'] as const) {
      const fused = await gradients(backend, 'segstream', [...shape], mean, spread);
      for (const [name, values] of Object.entries(reference)) {
        const error = relativeError(fused[name]!, values);
        assert.ok(error < 1e-4, `${backend} ${name}: relative error ${error}`);
      }
      // On wasm the layer's gradient is the fused kernel, on cpu the composition of stock ops.
      assert.is(
        tf.getKernel(BATCH_NORM_TRAINING_GRADIENT, backend) !== undefined,
        backend === 'wasm',
        `${backend}: fused kernel registered`,
      );
    }
  });
}

test('batch norm: saved with the stock class name and loaded back as this layer; inference unchanged', async () => {
  await selectBackend({ backend: 'cpu' });
  const input = tf.input({ shape: [4, 4, 8] });
  const output = new BatchNormalization({ ...SETTINGS, name: 'bn' }).apply(input) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: output });
  const topology = JSON.stringify(model.toJSON(null, false));
  assert.match(topology, '"class_name":"BatchNormalization"');
  const loaded = await roundTrip(model);
  assert.ok(loaded.getLayer('bn') instanceof BatchNormalization, 'loads as the fast layer');
  const x = tf.randomNormal([2, 4, 4, 8], 1, 2, 'float32', 5);
  const [a, b] = [model, loaded].map((m) => m.predict(x) as tf.Tensor);
  assert.ok(
    relativeError(a!.dataSync() as Float32Array, b!.dataSync() as Float32Array) === 0,
    'same inference output',
  );
  tf.dispose([a!, b!, x]);
  model.dispose();
  loaded.dispose();
});

test.run();
