import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { concatMap, lastValueFrom, toArray } from 'rxjs';
import { selectBackend } from '../src/backend/selectBackend.js';
import { xbdClassMap } from '../src/labels/classMap.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { pairFiles } from '../src/sources/pairFiles.js';
import { CreditGate } from '../src/stream/creditGate.js';
import { tileBatches, type TileBatchesOptions } from '../src/stream/tileBatches.js';
import type { TensorBatch } from '../src/types.js';
import { XBD_DIR } from './helpers/data.js';

const TILE = 128; // 64 tiles per 1024x1024 image
const BATCH = 12; // 2 images: 128 tiles an epoch = 10 batches of 12 and one of 8
const BATCHES_PER_EPOCH = Math.ceil(128 / BATCH);
const EPOCHS = 3;

/** What a batch is, without its tensors: where its tiles came from and a digest of its images and labels. */
interface BatchRecord {
  origins: string[];
  digest: string;
}

await selectBackend({ backend: 'cpu' });
const { pairs } = await pairFiles({ imagesDir: join(XBD_DIR, 'images'), labelsDir: join(XBD_DIR, 'labels') });
const options: TileBatchesOptions = {
  pairs: pairs.slice(0, 2),
  classMap: xbdClassMap(),
  readMask: readLabelMask,
  tile: { size: TILE },
  batchSize: BATCH,
  epochs: EPOCHS,
  shuffle: { bufferSize: 24, seed: 7 },
  augment: { seed: 3, cropScale: [0.7, 1], brightness: 0.1, hue: 10 },
};

/** Records and releases every batch of a stream; checks that every credit came back. */
async function records(startAt?: { epoch: number; batch: number }): Promise<BatchRecord[]> {
  // The least credits that cannot deadlock: a skipped batch that kept its credits would stall the stream.
  const gate = new CreditGate(24 + BATCH + 64);
  const batches = tileBatches({ ...options, gate, ...(startAt ? { startAt } : {}) });
  const recorded = await lastValueFrom(
    batches.pipe(
      concatMap(async (batch: TensorBatch) => {
        const digest = createHash('sha256').update(await batch.images.data()).update(await batch.labels.data()).digest('hex');
        batch.release();
        return { origins: batch.origins.map((o) => `${o.sourceId}@${o.x},${o.y}`), digest };
      }),
      toArray(),
    ),
  );
  assert.is(gate.inFlight, 0, 'every credit returned');
  return recorded;
}

test('startAt {epoch, batch} gives exactly the rest of the uninterrupted stream, shuffled and augmented', async () => {
  const tensorsBefore = tf.memory().numTensors;
  const whole = await records();
  assert.is(whole.length, EPOCHS * BATCHES_PER_EPOCH);
  for (let epoch = 0; epoch < EPOCHS; epoch++) {
    const batches = whole.slice(epoch * BATCHES_PER_EPOCH, (epoch + 1) * BATCHES_PER_EPOCH);
    // No batch straddles two epochs: each epoch is every tile once, closed by its own short batch.
    assert.equal(batches.map((b) => b.origins.length), [...new Array<number>(BATCHES_PER_EPOCH - 1).fill(BATCH), 128 - BATCH * (BATCHES_PER_EPOCH - 1)]);
    assert.is(new Set(batches.flatMap((b) => b.origins)).size, 128, `epoch ${epoch} holds every tile once`);
  }
  assert.not.equal(whole[0]!.origins, whole[BATCHES_PER_EPOCH]!.origins, 'epochs are shuffled differently');

  for (const startAt of [{ epoch: 1, batch: 4 }, { epoch: 2, batch: BATCHES_PER_EPOCH - 1 }, { epoch: 2, batch: 0 }]) {
    const rest = await records(startAt);
    assert.equal(rest, whole.slice(startAt.epoch * BATCHES_PER_EPOCH + startAt.batch), `from ${JSON.stringify(startAt)}`);
  }
  assert.equal(await records({ epoch: EPOCHS, batch: 0 }), [], 'starting after the last epoch gives nothing');
  assert.is(tf.memory().numTensors, tensorsBefore, 'no tensor left behind');
  assert.throws(() => tileBatches({ ...options, startAt: { epoch: EPOCHS + 1, batch: 0 } }), /startAt must be an epoch in 0\.\.epochs \(3\)/);
});

test.run();
