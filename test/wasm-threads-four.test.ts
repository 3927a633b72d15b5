import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { relativeError } from './helpers/compare.js';

/** The convolution, its input gradient and its filter gradient, as plain arrays. */
function convolutionAndGradients(input: number[], filter: number[], stride: number): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(
      Array.from({ length: input.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(0.37 * i)),
      input as [number, number, number, number],
    );
    const w = tf.tensor4d(
      Array.from({ length: filter.reduce((a, b) => a * b, 1) }, (_, i) => Math.cos(0.11 * i)),
      filter as [number, number, number, number],
    );
    const convolve = (a: tf.Tensor, b: tf.Tensor) =>
      tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, 'same');
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => convolve(a, b).square().sum())([x, w]);
    return [convolve(x, w), dx!, dw!].map((t) => t.dataSync() as Float32Array);
  });
}

test("with 4 wasm threads (three helpers) the jobs split four ways and give the cpu backend's numbers", async () => {
  const choice = await selectBackend({ backend: 'wasm', wasmThreads: 4 });
  assert.is(getThreadsCount(), 4);
  assert.match(choice.summary, 'wasm, 4 threads');
  const cases = [
    // F(4x4, 3x3): 3 tile rows, fewer than the threads, and their filter gradient in four parts of sums.
    { input: [1, 12, 32, 16], filter: [3, 3, 16, 16], stride: 1 },
    // F(2x2, 3x3) on 16 px maps: 10 tile rows over four threads; 1,024 channel pairs, so its filter gradient too.
    { input: [2, 10, 16, 32], filter: [3, 3, 32, 32], stride: 1 },
    // Stride 2: the direct filter gradient, 5 channel pairs (9 channels and a zero one) over four threads.
    { input: [2, 16, 16, 9], filter: [3, 3, 9, 8], stride: 2 },
  ];
  const threaded = cases.map((c) => convolutionAndGradients(c.input, c.filter, c.stride));
  await selectBackend({ backend: 'cpu' });
  cases.forEach((c, i) => {
    convolutionAndGradients(c.input, c.filter, c.stride).forEach((reference, k) => {
      const error = relativeError(threaded[i]![k]!, reference);
      assert.ok(error < 1e-4, `${JSON.stringify(c)} output ${k}: relative error ${error}`);
    });
  });
});

// The runner kills a file that does not exit: reaching the end here proves the helpers do not hold the process.
test.run();
