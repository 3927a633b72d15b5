import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/selectBackend.js';

test('auto picks the best available backend and says why better ones were skipped', async () => {
  const choice = await selectBackend({ backend: 'auto' });
  assert.ok(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'].includes(choice.backend));
  assert.is(tf.getBackend(), choice.tfBackend);
  assert.match(choice.summary, `backend: ${choice.backend}`);
  for (const attempt of choice.attempts.filter((a) => !a.ok)) {
    assert.match(choice.summary, `${attempt.backend}: ${attempt.reason}`);
  }
});

test('a forced backend runs, and an unknown one is refused by name', async () => {
  const choice = await selectBackend({ backend: 'cpu' });
  assert.is(choice.backend, 'cpu');
  assert.is(tf.getBackend(), 'cpu');
  assert.match(choice.summary, 'forced');
  try {
    await selectBackend({ backend: 'tpu' as never });
    assert.unreachable('unknown backend accepted');
  } catch (error) {
    assert.match(String(error), "unknown backend 'tpu'");
  }
});

test.run();
