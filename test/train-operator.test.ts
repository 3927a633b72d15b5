import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { concatMap, lastValueFrom, Observable, toArray } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { buildPatchGANDiscriminator, buildPix2PixGenerator } from '../src/models/pix2pix.js';
import { train } from '../src/operators/train.js';
import { loadLatestCheckpoint, resumeSourcePosition } from '../src/training/checkpoint.js';
import type { BatchMetricsEvent, EpochSummaryEvent, TrainingEvent } from '../src/training/events.js';
import type { TensorBatch } from '../src/types.js';
import {
  maxAbsDifference,
  syntheticBatch,
  syntheticBatches,
  tinySegmenter,
  weightValues,
} from './train-fixtures.js';

await selectBackend({ backend: 'cpu' });
const C = 3;
const run = (source: Observable<TensorBatch>, options: Parameters<typeof train>[0]) =>
  lastValueFrom(source.pipe(train(options), toArray()));
const batchEvents = (events: TrainingEvent[]) =>
  events.filter((e): e is BatchMetricsEvent => e.type === 'batch');
const epochEvents = (events: TrainingEvent[]) =>
  events.filter((e): e is EpochSummaryEvent => e.type === 'epoch');

test('trains one step per batch, releases every batch before pulling the next, leaks no tensors, loss falls', async () => {
  const model = tinySegmenter(C);
  const stats = { count: 0, maxOutstanding: 0 };
  const before = tf.memory().numTensors;
  const events = await run(syntheticBatches(0, 12, 2, 8, C, stats), {
    model,
    numClasses: C,
    epochs: 2,
    stepsPerEpoch: 6,
    optimizer: { name: 'adam', learningRate: 0.05 },
  });
  const steps = batchEvents(events);
  assert.is(steps.length, 12);
  assert.is(stats.count, 12, 'every batch released');
  assert.is(stats.maxOutstanding, 1, 'the next batch is pulled only after the previous one was released');
  // Tensors after the first step (optimizer slots created) stay constant.
  assert.equal(
    new Set(steps.slice(1).map((s) => s.tensorsAlive)).size,
    1,
    `tensors alive per step: ${steps.map((s) => s.tensorsAlive)}`,
  );
  assert.is(
    tf.memory().numTensors,
    before,
    'optimizer state and batches disposed at the end: only the model remains',
  );
  const epochs = epochEvents(events);
  assert.equal(
    epochs.map((e) => [e.epoch, e.steps]),
    [
      [0, 6],
      [1, 6],
    ],
  );
  assert.ok(epochs[1]!.trainLoss < epochs[0]!.trainLoss, `loss falls: ${epochs.map((e) => e.trainLoss)}`);
  assert.equal(
    steps.map((s) => s.globalStep),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
  );
  assert.ok(JSON.parse(JSON.stringify(events)).length === events.length, 'events are JSON');
  assert.ok(steps[0]!.memory.rss > 0 && steps[0]!.imagesPerSecond > 0);
});

test('gradient accumulation over 4 micro-batches of 2 equals one batch of 8 (no batch norm)', async () => {
  const steps = 3;
  const big = (step: number): TensorBatch => {
    const parts = [0, 1, 2, 3].map((j) => syntheticBatch(step * 4 + j, 2, 8, C));
    const batch = {
      images: tf.concat(parts.map((p) => p.images)) as tf.Tensor4D,
      labels: tf.concat(parts.map((p) => p.labels)) as tf.Tensor3D,
      origins: [],
      release: () => tf.dispose([batch.images, batch.labels]),
    };
    parts.forEach((p) => p.release());
    return batch;
  };
  const options = { numClasses: C, optimizer: { name: 'sgd' as const, learningRate: 0.5, momentum: 0.9 } };
  const whole = tinySegmenter(C);
  const wholeEvents = await run(
    new Observable<TensorBatch>((s) => {
      for (let i = 0; i < steps; i++) s.next(big(i));
      s.complete();
    }),
    { ...options, model: whole },
  );
  const micro = tinySegmenter(C);
  const microEvents = await run(syntheticBatches(0, steps * 4, 2, 8, C), {
    ...options,
    model: micro,
    microBatchesPerStep: 4,
  });
  assert.is(batchEvents(microEvents).length, steps, 'one optimizer step per 4 micro-batches');
  const difference = maxAbsDifference(weightValues(whole), weightValues(micro));
  assert.ok(difference < 1e-5, `weights differ by ${difference}`);
  assert.ok(
    maxAbsDifference(weightValues(whole), weightValues(tinySegmenter(C))) > 1e-2,
    'training changed the weights',
  );
  batchEvents(wholeEvents).forEach((e, i) =>
    assert.ok(
      Math.abs(e.losses.total - batchEvents(microEvents)[i]!.losses.total) < 1e-5,
      'same step losses',
    ),
  );
});

