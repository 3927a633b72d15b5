import * as tf from '@tensorflow/tfjs';
import { firstValueFrom, from, tap, toArray } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { buildNetworks } from '../src/models/buildNetworks.js';
import { buildUNet } from '../src/models/unet.js';
import { batchTiles } from '../src/operators/batchTiles.js';
import { toTensorBatch } from '../src/operators/toTensorBatch.js';
import { train } from '../src/operators/train.js';
import type { LabelledTile } from '../src/tiling/labelledTile.js';
import type { BatchMetricsEvent } from '../src/training/events.js';
import { Trainer } from '../src/training/trainer.js';
import type { TensorBatch } from '../src/types.js';
import { seededTensor } from './helpers/compare.js';
import { testUnlessMissing, webgpuMissing } from './helpers/skips.js';

// The trainer on webgpu as a run drives it: tiles -> toTensorBatch -> train(), with segstream's Adam, the
// fused batch-norm kernels and the confusion counts on the device, against the same run on the cpu backend.
const missing = await webgpuMissing();

const SIZE = 16;
const CLASSES = 3;

/** Seeded tiles with a quarter of their labels ignored (255). */
function tiles(count: number): LabelledTile[] {
  return Array.from({ length: count }, (_, i) => {
    const image = new Uint8Array(SIZE * SIZE * 3).map((_, p) => (p * 37 + i * 101) % 256);
    const mask = new Uint8Array(SIZE * SIZE).map((_, p) => ((p * 7 + i) % 4 === 3 ? 255 : (p + i) % CLASSES));
    return {
      image: { data: image, width: SIZE, height: SIZE, channels: 3 },
      mask: { data: mask, width: SIZE, height: SIZE },
      origin: { sourceId: `t${i}`, x: 0, y: 0, sourceWidth: SIZE, sourceHeight: SIZE },
    };
  });
}

/** The webgpu backend's record of where a tensor's values are (tfjs-backend-webgpu 4.22 internals). */
function onDevice(tensor: tf.Tensor): boolean {
  const backend = tf.backend() as unknown as { tensorMap: { get(id: object): { resource?: unknown } } };
  return backend.tensorMap.get(tensor.dataId).resource != null;
}

async function run(
  backend: 'cpu' | 'webgpu',
): Promise<{ events: BatchMetricsEvent[]; uploaded: boolean[]; leaked: number }> {
  await selectBackend({ backend });
  const before = tf.memory().numTensors;
  const model = buildUNet({ depth: 2, baseFilters: 4, numClasses: CLASSES });
  for (const [i, weight] of model.weights.entries()) {
    const value = tf.tidy(() => seededTensor(weight.shape as number[], 10 + i).mul(0.5));
    weight.write(value);
    value.dispose();
  }
  const uploaded: boolean[] = [];
  const events = await firstValueFrom(
    from(tiles(8)).pipe(
      batchTiles({ batchSize: 2 }),
      toTensorBatch(),
      tap((batch) => {
        if (backend === 'webgpu') uploaded.push(onDevice(batch.images) && onDevice(batch.labels));
      }),
      train({ model, numClasses: CLASSES, epochs: 1, optimizer: { name: 'adam', learningRate: 0.01 } }),
      toArray(),
    ),
  );
  model.dispose();
  const batchEvents = events.filter((e): e is BatchMetricsEvent => e.type === 'batch');
  return { events: batchEvents, uploaded, leaked: tf.memory().numTensors - before };
}

testUnlessMissing(
  'the train operator on webgpu, fed by toTensorBatch: batches on the GPU when made, the losses and running metrics of the cpu backend, no tensor left',
  missing,
  async () => {
    const cpu = await run('cpu');
    const webgpu = await run('webgpu');
    assert.equal(webgpu.uploaded, [true, true, true, true], 'each batch was uploaded as it was made');
    assert.is(webgpu.events.length, 4);
    assert.is(webgpu.leaked, 0, 'tensors left after the run and the model are disposed');
    webgpu.events.forEach((event, i) => {
      const reference = cpu.events[i]!;
      const loss = Math.abs(event.losses.total - reference.losses.total) / Math.abs(reference.losses.total);
      assert.ok(loss < 1e-4, `step ${i}: loss ${event.losses.total} against ${reference.losses.total}`);
      assert.equal(event.running.perClassIoU, reference.running.perClassIoU, `step ${i}: per-class IoU`);
      assert.is(event.running.pixelAccuracy, reference.running.pixelAccuracy, `step ${i}: pixel accuracy`);
    });
  },
);

/**
 * The order of one trainer step's programs ('p') and reads from the GPU ('r') on webgpu, seen at the backend's
 * dispatch and read functions (tfjs-backend-webgpu 4.22 internals).
 */
async function stepOrder(trainer: Trainer, batch: TensorBatch): Promise<string> {
  const backend = tf.backend() as unknown as Record<
    'recordAndSubmit' | 'read',
    (...args: unknown[]) => unknown
  >;
  const [dispatch, read] = [backend.recordAndSubmit, backend.read];
  let order = '';
  backend.recordAndSubmit = (...args) => {
    order += 'p';
    return dispatch.apply(backend, args);
  };
  backend.read = (...args) => {
    order += 'r';
    return read.apply(backend, args);
  };
  try {
    await trainer.consume(batch);
  } finally {
    backend.recordAndSubmit = dispatch;
    backend.read = read;
  }
  return order;
}

testUnlessMissing(
  'a trainer step on webgpu encodes all its programs, optimizer updates included, before it reads anything back (UNet, and Pix2Pix with its discriminator step)',
  missing,
  async () => {
    await selectBackend({ backend: 'webgpu' });
    const images = seededTensor([2, 32, 32, 3], 1) as tf.Tensor4D;
    const labels = seededTensor([2, 32, 32], 2, 4)
      .add(1)
      .clipByValue(0, CLASSES - 1)
      .cast('int32') as tf.Tensor3D;
    const batch: TensorBatch = { images, labels, origins: [], release: () => undefined };
    for (const architecture of ['unet', 'pix2pix'] as const) {
      const { model, discriminator } = buildNetworks(architecture, {
        numClasses: CLASSES,
        unet: { depth: 2, baseFilters: 4 },
        pix2pixGenerator: { depth: 5, baseFilters: 4, maxFilters: 8 },
        pix2pixDiscriminator: { baseFilters: 4, maxFilters: 8 },
      });
      // The discriminator trains at every step, the measured one included.
      const trainer = new Trainer({
        model,
        numClasses: CLASSES,
        ...(discriminator ? { discriminator, gan: { discriminatorEvery: 1 } } : {}),
      });
      await trainer.consume(batch); // the first step compiles the programs
      const order = await stepOrder(trainer, batch);
      assert.match(
        order,
        /^p{100,}r+$/,
        `${architecture}: ${order.replace(/p+/g, (run) => `p*${run.length}`)}`,
      );
      trainer.dispose();
      model.dispose();
      discriminator?.dispose();
    }
    tf.dispose([images, labels]);
  },
);

test.run();
