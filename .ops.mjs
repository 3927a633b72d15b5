import * as tf from '@tensorflow/tfjs';
import { selectBackend } from './dist/src/backend/selectBackend.js';
await selectBackend({ backend: 'webgpu' });
const a = tf.randomNormal([4096]); const b = tf.randomNormal([4096]);
const v = tf.variable(tf.randomNormal([4096]));
const N = 600;
for (let r = 0; r < 6; r++) {
  let t0 = performance.now();
  tf.tidy(() => { let x = a; for (let i = 0; i < N; i++) x = tf.add(x, b); return x; }).dispose();
  const add = (performance.now() - t0) * 1000 / N;
  await a.data();
  t0 = performance.now();
  tf.tidy(() => { for (let i = 0; i < N; i++) v.assign(tf.add(v, b)); });
  const assign = (performance.now() - t0) * 1000 / N;
  await v.data();
  console.log(`add ${add.toFixed(1)} us/op, add+assign ${assign.toFixed(1)} us/op`);
}
process.exit(0);