test('abort writes a checkpoint; resuming from it ends with the weights of an uninterrupted run', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'segstream-train-'));
  try {
    const options = {
      numClasses: C,
      epochs: 2,
      stepsPerEpoch: 4,
      optimizer: { name: 'adam' as const, learningRate: 0.02 },
      schedule: { name: 'cosine' as const, totalSteps: 8 },
      validation: () => syntheticBatches(100, 102, 2, 8, C),
    };
    const straight = tinySegmenter(C);
    const straightEvents = await run(syntheticBatches(0, 8, 2, 8, C), { ...options, model: straight });

    const abortedController = new AbortController();
    const partial = await lastValueFrom(
      syntheticBatches(0, 8, 2, 8, C).pipe(
        train({
          ...options,
          model: tinySegmenter(C),
          checkpoint: { dir: join(dir, 'aborted') },
          signal: abortedController.signal,
        }),
        (source) =>
          new Observable<TrainingEvent>((s) =>
            source.subscribe({
              next: (e) => {
                s.next(e);
                if (e.type === 'batch' && e.globalStep === 5) abortedController.abort();
              },
              error: (e) => s.error(e),
              complete: () => s.complete(),
            }),
          ),
        toArray(),
      ),
    );
    const stopped = partial.at(-1)!;
    assert.is(stopped.type, 'stopped');
    assert.is(batchEvents(partial).length, 5, 'stopped at the batch boundary after step 5');
    const checkpoint = (await loadLatestCheckpoint(join(dir, 'aborted')))!;
    assert.ok(checkpoint, 'a checkpoint was written on abort');
    assert.equal(resumeSourcePosition(checkpoint.position), { epoch: 1, batch: 1 });
    assert.is(checkpoint.position.globalStep, 5);
    const resumedEvents = await run(syntheticBatches(4 + checkpoint.position.batchesDone, 8, 2, 8, C), {
      ...options,
      model: checkpoint.models.model!,
      resumeFrom: checkpoint,
    });
    assert.equal(
      batchEvents(resumedEvents).map((e) => e.globalStep),
      [6, 7, 8],
    );
    const difference = maxAbsDifference(weightValues(straight), weightValues(checkpoint.models.model!));
    assert.ok(difference < 1e-6, `resumed weights differ by ${difference}`);
    const [straightLast, resumedLast] = [
      epochEvents(straightEvents).at(-1)!,
      epochEvents(resumedEvents).at(-1)!,
    ];
    assert.ok(
      Math.abs(straightLast.trainLoss - resumedLast.trainLoss) < 1e-6,
      'the resumed epoch summary counts the batches before the interruption',
    );
    assert.equal(
      straightLast.train.perClass.map((c) => c.support),
      resumedLast.train.perClass.map((c) => c.support),
    );
    assert.ok(Math.abs(straightLast.validation!.meanIoU - resumedLast.validation!.meanIoU) < 1e-6);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("an epoch's seconds are its wall time from its first batch, validation included", async () => {
  const gapMs = 50;
  // Each batch reaches the trainer `gapMs` after the previous one was released.
  const slow = syntheticBatches(0, 6, 2, 8, C).pipe(
    concatMap((batch) => new Promise<TensorBatch>((resolve) => setTimeout(() => resolve(batch), gapMs))),
  );
  const started = performance.now();
  const events = await run(slow, {
    model: tinySegmenter(C),
    numClasses: C,
    epochs: 2,
    stepsPerEpoch: 3,
    validation: () => syntheticBatches(100, 102, 2, 8, C),
  });
  const elapsed = (performance.now() - started) / 1000;
  const epochs = epochEvents(events);
  assert.is(epochs.length, 2);
  for (const epoch of epochs) {
    assert.ok(epoch.validationSeconds! > 0, 'validation timed');
    // Two gaps between three batches, then validation; timers may fire a millisecond early.
    assert.ok(
      epoch.seconds >= (2 * (gapMs - 2)) / 1000 + epoch.validationSeconds!,
      `epoch ${epoch.epoch}: ${epoch.seconds} s, validation ${epoch.validationSeconds} s`,
    );
  }
  assert.ok(epochs[0]!.seconds + epochs[1]!.seconds <= elapsed, 'epochs fit in the run');
});

test("epochs follow the batches' epoch: one shortened by skipped input ends when the next epoch's first batch arrives", async () => {
  // Epoch 0 lost a batch to bad input (3 of stepsPerEpoch 4), epoch 1 is whole, epoch 2 lost two.
  const epochOf = [0, 0, 0, 1, 1, 1, 1, 2, 2];
  const tagged = syntheticBatches(0, epochOf.length, 2, 8, C).pipe(
    concatMap(async (batch, i) => Object.assign(batch, { epoch: epochOf[i] })),
  );
  const events = await run(tagged, { model: tinySegmenter(C), numClasses: C, epochs: 3, stepsPerEpoch: 4 });
  assert.equal(
    epochEvents(events).map((e) => [e.epoch, e.steps, e.globalStep]),
    [
      [0, 3, 3],
      [1, 4, 7],
      [2, 2, 9],
    ],
  );
  assert.equal(
    batchEvents(events).map((e) => e.epoch),
    epochOf,
  );
});

test('an unwritable checkpoint folder fails before the first step, naming the folder', async () => {
  const stats = { count: 0, maxOutstanding: 0 };
  const dir = await mkdtemp(join(tmpdir(), 'segstream-unwritable-'));
  // A folder inside a regular file can never be created, whoever runs the test.
  const blocked = join(dir, 'file', 'checkpoints');
  await writeFile(join(dir, 'file'), 'not a folder');
  try {
    await run(syntheticBatches(0, 3, 1, 8, C, stats), {
      model: tinySegmenter(C),
      numClasses: C,
      checkpoint: { dir: blocked },
    });
    assert.unreachable('should fail');
  } catch (error) {
    assert.ok(
      (error as Error).message.includes(`checkpoint folder ${blocked} is not writable`),
      (error as Error).message,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  assert.is(stats.count, 1, 'the queued batch was released, no more were pulled');
  assert.throws(
    () => train({ model: tinySegmenter(C), numClasses: C, microBatchesPerStep: 0 }),
    /microBatchesPerStep must be an integer >= 1, got 0/,
  );
});

test('Pix2Pix: discriminator updated every k-th step, generator every step, no leaks', async () => {
  const generator = buildPix2PixGenerator({ depth: 3, baseFilters: 4, numClasses: C, dropout: 0 });
  const discriminator = buildPatchGANDiscriminator({ baseFilters: 4, numClasses: C });
  const dBefore = weightValues(discriminator);
  const events = await run(syntheticBatches(0, 5, 1, 24, C), {
    model: generator,
    discriminator,
    numClasses: C,
    gan: { discriminatorEvery: 3, adversarialLoss: 'bce' },
  });
  const steps = batchEvents(events);
  assert.equal(
    steps.map((s) => s.losses.discriminator !== undefined),
    [true, false, false, true, false],
  );
  assert.ok(
    steps.every((s) => Number.isFinite(s.losses.adversarial!) && Number.isFinite(s.losses.segmentation!)),
  );
  assert.ok(maxAbsDifference(dBefore, weightValues(discriminator)) > 0, 'discriminator trained');
  assert.equal(new Set(steps.slice(4).map((s) => s.tensorsAlive)).size, 1);
  assert.is(steps[4]!.tensorsAlive, steps[1]!.tensorsAlive + 0, 'no growth between generator-only steps');
});

test.run();
