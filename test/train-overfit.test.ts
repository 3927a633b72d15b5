import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, Observable, toArray } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type BackendName, selectBackend } from '../src/backend/selectBackend.js';
import { xbdClassMap } from '../src/labels/classMap.js';
import { type ArchitectureName, buildNetworks, type NetworksOptions } from '../src/models/buildNetworks.js';
import { type TrainOptions, train } from '../src/operators/train.js';
import type { BatchMetricsEvent, EpochSummaryEvent } from '../src/training/events.js';
import type { TensorBatch } from '../src/types.js';
import { syntheticXbd } from './helpers/data.js';
import { xbdTiles } from './train-fixtures.js';

// wasm with the project's training kernels (about 70x faster than the pure-JS cpu backend here), unless
// SEGSTREAM_BACKEND names another.
const backend = await selectBackend({
  backend: (process.env.SEGSTREAM_BACKEND as BackendName | undefined) ?? 'wasm',
});
console.log(backend.summary);
const classMap = xbdClassMap();
const SIZE = 32;

// Four 1024x1024 images crowded with buildings, so that background and every damage class occur.
const xbd = await syntheticXbd(4, { buildingsPerImage: 40 });
const tiles = await xbdTiles(xbd.root, xbd.labels, SIZE, classMap.ids);

/** The same batch of tiles `steps` times; the next is created only when the previous was released. */
function repeatedBatch(steps: number): Observable<TensorBatch> {
  return new Observable((subscriber) => {
    let sent = 0;
    const emitNext = () => {
      if (subscriber.closed) return;
      if (sent++ === steps) return subscriber.complete();
      const images = tf.tensor4d(tiles.images, [tiles.count, SIZE, SIZE, 3]);
      const labels = tf.tensor3d(tiles.labels, [tiles.count, SIZE, SIZE], 'int32');
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        tf.dispose([images, labels]);
        queueMicrotask(emitNext);
      };
      subscriber.next({ images, labels, origins: [], release });
    };
    emitNext();
  });
}

// Steps per architecture: short in the suite; SEGSTREAM_OVERFIT_STEPS=40 for the longer run in the report.
const STEPS = Number(process.env.SEGSTREAM_OVERFIT_STEPS ?? 0);

/** mIoU of always predicting the most frequent class, over the classes present: the chance level. */
function chanceMeanIoU(): number {
  const counts = new Map<number, number>();
  for (const v of tiles.labels) if (v !== 255) counts.set(v, (counts.get(v) ?? 0) + 1);
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  return Math.max(...counts.values()) / total / counts.size;
}

async function overfit(
  architecture: ArchitectureName,
  networkOptions: NetworksOptions,
  steps: number,
  options: Partial<TrainOptions> = {},
) {
  // Seeded weights, so that a run gives the same verdict every time; each net overfits from any of seeds 1-4
  // (SEGSTREAM_OVERFIT_SEED to try others).
  const networks = buildNetworks(architecture, {
    numClasses: 5,
    seed: Number(process.env.SEGSTREAM_OVERFIT_SEED ?? 1),
    ...networkOptions,
  });
  const started = Date.now();
  const events = await lastValueFrom(
    repeatedBatch(steps).pipe(
      train({
        model: networks.model,
        ...(networks.discriminator ? { discriminator: networks.discriminator } : {}),
        numClasses: 5,
        classNames: classMap.names,
        stepsPerEpoch: 1,
        epochs: steps,
        ...options,
      }),
      toArray(),
    ),
  );
  const epochs = events.filter((e): e is EpochSummaryEvent => e.type === 'epoch');
  const steps$ = events.filter((e): e is BatchMetricsEvent => e.type === 'batch');
  const first = epochs[0]!;
  const last = epochs.at(-1)!;
  console.log(
    `${architecture}: ${steps} steps in ${((Date.now() - started) / 1000).toFixed(1)} s, loss ${first.trainLoss.toFixed(3)} -> ${last.trainLoss.toFixed(3)}, train mIoU ${first.train.meanIoU.toFixed(3)} -> ${last.train.meanIoU.toFixed(3)} (chance ${chanceMeanIoU().toFixed(3)})`,
  );
  assert.equal(new Set(steps$.slice(2).map((s) => s.tensorsAlive)).size, 1, 'no tensor growth across steps');
  networks.model.dispose();
  networks.discriminator?.dispose();
  return { first, last };
}

test('the tiles hold background and every damage class', () => {
  const present = new Set(tiles.labels);
  assert.ok(
    [0, 1, 2, 3, 4].every((id) => present.has(id)),
    `classes present: ${[...present]}`,
  );
});

test('UNet overfits four xBD-like tiles: loss falls, training mIoU well above chance', async () => {
  const { first, last } = await overfit(
    'unet',
    { unet: { depth: 2, baseFilters: 8, batchNorm: true } },
    STEPS || 30,
    { optimizer: { name: 'adam', learningRate: 0.01 } },
  );
  assert.ok(last.trainLoss < 0.7 * first.trainLoss, `loss ${first.trainLoss} -> ${last.trainLoss}`);
  assert.ok(
    last.train.meanIoU > chanceMeanIoU() + 0.1,
    `mIoU ${last.train.meanIoU} vs chance ${chanceMeanIoU()}`,
  );
});

test('DeepLabV3+ (ResNet-18, narrow) overfits the same tiles', async () => {
  const { first, last } = await overfit(
    'deeplabv3plus',
    {
      deeplabv3plus: {
        backbone: 18,
        backboneWidth: 8,
        outputStride: 8,
        asppFilters: 16,
        lowLevelFilters: 8,
        decoderFilters: 16,
        asppRates: [1, 2, 3],
        dropout: 0,
      },
    },
    STEPS || 20,
    { optimizer: { name: 'adam', learningRate: 0.02 } },
  );
  assert.ok(last.trainLoss < 0.7 * first.trainLoss, `loss ${first.trainLoss} -> ${last.trainLoss}`);
  assert.ok(
    last.train.meanIoU > chanceMeanIoU() + 0.1,
    `mIoU ${last.train.meanIoU} vs chance ${chanceMeanIoU()}`,
  );
});

test('Pix2Pix (conditional GAN) generator overfits the same tiles', async () => {
  const { first, last } = await overfit(
    'pix2pix',
    { pix2pixGenerator: { depth: 3, baseFilters: 8, dropout: 0 }, pix2pixDiscriminator: { baseFilters: 8 } },
    STEPS || 30,
    {
      optimizer: { name: 'adam', learningRate: 5e-3, beta1: 0.5 },
      gan: {
        discriminatorEvery: 4,
        adversarialLoss: 'mse',
        segmentationLoss: 'loss',
        segmentationWeight: 100,
      },
    },
  );
  assert.ok(
    last.train.meanIoU > chanceMeanIoU() + 0.1,
    `mIoU ${last.train.meanIoU} vs chance ${chanceMeanIoU()}`,
  );
  assert.ok(first.train.meanIoU < last.train.meanIoU, 'mIoU rises');
});

test.run();
