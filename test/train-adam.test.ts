import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { Adam } from '../src/training/adam.js';

/**
 * Three steps of `optimizer` on a fresh set of variables (sizes 4k and not, one that gets no gradient) under
 * a loss with uneven gradients; returns the variables' values and the optimizer's saved weights.
 */
async function train(
  backend: 'cpu' | 'wasm',
  make: () => tf.Optimizer,
): Promise<{ values: Float32Array[]; saved: Array<{ name: string; values: Float32Array }> }> {
  await selectBackend({ backend, wasmThreads: 1 });
  const variables = [[3, 3, 4, 8], [7], [5, 3], [2]].map((shape, i) =>
    tf.variable(tf.randomNormal(shape, 0, 1, 'float32', i + 1), true, `adam_test_${backend}_${i}`),
  );
  const optimizer = make();
  const before = tf.memory().numTensors;
  for (let step = 0; step < 3; step++) {
    // The last variable is left out of the loss: it has no gradient and stays as it is.
    optimizer.minimize(
      () =>
        variables
          .slice(0, 3)
          .map((v, i) => tf.sum(tf.mul(tf.square(v), i + 1 + step)).add(tf.sum(tf.mul(tf.mul(v, v), v))))
          .reduce((a, b) => a.add(b)) as tf.Scalar,
      false,
      variables.slice(0, 3),
    );
  }
  // The moments are created on the first step; after it, steps add no tensors.
  optimizer.minimize(() => tf.sum(tf.square(variables[0]!)), false, variables.slice(0, 3));
  const afterFour = tf.memory().numTensors;
  optimizer.minimize(() => tf.sum(tf.square(variables[0]!)), false, variables.slice(0, 3));
  assert.is(tf.memory().numTensors, afterFour, `${backend}: a step leaves no tensors`);
  assert.ok(afterFour > before, 'moments were created');
  const values = variables.map((v) => v.dataSync() as Float32Array);
  const saved = (await optimizer.getWeights()).map(({ name, tensor }) => ({
    name: name.replace(`_${backend}_`, '_'),
    values: tensor.dataSync() as Float32Array,
  }));
  optimizer.dispose();
  tf.dispose(variables);
  return { values, saved };
}

const settings = [2e-2, 0.8, 0.99, 1e-7] as const;

test("Adam: the fused wasm step gives the stock optimizer's weights and moments bit for bit, on wasm and cpu", async () => {
  const stock = await train('wasm', () => tf.train.adam(...settings));
  for (const backend of ['wasm', 'cpu'] as const) {
    const fused = await train(backend, () => new Adam(...settings));
    stock.values.forEach((values, i) =>
      assert.equal(Array.from(fused.values[i]!), Array.from(values), `${backend}: variable ${i}`),
    );
    assert.equal(
      fused.saved.map((w) => w.name),
      stock.saved.map((w) => w.name),
      `${backend}: saved weight names`,
    );
    stock.saved.forEach(({ values }, i) =>
      assert.equal(
        Array.from(fused.saved[i]!.values),
        Array.from(values),
        `${backend}: saved weight ${stock.saved[i]!.name}`,
      ),
    );
  }
});

test('Adam restored from saved weights (resume) goes on as the stock optimizer restored the same way, bit for bit on wasm', async () => {
  await selectBackend({ backend: 'wasm', wasmThreads: 1 });
  const resumed = async (make: () => tf.Optimizer): Promise<number[]> => {
    const variable = tf.variable(tf.randomNormal([6, 5], 0, 1, 'float32', 9), true, 'adam_resume');
    const loss = () => tf.sum(tf.mul(tf.mul(variable, variable), variable)) as tf.Scalar;
    const first = make();
    for (let step = 0; step < 3; step++) first.minimize(loss, false, [variable]);
    const saved = await first.getWeights();
    const second = make();
    // The moments are created on the first step and then overwritten by the saved ones.
    second.minimize(() => tf.sum(tf.mul(variable, 0)) as tf.Scalar, false, [variable]);
    await second.setWeights(saved);
    for (let step = 0; step < 3; step++) second.minimize(loss, false, [variable]);
    const values = Array.from(variable.dataSync());
    tf.dispose([variable, ...saved.map((w) => w.tensor)]);
    first.dispose();
    second.dispose();
    return values;
  };
  const stock = await resumed(() => tf.train.adam(...settings));
  assert.equal(await resumed(() => new Adam(...settings)), stock);
});

test.run();
