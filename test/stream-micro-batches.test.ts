import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, map, of, toArray } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { xbdClassMap } from '../src/labels/classMap.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { splitMicroBatches } from '../src/operators/splitMicroBatches.js';
import { CreditGate } from '../src/sources/creditGate.js';
import { pairFiles } from '../src/sources/pairFiles.js';
import { tileBatches } from '../src/sources/tileBatches.js';
import { syntheticXbd } from './helpers/data.js';

test('micro-batches are the batch in order, and the batch is released only when all of them are', async () => {
  await selectBackend({ backend: 'cpu' });
  // Two 1024x1024 images: 32 tiles of 256, 4 batches of 8.
  const xbd = await syntheticXbd(2);
  const { pairs } = await pairFiles({ imagesDir: xbd.imagesDir, labelsDir: xbd.labelsDir });
  const gate = new CreditGate(64);
  // All 4 batches are held at once below, so all may be tensors before any is released.
  const source = () =>
    tileBatches({
      pairs,
      classMap: xbdClassMap(),
      readMask: readLabelMask,
      tile: { size: 256 },
      batchSize: 8,
      gate,
      tensors: { ahead: 4 },
    });
  const tensorsBefore = tf.memory().numTensors;
  // The whole batches, copied out as arrays for comparison.
  const expected = await lastValueFrom(
    source().pipe(
      map((b) => {
        const copy = {
          images: Array.from(b.images.dataSync()),
          labels: Array.from(b.labels.dataSync()),
          origins: b.origins,
        };
        b.release();
        return copy;
      }),
      toArray(),
    ),
  );
  assert.is(gate.inFlight, 0);

  const micro = await lastValueFrom(source().pipe(splitMicroBatches(4), toArray()));
  assert.is(micro.length, expected.length * 4);
  micro.forEach((part, i) => {
    const batch = expected[Math.floor(i / 4)]!;
    const k = i % 4;
    const pixels = 256 * 256;
    assert.equal(part.origins, batch.origins.slice(k * 2, k * 2 + 2));
    assert.equal(
      Array.from(part.labels.dataSync()),
      batch.labels.slice(k * 2 * pixels, (k + 1) * 2 * pixels),
    );
    assert.equal(
      Array.from(part.images.dataSync()),
      batch.images.slice(k * 2 * pixels * 3, (k + 1) * 2 * pixels * 3),
    );
  });
  // Credits of a batch come back only after its last micro-batch is released.
  assert.is(gate.inFlight, 32);
  micro.slice(0, 3).forEach((part) => part.release());
  micro[0]!.release(); // idempotent
  assert.is(gate.inFlight, 32);
  micro[3]!.release();
  assert.is(gate.inFlight, 24);
  micro.forEach((part) => part.release());
  assert.is(gate.inFlight, 0);
  assert.is(tf.memory().numTensors, tensorsBefore);
});

test('a batch that does not split evenly is an error naming the sizes; count must be a positive integer', async () => {
  await selectBackend({ backend: 'cpu' });
  const batch = {
    images: tf.zeros([6, 4, 4, 3]) as tf.Tensor4D,
    labels: tf.zeros([6, 4, 4], 'int32') as tf.Tensor3D,
    origins: [],
    release: () => undefined,
  };
  try {
    await lastValueFrom(of(batch).pipe(splitMicroBatches(4)));
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.match(String(error), 'a batch of 6 tiles');
    assert.match(String(error), '4 equal micro-batches');
  }
  assert.throws(() => splitMicroBatches(0), /positive integer/);
  tf.dispose([batch.images, batch.labels]);
});

test.run();
