import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { InputError } from '../src/errors.js';
import { sparseCrossEntropy } from '../src/losses/segmentationLosses.js';
import { ConfusionMatrix } from '../src/metrics/confusionMatrix.js';
import { buildNetworks } from '../src/models/buildNetworks.js';
import type { TrainingPosition } from '../src/training/checkpoint.js';
import type { EpochSummaryEvent } from '../src/training/events.js';
import { LearningRateScheduleListener } from '../src/training/listeners/learningRateSchedule.js';
import { RunMonitor } from '../src/training/listeners/runMonitor.js';
import { buildOptimizer, getLearningRate } from '../src/training/optimizers.js';
import { createSchedule } from '../src/training/schedules.js';
import { SupervisedStep } from '../src/training/steps/supervisedStep.js';
import { checkTrainerOptions } from '../src/training/trainerOptions.js';
import { SeededRandom } from '../src/util/seededRandom.js';
import { syntheticBatch, tinySegmenter } from './train-fixtures.js';

await selectBackend({ backend: 'cpu' });

function startPosition(): TrainingPosition {
  const schedule = createSchedule(undefined, 1).state();
  return {
    epoch: 0,
    step: 0,
    batchesDone: 0,
    globalStep: 0,
    seed: 0,
    best: null,
    epochsWithoutImprovement: 0,
    schedule,
    learningRate: 1,
    finished: false,
    running: { counts: [], lossSum: 0, images: 0 },
  };
}

/** An epoch summary with these losses (training metrics from an empty matrix). */
function summary(epoch: number, trainLoss: number, validationLoss?: number): EpochSummaryEvent {
  const train = new ConfusionMatrix(2, 255).metrics();
  return {
    type: 'epoch',
    epoch,
    steps: 1,
    globalStep: epoch + 1,
    trainLoss,
    train,
    learningRate: 1,
    seconds: 0,
    ...(validationLoss !== undefined ? { validationLoss } : {}),
  };
}

test('RunMonitor keeps the best epoch of a minimised loss, counts epochs without an improvement beyond minDelta, and ends the run after patience', () => {
  const monitor = new RunMonitor('trainLoss', 0.05, 2);
  const position = startPosition();
  const seen = [1.0, 0.8, 0.78, 0.9].map((loss, epoch) => {
    const epochSummary = summary(epoch, loss);
    position.epoch = epoch;
    monitor.epochEnding(epochSummary, position);
    return epochSummary;
  });
  assert.equal(
    seen.map((s) => s.best),
    [0, 1, 1, 1].map((epoch) => ({ metric: 'trainLoss', value: -[1.0, 0.8][epoch]!, epoch })),
  );
  // 0.78 is better than 0.8 by less than minDelta: not an improvement.
  assert.equal(
    seen.map((s) => s.earlyStopped ?? false),
    [false, false, false, true],
  );
  assert.is(position.epochsWithoutImprovement, 2);
  assert.ok(monitor.patienceExhausted(position));
  assert.not.ok(new RunMonitor('trainLoss').patienceExhausted(position), 'no patience: never exhausted');
});

test('RunMonitor leaves the best alone when the summary lacks the metric', () => {
  const monitor = new RunMonitor('validationLoss', 0, 1);
  const position = startPosition();
  const epochSummary = summary(0, 1);
  monitor.epochEnding(epochSummary, position);
  assert.is(position.best, null);
  assert.is(epochSummary.best, undefined);
  assert.is(epochSummary.earlyStopped, undefined);
});

