import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import type { LossConfig } from '../src/losses/buildLoss.js';
import {
  pix2pixDepth,
  prepareTrainingRun,
  type TrainPipelineOptions,
} from '../src/pipelines/trainPipeline.js';
import type { BatchMetricsEvent, StepLosses } from '../src/training/events.js';
import { writeXbdPairs } from './helpers/data.js';
import { smallestUNetRun } from './helpers/runs.js';

/** The smallest run's settings as Pix2Pix with a 2-filter generator and a fixed seed (`depth` is the UNet's only). */
const preparePix2PixRun = (root: string, options: Partial<TrainPipelineOptions> = {}) =>
  prepareTrainingRun({
    ...smallestUNetRun(root, 256, 2),
    arch: 'pix2pix',
    baseFilters: 2,
    seed: 3,
    ...options,
  });

test("Pix2Pix's generator learns from the run's loss when one is given (else Pix2Pix's L1): the first step's segmentation term follows it", async () => {
  await selectBackend({ backend: 'wasm' });
  const root = await mkdtemp(join(tmpdir(), 'segstream-pix2pix-loss-'));
  try {
    await writeXbdPairs(root, 1);
    // Same seed, data and weights each time: only the segmentation term's definition differs.
    const firstStep = async (loss?: LossConfig): Promise<StepLosses> => {
      const run = await preparePix2PixRun(root, loss ? { loss } : {});
      const event = await firstValueFrom(
        run.events$.pipe(filter((e): e is BatchMetricsEvent => e.type === 'batch')),
      );
      return event.losses;
    };
    const l1 = await firstStep();
    const dice = await firstStep({ name: 'dice' });
    const crossEntropy = await firstStep({ name: 'sparseCrossEntropy' });
    // Dice lies in [0, 1]; cross-entropy of an untrained 5-class softmax is near ln 5; L1 on softmax vs one-hot is below 2 / 5.
    assert.ok(dice.segmentation! > 0 && dice.segmentation! <= 1, `dice ${dice.segmentation}`);
    assert.ok(
      Math.abs(crossEntropy.segmentation! - Math.log(5)) < 0.5,
      `cross-entropy ${crossEntropy.segmentation}`,
    );
    assert.ok(l1.segmentation! < 0.4, `L1 ${l1.segmentation}`);
    assert.ok(
      new Set([l1.segmentation, dice.segmentation, crossEntropy.segmentation]).size === 3,
      'three different terms',
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("Pix2Pix's discriminator takes its width from discriminatorFilters, apart from the generator's", async () => {
  await selectBackend({ backend: 'wasm' });
  const root = await mkdtemp(join(tmpdir(), 'segstream-pix2pix-width-'));
  try {
    await writeXbdPairs(root, 1);
    const firstLayerFilters = async (discriminatorFilters?: number) => {
      const run = await preparePix2PixRun(root, discriminatorFilters ? { discriminatorFilters } : {});
      const kernel = run.discriminator!.trainableWeights.find((w) => w.name.includes('kernel'))!;
      const filters = [run.model.trainableWeights[0]!.shape.at(-1), kernel.shape.at(-1)];
      run.model.dispose();
      run.discriminator!.dispose();
      return filters;
    };
    assert.equal(await firstLayerFilters(3), [2, 3]);
    assert.equal(await firstLayerFilters(), [2, 64], "Pix2Pix's 64 by default");
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test("Pix2Pix trains on tiles smaller than its unet_256: 128 px tiles get Pix2Pix's unet_128 (7 downsamplings)", async () => {
  await selectBackend({ backend: 'wasm' });
  const root = await mkdtemp(join(tmpdir(), 'segstream-pix2pix-128-'));
  try {
    await writeXbdPairs(root, 1);
    const run = await preparePix2PixRun(root, { tileSize: 128, discriminatorFilters: 2 });
    assert.equal(run.model.outputs[0]!.shape.slice(1), [null, null, 5]);
    const event = await firstValueFrom(
      run.events$.pipe(filter((e): e is BatchMetricsEvent => e.type === 'batch')),
    );
    assert.ok(Number.isFinite(event.losses.total), 'a step on 128 px tiles');
    assert.equal([pix2pixDepth(256), pix2pixDepth(128), pix2pixDepth(96), pix2pixDepth(1024)], [8, 7, 5, 8]);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('Pix2Pix runs with the same seed train the same steps: the dropout masks come from the seed too', async () => {
  await selectBackend({ backend: 'wasm' });
  const root = await mkdtemp(join(tmpdir(), 'segstream-pix2pix-seed-'));
  try {
    await writeXbdPairs(root, 1);
    const stepLosses = async () => {
      const run = await preparePix2PixRun(root, {
        tileSize: 128,
        discriminatorFilters: 2,
        discriminatorEvery: 2,
      });
      const events = await lastValueFrom(
        run.events$.pipe(
          filter((e): e is BatchMetricsEvent => e.type === 'batch'),
          take(3),
          toArray(),
        ),
      );
      return events.map((event) => event.losses);
    };
    const first = await stepLosses();
    assert.equal(first.length, 3);
    assert.equal(await stepLosses(), first);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test.run();
