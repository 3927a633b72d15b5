import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { getModelInfo } from '../src/models/modelInfo.js';
import { buildUNet } from '../src/models/unet.js';
import {
  loadBestCheckpoint,
  loadCheckpoint,
  loadLatestCheckpoint,
  saveCheckpoint,
  type TrainingPosition,
} from '../src/training/checkpoint.js';
import { maxAbsDifference, weightValues } from './train-fixtures.js';

await selectBackend({ backend: 'cpu' });

const position = (globalStep: number): TrainingPosition => ({
  epoch: 1,
  step: 2,
  batchesDone: 4,
  globalStep,
  seed: 42,
  best: { value: 0.5, epoch: 0 },
  epochsWithoutImprovement: 1,
  schedule: { scale: 0.5, best: 0.5, epochsWithoutImprovement: 1 },
  learningRate: 0.01,
  finished: false,
  running: { counts: [1, 2, 3, 4], lossSum: 1.5, images: 4 },
});

/** A model and an Adam optimizer with slot variables after one real step. */
function trainedPair() {
  const model = buildUNet({ depth: 1, baseFilters: 2, numClasses: 2, batchNorm: true });
  const optimizer = tf.train.adam(0.01);
  const x = tf.randomUniform([1, 8, 8, 3]);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  optimizer.minimize(
    () => (model.apply(x, { training: true }) as tf.Tensor).square().mean() as tf.Scalar,
    false,
    variables,
  );
  x.dispose();
  return { model, optimizer };
}

test('round trip: topology, weights (batch-norm statistics too), metadata, optimizer slots and iterations, position', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'segstream-ckpt-'));
  try {
    const { model, optimizer } = trainedPair();
    const path = await saveCheckpoint(dir, {
      models: { model },
      optimizers: { model: optimizer },
      position: position(7),
    });
    assert.ok(path.endsWith('step-000000007'));
    assert.equal((await readdir(path)).sort(), [
      'model.json',
      'model.weights.bin',
      'optimizer-model.bin',
      'optimizer-model.json',
      'state.json',
    ]);
    const loaded = await loadCheckpoint(path);
    assert.equal(loaded.position, position(7));
    assert.is(maxAbsDifference(weightValues(model), weightValues(loaded.models.model!)), 0);
    assert.equal(getModelInfo(loaded.models.model!), getModelInfo(model));
    const input = tf.ones([1, 8, 8, 3]);
    const [a, b] = [model.predict(input) as tf.Tensor, loaded.models.model!.predict(input) as tf.Tensor];
    assert.is(tf.max(tf.abs(a.sub(b))).dataSync()[0], 0, 'same predictions');
    const saved = await optimizer.getWeights();
    assert.equal(
      loaded.optimizerWeights.model!.map((w) => w.name),
      saved.map((w) => w.name),
    );
    assert.ok(
      saved.length > 1 && loaded.optimizerWeights.model![0]!.tensor.dataSync()[0] === 1,
      'iterations = 1 and slot variables saved',
    );
    saved.forEach((w, i) =>
      assert.equal([...w.tensor.dataSync()], [...loaded.optimizerWeights.model![i]!.tensor.dataSync()]),
    );
    const restored = tf.train.adam(0.01);
    await restored.setWeights(loaded.optimizerWeights.model!);
    assert.is(restored.iterations, 1);
    tf.dispose([input, a, b]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a failed write leaves the previous checkpoint intact and no partial folder; old checkpoints are pruned', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'segstream-ckpt-'));
  try {
    const { model, optimizer } = trainedPair();
    for (const step of [1, 2, 3])
      await saveCheckpoint(
        dir,
        { models: { model }, optimizers: { model: optimizer }, position: position(step) },
        { keep: 2 },
      );
    assert.equal((await readdir(dir)).sort(), ['step-000000002', 'step-000000003']);
    // An optimizer whose state cannot be read stands for a write that fails half-way (disk full, I/O error).
    const failing = Object.assign(Object.create(optimizer) as tf.Optimizer, {
      getWeights: () => Promise.reject(new Error('ENOSPC: no space left on device')),
    });
    try {
      await saveCheckpoint(dir, { models: { model }, optimizers: { model: failing }, position: position(4) });
      assert.unreachable('should fail');
    } catch (error) {
      assert.match(
        (error as Error).message,
        /writing checkpoint .*step-000000004 failed \(previous checkpoints kept\): ENOSPC/,
      );
    }
    assert.equal((await readdir(dir)).sort(), ['step-000000002', 'step-000000003'], 'no partial folder left');
    assert.is((await loadLatestCheckpoint(dir))!.position.globalStep, 3);
    assert.is(await loadLatestCheckpoint(join(dir, 'missing')), null);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the checkpoint marked best outlives pruning until another is marked; loadBestCheckpoint reads it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'segstream-ckpt-best-'));
  try {
    const { model, optimizer } = trainedPair();
    const save = (step: number, best: boolean) =>
      saveCheckpoint(
        dir,
        { models: { model }, optimizers: { model: optimizer }, position: position(step) },
        { keep: 1, best },
      );
    assert.is(await loadBestCheckpoint(dir), null, 'none marked yet');
    for (const [step, best] of [
      [1, false],
      [2, true],
      [3, false],
      [4, false],
    ] as const)
      await save(step, best);
    assert.equal((await readdir(dir)).sort(), ['best.json', 'step-000000002', 'step-000000004']);
    const best = (await loadBestCheckpoint(dir))!;
    assert.is(best.position.globalStep, 2);
    best.models.model!.dispose();
    for (const { tensor } of best.optimizerWeights.model!) tensor.dispose();
    await save(5, true);
    assert.equal(
      (await readdir(dir)).sort(),
      ['best.json', 'step-000000005'],
      'the old best goes once another is marked',
    );
    // A damaged marker is an error naming it, not a silent fall-back that would let pruning take the best.
    await writeFile(join(dir, 'best.json'), '{"checkpoint": "step-5"}');
    await loadBestCheckpoint(dir).then(
      () => assert.unreachable('should fail'),
      (error: Error) => assert.match(error.message, /best\.json: names no checkpoint folder/),
    );
    await writeFile(join(dir, 'best.json'), '{"checkpoint":');
    await loadBestCheckpoint(dir).then(
      () => assert.unreachable('should fail'),
      (error: Error) => assert.match(error.message, /best\.json: is not JSON/),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an unreadable newest checkpoint is skipped for the one before and reported; when none can be read the error says why', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'segstream-ckpt-'));
  try {
    const { model, optimizer } = trainedPair();
    for (const step of [1, 2])
      await saveCheckpoint(
        dir,
        { models: { model }, optimizers: { model: optimizer }, position: position(step) },
        { keep: 2 },
      );
    await writeFile(join(dir, 'step-000000002', 'model.json'), '{"modelTopology": tru');
    const loaded = (await loadLatestCheckpoint(dir))!;
    assert.is(loaded.position.globalStep, 1);
    assert.is(loaded.skipped.length, 1);
    assert.ok(loaded.skipped[0]!.file.endsWith('step-000000002'), loaded.skipped[0]!.file);
    assert.match(loaded.skipped[0]!.problem, /model\.json|JSON/);
    await writeFile(join(dir, 'step-000000001', 'state.json'), 'not json');
    try {
      await loadLatestCheckpoint(dir);
      assert.unreachable('should fail');
    } catch (error) {
      assert.match(
        (error as Error).message,
        new RegExp(
          `^${dir}: none of its 2 checkpoints can be read; the newest: checkpoint .*step-000000002 cannot be read`,
        ),
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
