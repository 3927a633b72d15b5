// Measures one model's training and forward speed in this process: `node dist/bench/trainStep.js MODEL
// BACKEND THREADS BATCH SIZE STEPS` prints one JSON line. bench/train.ts runs it once per configuration,
// since the wasm thread count is fixed per process.
import * as tf from '@tensorflow/tfjs';
import { type BackendName, selectBackend } from '../src/backend/selectBackend.js';
import { buildDeepLabV3Plus } from '../src/models/deeplabv3plus.js';
import { assertModelAcceptsSize } from '../src/models/modelInfo.js';
import { buildPatchGANDiscriminator, buildPix2PixGenerator } from '../src/models/pix2pix.js';
import { buildUNet } from '../src/models/unet.js';
import { buildOptimizer } from '../src/training/optimizers.js';
import { BENCH_UNET, sampleGpuUtilization } from './common.js';

const [model = 'unet', backend = 'wasm', threads = '2', batchText = '4', sizeText = '256', stepsText = '3'] =
  process.argv.slice(2);
const batch = Number(batchText);
const size = Number(sizeText);
const steps = Number(stepsText);
const classes = 5;
// Started first, while this process is small (see sampleGpuUtilization); only GPU backends are sampled.
const utilization = backend === 'wasm' || backend === 'cpu' ? undefined : sampleGpuUtilization();
const choice = await selectBackend({ backend: backend as BackendName, wasmThreads: Number(threads) });
// TF.js flags to try, as BENCH_TFJS_FLAGS=NAME=value,... (true, false or a number).
for (const setting of (process.env.BENCH_TFJS_FLAGS ?? '').split(',').filter(Boolean)) {
  const [name, text = ''] = setting.split('=');
  tf.env().set(name!, text === 'true' ? true : text === 'false' ? false : Number(text));
}

const images = tf.randomNormal([batch, size, size, 3]) as tf.Tensor4D;
const labels = tf
  .oneHot(tf.randomUniform([batch, size, size], 0, classes, 'int32') as tf.Tensor3D, classes)
  .cast('float32') as tf.Tensor4D;
const network =
  model === 'unet'
    ? buildUNet({ ...BENCH_UNET, numClasses: classes })
    : model === 'deeplabv3plus'
      ? buildDeepLabV3Plus({ backbone: 50, outputStride: 16, numClasses: classes })
      : buildPix2PixGenerator({ numClasses: classes });
const discriminator = model === 'pix2pix' ? buildPatchGANDiscriminator({ numClasses: classes }) : undefined;
// A size the model cannot take fails here, by name, rather than deep inside TF.js's first concatenation.
assertModelAcceptsSize(network, size, size, `--size ${size}`);
// segstream's Adam, as training builds it (one fused kernel a variable where the backend has it).
const optimizer = buildOptimizer({ name: 'adam', learningRate: model === 'pix2pix' ? 2e-4 : 1e-3 });
const discriminatorOptimizer = buildOptimizer({ name: 'adam', learningRate: 2e-4 });

/** One optimizer step; for Pix2Pix a generator step (adversarial + segmentation) and a discriminator step. */
function step(): void {
  tf.tidy(() => {
    optimizer.minimize(
      () => {
        const logits = network.apply(images, { training: true }) as tf.Tensor4D;
        const segmentation = tf.losses.softmaxCrossEntropy(labels, logits);
        if (!discriminator) return segmentation as tf.Scalar;
        const verdict = discriminator.apply([images, tf.softmax(logits)], { training: true }) as tf.Tensor;
        return segmentation
          .mul(100)
          .add(tf.losses.meanSquaredError(tf.onesLike(verdict), verdict)) as tf.Scalar;
      },
      false,
      network.trainableWeights.map((w) => w.read() as tf.Variable),
    );
    if (discriminator) {
      const fake = tf.softmax(network.apply(images) as tf.Tensor4D);
      discriminatorOptimizer.minimize(
        () => {
          const real = discriminator.apply([images, labels], { training: true }) as tf.Tensor;
          const generated = discriminator.apply([images, fake], { training: true }) as tf.Tensor;
          return tf.losses
            .meanSquaredError(tf.onesLike(real), real)
            .add(tf.losses.meanSquaredError(tf.zerosLike(generated), generated)) as tf.Scalar;
        },
        false,
        discriminator.trainableWeights.map((w) => w.read() as tf.Variable),
      );
    }
  });
}

/**
 * Waits for the work queued so far: GPU backends return from a step before the GPU has run it, and reading a
 * weight the step updated waits for all of it. (webgpu in Node has no dataSync: it needs an OffscreenCanvas.)
 */
async function finished(): Promise<void> {
  await network.trainableWeights[0]!.read().data();
}

/** One forward pass, with its output read back as a caller of predict would. */
async function forward(): Promise<void> {
  const output = tf.tidy(() => network.predict(images) as tf.Tensor);
  await output.data();
  output.dispose();
}

/**
 * The programs one step dispatches on webgpu, counted at the backend's one dispatch function (an internal of
 * tfjs-backend-webgpu 4.22); undefined on other backends. Each is encoded from JavaScript: their number
 * bounds how fast a GPU can be fed.
 */
async function programsPerStep(): Promise<number | undefined> {
  const backend = tf.backend() as unknown as { recordAndSubmit?: (...args: unknown[]) => unknown };
  const dispatch = backend.recordAndSubmit;
  if (choice.backend !== 'webgpu' || typeof dispatch !== 'function') return undefined;
  let programs = 0;
  backend.recordAndSubmit = (...args) => {
    programs += 1;
    return dispatch.apply(backend, args);
  };
  step();
  await finished();
  backend.recordAndSubmit = dispatch;
  return programs;
}

step(); // warm-up: kernel setup and first allocations
await finished();
const programs = await programsPerStep();
let encoding = 0;
const trainWindow = { start: Date.now(), end: 0 };
let started = performance.now();
for (let i = 0; i < steps; i++) {
  // On a GPU backend a step returns once its programs are encoded and submitted, not run.
  const encodeStarted = performance.now();
  step();
  encoding += performance.now() - encodeStarted;
}
await finished();
trainWindow.end = Date.now();
const stepMilliseconds = (performance.now() - started) / steps;
const trainImagesPerSecond = batch / (stepMilliseconds / 1000);
await forward();
started = performance.now();
// As many forward passes as training steps, as the PyTorch peer times.
for (let i = 0; i < steps; i++) await forward();
const forwardImagesPerSecond = (batch * steps) / ((performance.now() - started) / 1000);
const gpuBusyTraining = utilization?.meanBetween(trainWindow.start, trainWindow.end);
utilization?.stop();
console.log(
  JSON.stringify({
    model,
    backend: choice.backend,
    summary: choice.summary,
    threads: Number(threads),
    batch,
    size,
    steps,
    trainImagesPerSecond,
    forwardImagesPerSecond,
    stepsPerSecond: trainImagesPerSecond / batch,
    stepMilliseconds,
    encodeMilliseconds: encoding / steps,
    ...(programs === undefined ? {} : { programsPerStep: programs }),
    ...(gpuBusyTraining === undefined ? {} : { gpuBusyTraining }),
  }),
);
