import * as tf from '@tensorflow/tfjs';
import { firstValueFrom, of, toArray } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { deviceErrorMessage } from '../src/backend/webgpu/deviceErrors.js';
import { train } from '../src/operators/train.js';
import type { TensorBatch } from '../src/types.js';
import { seededTensor } from './helpers/compare.js';
import { testUnlessMissing, webgpuMissing } from './helpers/skips.js';

// A program the GPU refuses writes nothing and WebGPU goes on: the run must stop, not train on zeros. Its own
// file, since the first device error fails every later read of the process.
const missing = await webgpuMissing();
const MIB = 1024 * 1024;

test('a refused program is named with what the GPU said first and what to change', () => {
  const limits = { maxStorageBufferBindingSize: 128 * MIB, maxBufferSize: 4096 * MIB };
  const overLimit = deviceErrorMessage(
    'GPUValidationError',
    'Binding size (300000000) of [Buffer (unlabeled)] is larger than the maximum storage buffer binding size (134217728).\n - While validating entries[0]',
    'mesa llvmpipe (driver llvmpipe, software)',
    limits,
  );
  assert.match(overLimit, 'on mesa llvmpipe (driver llvmpipe, software)');
  assert.match(overLimit, 'Binding size (300000000)');
  assert.not.match(overLimit, 'While validating', 'only the first line of what the GPU said');
  assert.match(overLimit, 'maxStorageBufferBindingSize 128 MiB, maxBufferSize 4096 MiB');
  assert.match(overLimit, '--batch-size');
  const outOfMemory = deviceErrorMessage('GPUOutOfMemoryError', 'Allocation failed', 'a GPU', limits);
  assert.match(outOfMemory, 'the GPU is out of memory');
  assert.match(outOfMemory, '--micro-batches');
  const other = deviceErrorMessage('GPUInternalError', 'Pipeline creation failed', 'a GPU', limits);
  assert.match(other, 'every value computed after it may be wrong');
  assert.not.match(other, '--batch-size');
});

testUnlessMissing(
  'a convolution over more positions than WebGPU dispatches is refused with its output shape and what to change',
  missing,
  () => {
    const before = tf.memory().numTensors;
    const image = tf.zeros([1, 2048, 2048, 3]) as tf.Tensor4D;
    const filter = tf.zeros([3, 3, 3, 8]) as tf.Tensor4D;
    assert.throws(
      () => tf.conv2d(image, filter, 1, 'same'),
      (error: Error) =>
        error.message.includes('a program with output [1, 2048, 2048, 8]') &&
        error.message.includes('--tile-size') &&
        error.message.includes('Dispatch size exceeds WebGPU limits'),
    );
    tf.dispose([image, filter]);
    assert.is(tf.memory().numTensors, before, 'no tensor left');
  },
);

/** The largest storage binding of the selected webgpu device, in bytes. */
function bindingLimit(): number {
  const backend = tf.backend() as unknown as { device: { limits: Record<string, number> } };
  return backend.device.limits.maxStorageBufferBindingSize!;
}

// Lavapipe binds up to 128 MiB; a GPU's limit would make the test's tensors gigabytes.
const limit = missing === undefined ? bindingLimit() : 0;
const overLimitMissing =
  missing ??
  (limit > 256 * MIB ? `this adapter binds up to ${limit / MIB} MiB, too much for a test` : undefined);

testUnlessMissing(
  'a training batch whose activations exceed the adapter binding limit stops the run with the limit named, and leaves no tensor',
  overLimitMissing,
  async () => {
    const before = tf.memory().numTensors;
    // Pixel-wise layers, so the programs stay within the dispatch limits at this size: the first one's output,
    // 64 float32 channels, is just over the binding limit.
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [null, null, 3], filters: 64, kernelSize: 1, activation: 'relu' }),
        tf.layers.conv2d({ filters: 2, kernelSize: 1 }),
      ],
    });
    const size = Math.ceil(Math.sqrt(limit / (64 * 4))) + 8;
    const images = seededTensor([1, size, size, 3], 1) as tf.Tensor4D;
    const labels = tf.zeros([1, size, size], 'int32') as tf.Tensor3D;
    const batch: TensorBatch = { images, labels, origins: [], release: () => undefined };
    let failure: unknown;
    try {
      await firstValueFrom(of(batch).pipe(train({ model, numClasses: 2, epochs: 1 }), toArray()));
    } catch (error) {
      failure = error;
    }
    assert.instance(failure, Error, 'the run ended with an error');
    const message = (failure as Error).message;
    assert.match(message, 'webgpu: the GPU refused a program on');
    assert.match(message, `maxStorageBufferBindingSize ${limit / MIB} MiB`);
    const later = await images.data().then(
      () => 'resolved',
      (error: Error) => error.message,
    );
    assert.match(later, 'refused a program', 'later reads fail too');
    tf.dispose([images, labels]);
    model.dispose();
    assert.is(tf.memory().numTensors, before, 'no tensor left');
  },
);

test.run();
