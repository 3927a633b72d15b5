import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { selectBackend } from '../src/backend/selectBackend.js';

test('the wasm backend runs two threads in Node, gives the single-threaded numbers, and lets the process exit', async () => {
  const choice = await selectBackend({ backend: 'wasm', wasmThreads: 2 });
  assert.is(getThreadsCount(), 2);
  assert.match(choice.summary, 'wasm, 2 threads');
  const x = tf.tensor4d(Array.from({ length: 2 * 32 * 32 * 8 }, (_, i) => Math.sin(i)), [2, 32, 32, 8]);
  const w = tf.tensor4d(Array.from({ length: 3 * 3 * 8 * 16 }, (_, i) => Math.cos(i)), [3, 3, 8, 16]);
  const [dx, dw] = tf.grads((a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same').square().sum())([x, w]);
  const threaded = [dx!.dataSync(), dw!.dataSync()];
  await selectBackend({ backend: 'cpu' });
  const [cx, cw] = tf.grads((a, b) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same').square().sum())([x, w]);
  [cx!.dataSync(), cw!.dataSync()].forEach((reference, k) => {
    let worst = 0;
    let norm = 0;
    reference.forEach((v, i) => {
      worst = Math.max(worst, Math.abs(v - threaded[k]![i]!));
      norm = Math.max(norm, Math.abs(v));
    });
    assert.ok(worst / norm < 1e-4, `gradient ${k}: ${worst / norm}`);
  });
});

// The runner kills a file that does not exit: reaching the end here proves the workers do not hold the process.
test.run();