test('the schedule listener sets the model rate and the other optimizers in proportion, feeds plateaus and resumes the plateau state', () => {
  const model = buildOptimizer({ name: 'adam', learningRate: 0.1 });
  const discriminator = buildOptimizer({ name: 'sgd', learningRate: 0.02 });
  const config = { name: 'reduceOnPlateau', factor: 0.5, patience: 0 } as const;
  const listener = new LearningRateScheduleListener(
    createSchedule(config, 0.1),
    model,
    0.1,
    [{ optimizer: discriminator, baseRate: 0.02 }],
    'trainLoss',
  );
  const position = startPosition();
  listener.start(position, false);
  listener.stepStarting(position);
  assert.is(getLearningRate(model), 0.1);
  assert.ok(Math.abs(getLearningRate(discriminator) - 0.02) < 1e-12);
  listener.epochEnding(summary(0, 1), position);
  listener.epochEnding(summary(1, 2), position);
  assert.is(position.schedule.scale, 0.5, 'a worse epoch with patience 0 halves the rate');
  listener.stepStarting(position);
  assert.is(position.learningRate, 0.05);
  assert.is(getLearningRate(model), 0.05);
  assert.ok(Math.abs(getLearningRate(discriminator) - 0.01) < 1e-12);

  const resumed = new LearningRateScheduleListener(createSchedule(config, 0.1), model, 0.1, [], 'trainLoss');
  resumed.start(structuredClone(position), true);
  resumed.stepStarting(position);
  assert.is(getLearningRate(model), 0.05, 'the plateau scale comes back from the position');
  model.dispose();
  discriminator.dispose();
});

test('checkTrainerOptions rejects bad options by name, including loss, optimizer and schedule configs', () => {
  const model = tinySegmenter(3);
  const options = { model, numClasses: 3 };
  checkTrainerOptions(options);
  assert.throws(
    () => checkTrainerOptions({ ...options, model: {} as tf.LayersModel }),
    /options.model must be a tf.LayersModel/,
  );
  assert.throws(
    () => checkTrainerOptions({ ...options, epochs: 1.5 }),
    /epochs must be an integer >= 1, got 1.5/,
  );
  assert.throws(
    () => checkTrainerOptions({ ...options, discriminator: model, microBatchesPerStep: 2 }),
    /microBatchesPerStep > 1 is not supported with a discriminator/,
  );
  assert.throws(
    () => checkTrainerOptions({ ...options, monitor: 'validationLoss' }),
    /monitor validationLoss needs options.validation/,
  );
  assert.throws(
    () => checkTrainerOptions({ ...options, optimizer: { name: 'sgd', momentum: 1.5 } }),
    /momentum out of range, got 1.5/,
  );
  assert.throws(
    () =>
      checkTrainerOptions({
        ...options,
        discriminator: model,
        discriminatorOptimizer: { name: 'adam', beta1: 1 },
      }),
    /beta1 out of range, got 1/,
  );
  assert.throws(
    () => checkTrainerOptions({ ...options, schedule: { name: 'cosine', totalSteps: 0 } }),
    /totalSteps must be a finite number > 0, got 0/,
  );
  assert.throws(
    () => checkTrainerOptions({ ...options, loss: { name: 'hinge' } as never }),
    (error: Error) => error instanceof InputError && /unknown loss "hinge"/.test(error.message),
  );
});

test('a step of micro-batches dropped part-way leaves the batch-norm statistics as the step found them', async () => {
  const { model } = buildNetworks('unet', { numClasses: 3, seed: 1, unet: { baseFilters: 2, depth: 1 } });
  const optimizer = buildOptimizer({ name: 'adam' });
  const step = new SupervisedStep(
    model,
    sparseCrossEntropy({ numClasses: 3, ignoreValue: 255 }),
    optimizer,
    2,
  );
  const counts = new ConfusionMatrix(3, 255);
  const values = (weights: tf.LayerVariable[]) => weights.map((w) => Array.from(w.read().dataSync()));
  const statistics = () => values(model.nonTrainableWeights);
  const before = statistics();
  const trainable = values(model.trainableWeights);
  const tensorsBefore = tf.memory().numTensors;
  const batch = syntheticBatch(0, 2, 8, 3);
  assert.is(
    await step.consume(batch, 0, counts, new SeededRandom(0)),
    null,
    'the first of two micro-batches completes no step',
  );
  assert.not.equal(statistics(), before, 'a micro-batch moves the statistics');
  step.drop();
  assert.equal(statistics(), before);
  assert.equal(values(model.trainableWeights), trainable, 'no optimizer step was taken');
  tf.dispose([batch.images, batch.labels]);
  assert.is(tf.memory().numTensors, tensorsBefore, 'the snapshot is freed');
  step.dispose();
  optimizer.dispose();
  model.dispose();
});

test.run();
