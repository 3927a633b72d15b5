import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';

test('the wasm backend runs two threads in Node, gives the single-threaded numbers, and lets the process exit', async () => {
  const choice = await selectBackend({ backend: 'wasm', wasmThreads: 2 });
  assert.is(getThreadsCount(), 2);
  assert.match(choice.summary, 'wasm, 2 threads');
  // The filter gradient's channel pairs are split with a helper thread: 4 pairs evenly, 5 (9 channels and a zero one) unevenly.
  for (const [inChannels, outChannels] of [
    [8, 16],
    [9, 20],
  ] as const) {
    const x = tf.tensor4d(
      Array.from({ length: 2 * 32 * 32 * inChannels }, (_, i) => Math.sin(i)),
      [2, 32, 32, inChannels],
    );
    const w = tf.tensor4d(
      Array.from({ length: 3 * 3 * inChannels * outChannels }, (_, i) => Math.cos(i)),
      [3, 3, inChannels, outChannels],
    );
    const gradients = () =>
      tf
        .grads((a, b) =>
          tf
            .conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')
            .square()
            .sum(),
        )([x, w])
        .map((g) => g.dataSync());
    await selectBackend({ backend: 'wasm', wasmThreads: 2 });
    const threaded = gradients();
    await selectBackend({ backend: 'cpu' });
    gradients().forEach((reference, k) => {
      let worst = 0;
      let norm = 0;
      reference.forEach((v, i) => {
        worst = Math.max(worst, Math.abs(v - threaded[k]![i]!));
        norm = Math.max(norm, Math.abs(v));
      });
      assert.ok(
        worst / norm < 1e-4,
        `${inChannels} to ${outChannels} channels, gradient ${k}: ${worst / norm}`,
      );
    });
  }
});

// The runner kills a file that does not exit: reaching the end here proves the workers do not hold the process.
test.run();
