import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { filter, lastValueFrom, take, tap, toArray } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { xbdClassMap } from '../src/labels/classMap.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { prepareTrainingRun, type TrainPipelineOptions } from '../src/pipelines/trainPipeline.js';
import type { MetricEvent } from '../src/sinks/sinkEvents.js';
import { loadBestCheckpoint } from '../src/training/checkpoint.js';
import type { BatchMetricsEvent, EpochSummaryEvent } from '../src/training/events.js';
import { writeXbdPairs } from './helpers/data.js';
import { weightValues } from './train-fixtures.js';

const PAIRS = 2; // 1 for training (64 tiles of 128 px an epoch: 6 steps of 12, the last of 4), 1 for validation
const STEPS_PER_EPOCH = 6;
const EPOCHS = 2;
const STOP_AFTER = 8; // epoch 1, after its second step

/** The largest difference between two models' weights relative to the largest weight. */
function relativeDifference(a: number[][], b: number[][]): number {
  let difference = 0;
  let largest = 0;
  a.forEach((values, i) =>
    values.forEach((value, j) => {
      difference = Math.max(difference, Math.abs(value - b[i]![j]!));
      largest = Math.max(largest, Math.abs(value));
    }),
  );
  return difference / largest;
}

/** A run of a 4-filter UNet of depth 2 on the xBD-format pairs in `root`, seed 5, half of them for validation. */
const smallUNetRun = (root: string): TrainPipelineOptions => ({
  arch: 'unet',
  imagesDir: join(root, 'images'),
  labelsDir: join(root, 'labels'),
  classMap: xbdClassMap(),
  readMask: readLabelMask,
  tileSize: 128,
  seed: 5,
  splitRatios: [0.5, 0.5, 0],
  baseFilters: 4,
  depth: 2,
  samples: false,
});

const batchEvents = (events: MetricEvent[]) =>
  events.filter((e): e is BatchMetricsEvent => e.type === 'batch');
const epochEvents = (events: MetricEvent[]) =>
  events.filter((e): e is EpochSummaryEvent => e.type === 'epoch');

