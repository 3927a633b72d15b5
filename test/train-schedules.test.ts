import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, toArray } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { train } from '../src/operators/train.js';
import type { BatchMetricsEvent, EpochSummaryEvent } from '../src/training/events.js';
import { buildOptimizer, getLearningRate, setLearningRate } from '../src/training/optimizers.js';
import { createSchedule } from '../src/training/schedules.js';
import { syntheticBatches, tinySegmenter } from './train-fixtures.js';

await selectBackend({ backend: 'cpu' });
const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

test('step, cosine and poly schedules follow their formulas', () => {
  const step = createSchedule({ name: 'step', everyEpochs: 2, gamma: 0.5 }, 0.1);
  assert.equal(
    [0, 1, 2, 3, 4].map((e) => step.rateAt(e, 0)),
    [0.1, 0.1, 0.05, 0.05, 0.025],
  );
  const cosine = createSchedule({ name: 'cosine', totalSteps: 10, minLearningRate: 0.01 }, 0.1);
  close(cosine.rateAt(0, 0), 0.1, 'cosine start');
  close(cosine.rateAt(0, 5), 0.01 + 0.09 / 2, 'cosine middle');
  close(cosine.rateAt(0, 10), 0.01, 'cosine end');
  close(cosine.rateAt(0, 20), 0.01, 'cosine after the end');
  const poly = createSchedule({ name: 'poly', totalSteps: 100, power: 0.9 }, 0.01);
  close(poly.rateAt(0, 50), 0.01 * 0.5 ** 0.9, 'poly');
  assert.throws(
    () => createSchedule({ name: 'cosine', totalSteps: 0 }, 0.1),
    /totalSteps must be a finite number > 0, got 0/,
  );
});

test('reduce on plateau: scales after `patience` epochs without improvement; its state round-trips', () => {
  const plateau = createSchedule({ name: 'reduceOnPlateau', factor: 0.5, patience: 1, minDelta: 0.01 }, 0.1);
  for (const value of [0.5, 0.6, 0.605, 0.6]) plateau.epochEnded(value);
  close(plateau.rateAt(0, 0), 0.05, 'halved after two epochs without improvement');
  const copy = createSchedule({ name: 'reduceOnPlateau', factor: 0.5, patience: 1, minDelta: 0.01 }, 0.1);
  copy.restore(plateau.state());
  close(copy.rateAt(0, 0), 0.05, 'restored');
});

test('optimizers: learning rate changes reach Adam and SGD-momentum updates', () => {
  for (const config of [
    { name: 'adam' as const, learningRate: 0.1 },
    { name: 'sgd' as const, learningRate: 0.1, momentum: 0 },
  ]) {
    const optimizer = buildOptimizer(config);
    const variable = tf.variable(tf.scalar(1));
    setLearningRate(optimizer, 0.01);
    assert.is(getLearningRate(optimizer), 0.01);
    optimizer.applyGradients({ [variable.name]: tf.scalar(1) });
    // Adam's first step moves by lr; plain SGD by lr x gradient: both 0.01.
    assert.ok(Math.abs(variable.dataSync()[0]! - 0.99) < 1e-5, `${config.name}: ${variable.dataSync()[0]}`);
    variable.dispose();
    optimizer.dispose();
  }
  assert.throws(() => buildOptimizer({ name: 'sgd', momentum: 1.5 }), /momentum out of range, got 1.5/);
});

test('the trainer applies the schedule per step and early stopping ends the run', async () => {
  const events = await lastValueFrom(
    syntheticBatches(0, 40, 1, 8, 3).pipe(
      train({
        model: tinySegmenter(3),
        numClasses: 3,
        epochs: 10,
        stepsPerEpoch: 2,
        optimizer: { name: 'sgd', learningRate: 1e-9, momentum: 0 },
        schedule: { name: 'step', everyEpochs: 1, gamma: 0.5 },
        earlyStopping: { monitor: 'train.meanIoU', patience: 2, minDelta: 0.05 },
      }),
      toArray(),
    ),
  );
  const epochs = events.filter((e): e is EpochSummaryEvent => e.type === 'epoch');
  assert.is(epochs.length, 3, 'stopped after the first epoch plus 2 without improvement');
  assert.is(epochs.at(-1)!.earlyStopped, true);
  const rates = events.filter((e): e is BatchMetricsEvent => e.type === 'batch').map((e) => e.learningRate);
  assert.equal(rates, [1e-9, 1e-9, 5e-10, 5e-10, 2.5e-10, 2.5e-10]);
});

test.run();
