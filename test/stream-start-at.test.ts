import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { concatMap, lastValueFrom, toArray } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { InputError, SkipReport } from '../src/errors.js';
import { xbdClassMap } from '../src/labels/classMap.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { CreditGate } from '../src/sources/creditGate.js';
import { pairFiles } from '../src/sources/pairFiles.js';
import { type TileBatchesOptions, tileBatches } from '../src/sources/tileBatches.js';
import type { TensorBatch } from '../src/types.js';
import { batchDigest } from './helpers/batchDigests.js';
import { syntheticXbd, writeXbdPairs } from './helpers/data.js';

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
const xbd = await syntheticXbd(2);
const { pairs } = await pairFiles({ imagesDir: xbd.imagesDir, labelsDir: xbd.labelsDir });
const options: TileBatchesOptions = {
  pairs,
  classMap: xbdClassMap(),
  readMask: readLabelMask,
  tile: { size: TILE },
  batchSize: BATCH,
  epochs: EPOCHS,
  shuffle: { bufferSize: 24, seed: 7 },
  augment: { seed: 3, cropScale: [0.7, 1], brightness: 0.1, hue: 10 },
};

/** Records and releases every batch of a stream; checks that every credit came back. */
async function records(startAt?: { epoch: number; batch: number }, workers?: number): Promise<BatchRecord[]> {
  // The least credits that cannot deadlock: a skipped batch that kept its credits would stall the stream.
  const gate = new CreditGate(24 + BATCH + 64);
  const batches = tileBatches({
    ...options,
    gate,
    ...(startAt ? { startAt } : {}),
    ...(workers === undefined ? {} : { workers }),
  });
  const recorded = await lastValueFrom(
    batches.pipe(
      concatMap(async (batch: TensorBatch) => {
        const digest = await batchDigest(batch);
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
    assert.equal(
      batches.map((b) => b.origins.length),
      [...new Array<number>(BATCHES_PER_EPOCH - 1).fill(BATCH), 128 - BATCH * (BATCHES_PER_EPOCH - 1)],
    );
    assert.is(new Set(batches.flatMap((b) => b.origins)).size, 128, `epoch ${epoch} holds every tile once`);
  }
  assert.not.equal(whole[0]!.origins, whole[BATCHES_PER_EPOCH]!.origins, 'epochs are shuffled differently');

  for (const startAt of [
    { epoch: 1, batch: 4 },
    { epoch: 2, batch: BATCHES_PER_EPOCH - 1 },
    { epoch: 2, batch: 0 },
  ]) {
    const rest = await records(startAt);
    assert.equal(
      rest,
      whole.slice(startAt.epoch * BATCHES_PER_EPOCH + startAt.batch),
      `from ${JSON.stringify(startAt)}`,
    );
  }
  assert.equal(await records({ epoch: EPOCHS, batch: 0 }), [], 'starting after the last epoch gives nothing');
  assert.is(tf.memory().numTensors, tensorsBefore, 'no tensor left behind');
  assert.throws(
    () => tileBatches({ ...options, startAt: { epoch: EPOCHS + 1, batch: 0 } }),
    /startAt must be an epoch in 0\.\.epochs \(3\)/,
  );
});

test('worker threads give exactly the stream the main thread gives: same tiles, same order, same pixels', async () => {
  const onMainThread = await records(undefined, 0);
  assert.equal(await records(undefined, 2), onMainThread);
  assert.equal(await records({ epoch: 1, batch: 3 }, 1), onMainThread.slice(BATCHES_PER_EPOCH + 3));
  const customReader: typeof readLabelMask = (...args) => readLabelMask(...args);
  assert.throws(
    () => tileBatches({ ...options, readMask: customReader, workers: 2 }),
    /a custom readMask needs workers: 0/,
  );
});

test('a corrupt image read by a worker stops the stream with an InputError naming the file, or is skipped and reported', async () => {
  const root = await mkdtemp(join(tmpdir(), 'segstream-workers-'));
  const [image] = await writeXbdPairs(root, 1);
  const corrupt = join(root, 'images', image!);
  // Truncated: its header (read on the main thread, for credits) is whole, so the failure comes from the worker's decode.
  const bytes = await readFile(corrupt);
  await rm(corrupt);
  await writeFile(corrupt, bytes.subarray(0, bytes.length >> 2));
  const pair = {
    id: 'corrupt',
    imagePath: corrupt,
    labelPath: join(root, 'labels', image!.replace(/\.(png|jpg)$/, '.json')),
  };
  const stream = (onBadInput: 'throw' | 'skip', skipReport?: SkipReport) =>
    lastValueFrom(
      tileBatches({
        ...options,
        pairs: [pairs[0]!, pair],
        shuffle: undefined,
        augment: undefined,
        epochs: 1,
        workers: 2,
        onBadInput,
        ...(skipReport ? { skipReport } : {}),
      }).pipe(
        concatMap(async (batch: TensorBatch) => {
          batch.release();
          return batch.origins.length;
        }),
        toArray(),
      ),
    );
  const error = await stream('throw').then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.instance(error, InputError);
  assert.is((error as InputError).file, corrupt);
  assert.match((error as InputError).problem, /cannot decode image/);
  const report = new SkipReport();
  const sizes = await stream('skip', report);
  assert.is(
    sizes.reduce((a, b) => a + b, 0),
    64,
    "the good image's 64 tiles, nothing of the corrupt one",
  );
  assert.is(report.count, 1);
  assert.is(report.items[0]!.file, corrupt);
  await rm(root, { recursive: true });
});

test.run();