test('--draw-seed moves the batches alone: the split and initial weights stay those of --seed', async () => {
  await selectBackend({ backend: 'wasm' });
  const root = await mkdtemp(join(tmpdir(), 'segstream-draw-seed-'));
  try {
    await writeXbdPairs(root, 4);
    const options: TrainPipelineOptions = { ...smallUNetRun(root), batchSize: 8 };
    const tensorsBefore = tf.memory().numTensors;
    const runs = {
      seed: await prepareTrainingRun(options),
      sameDraws: await prepareTrainingRun({ ...options, drawSeed: 5 }),
      otherDraws: await prepareTrainingRun({ ...options, drawSeed: 6 }),
      otherSeed: await prepareTrainingRun({ ...options, seed: 6 }),
    };
    const ids = (run: typeof runs.seed) => run.splits.train.map((p) => p.id);
    assert.equal(ids(runs.otherDraws), ids(runs.seed), 'the split of --seed');
    const start = weightValues(runs.seed.model);
    assert.equal(weightValues(runs.otherDraws.model), start, 'the initial weights of --seed');
    assert.not.equal(weightValues(runs.otherSeed.model), start, 'another --seed starts elsewhere');
    // A step's loss is taken before its update: from equal weights, equal losses mean equal batches.
    const firstLosses = (run: typeof runs.seed) =>
      lastValueFrom(
        run.events$.pipe(
          filter((e): e is BatchMetricsEvent => e.type === 'batch'),
          take(2),
          toArray(),
        ),
      ).then((events) => events.map((e) => e.losses.total));
    const seedLosses = await firstLosses(runs.seed);
    assert.equal(await firstLosses(runs.sameDraws), seedLosses, 'drawSeed = seed draws as the default');
    const otherLosses = await firstLosses(runs.otherDraws);
    otherLosses.forEach((loss, i) =>
      assert.ok(Math.abs(loss - seedLosses[i]!) > 1e-6, `step ${i + 1}: ${loss} vs ${seedLosses[i]}`),
    );
    for (const run of Object.values(runs)) run.model.dispose();
    assert.is(tf.memory().numTensors, tensorsBefore, 'no tensor left behind');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('a run stopped mid-epoch and resumed through the pipeline ends as the uninterrupted run: same steps, batches and weights; a completed run goes on only when given more epochs', async () => {
  // wasm, single-threaded (the test runner's default): as deterministic as cpu, many times faster at training.
  await selectBackend({ backend: 'wasm' });
  const root = await mkdtemp(join(tmpdir(), 'segstream-resume-pipeline-'));
  try {
    await writeXbdPairs(root, PAIRS);
    const options: TrainPipelineOptions = {
      ...smallUNetRun(root),
      batchSize: 12,
      epochs: EPOCHS,
      shuffleBuffer: 24,
      augment: true,
      checkpointEverySteps: 1,
    };
    const tensorsBefore = tf.memory().numTensors;
    const started = performance.now();

    // The seed also fixes the initial weights, so both runs start alike.
    const straight = await prepareTrainingRun({ ...options, checkpointDir: join(root, 'straight') });
    assert.is(straight.stepsPerEpoch, STEPS_PER_EPOCH);
    const straightEvents = await lastValueFrom(straight.events$.pipe(toArray()));

    const stop = new AbortController();
    const interrupted = await prepareTrainingRun({
      ...options,
      checkpointDir: join(root, 'interrupted'),
      signal: stop.signal,
    });
    const beforeStop = await lastValueFrom(
      interrupted.events$.pipe(
        tap((event) => event.type === 'batch' && event.globalStep === STOP_AFTER && stop.abort()),
        toArray(),
      ),
    );
    assert.is(beforeStop.at(-1)!.type, 'stopped');
    assert.is(batchEvents(beforeStop).length, STOP_AFTER, 'stopped at the batch boundary');

    const resumed = await prepareTrainingRun({
      ...options,
      checkpointDir: join(root, 'interrupted'),
      resume: true,
    });
    assert.equal(resumed.start, { epoch: 1, batch: STOP_AFTER - STEPS_PER_EPOCH });
    const afterResume = await lastValueFrom(resumed.events$.pipe(toArray()));
    console.log(
      `  ${EPOCHS * STEPS_PER_EPOCH} steps uninterrupted, then ${STOP_AFTER} + ${EPOCHS * STEPS_PER_EPOCH - STOP_AFTER} stopped and resumed, checkpoint every step: ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );

    const straightSteps = batchEvents(straightEvents);
    assert.is(straightSteps.length, EPOCHS * STEPS_PER_EPOCH);
    const resumedSteps = batchEvents(afterResume);
    assert.equal(
      resumedSteps.map((e) => e.globalStep),
      straightSteps.slice(STOP_AFTER).map((e) => e.globalStep),
      'the same optimizer steps',
    );
    // A step's loss is taken before its update, on its batch: equal losses mean the same batches in the same order.
    resumedSteps.forEach((event, i) => {
      const expected = straightSteps[STOP_AFTER + i]!.losses.total;
      assert.ok(
        Math.abs(event.losses.total - expected) <= 1e-5 * Math.abs(expected),
        `step ${event.globalStep}: loss ${event.losses.total} vs ${expected} uninterrupted`,
      );
    });
    const difference = relativeDifference(weightValues(straight.model), weightValues(resumed.model));
    assert.ok(difference < 1e-5, `final weights differ by ${difference} (relative)`);
    assert.ok(
      relativeDifference(weightValues(straight.model), weightValues(interrupted.model)) > 1e-3,
      'the steps after the stop changed the weights',
    );
    const [straightLast, resumedLast] = [
      epochEvents(straightEvents).at(-1)!,
      epochEvents(afterResume).at(-1)!,
    ];
    assert.ok(
      Math.abs(straightLast.trainLoss - resumedLast.trainLoss) <= 1e-5 * straightLast.trainLoss,
      'the resumed epoch summary counts the same batches',
    );
    for (const epoch of [...epochEvents(straightEvents), ...epochEvents(afterResume)]) {
      assert.ok(
        epoch.validationSeconds! > 0 && epoch.seconds > epoch.validationSeconds!,
        `epoch ${epoch.epoch}: ${epoch.seconds} s, validation ${epoch.validationSeconds} s`,
      );
    }

    // Each epoch whose validation mean IoU is the best so far marks its checkpoint best.
    const bestEpoch = epochEvents(straightEvents).at(-1)!.best!.epoch;
    const best = (await loadBestCheckpoint(join(root, 'straight')))!;
    assert.is(best.position.globalStep, (bestEpoch + 1) * STEPS_PER_EPOCH, `best epoch ${bestEpoch}`);
    best.models.model!.dispose();
    for (const { tensor } of best.optimizerWeights.model!) tensor.dispose();

    // A completed run resumed with as many epochs trains nothing; with one more, it trains that epoch.
    const again = await prepareTrainingRun({
      ...options,
      checkpointDir: join(root, 'straight'),
      resume: true,
    });
    assert.equal(
      batchEvents(await lastValueFrom(again.events$.pipe(toArray()))),
      [],
      'nothing left to train',
    );
    const longer = await prepareTrainingRun({
      ...options,
      epochs: EPOCHS + 1,
      checkpointDir: join(root, 'straight'),
      resume: true,
    });
    assert.equal(longer.start, { epoch: EPOCHS, batch: 0 });
    const extraEvents = await lastValueFrom(longer.events$.pipe(toArray()));
    const firstExtra = EPOCHS * STEPS_PER_EPOCH + 1;
    assert.equal(
      batchEvents(extraEvents).map((e) => e.globalStep),
      Array.from({ length: STEPS_PER_EPOCH }, (_, i) => firstExtra + i),
    );
    assert.equal(
      epochEvents(extraEvents).map((e) => e.epoch),
      [EPOCHS],
    );

    for (const run of [straight, interrupted, resumed, again, longer]) run.model.dispose();
    assert.is(tf.memory().numTensors, tensorsBefore, 'no tensor left behind by three runs');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test.run();
