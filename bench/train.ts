// npm run bench:train: training and forward speed of the three architectures, and the UNet against the
// PyTorch peer (../shared/bench/ref_unet_torch.py) measured in the same run.
// Options:
//   --with-cpu          also times one cpu step of the UNet at 256x256 batch 1 (minutes).
//   --backend NAME      wasm (default): the CPU bench below, 1 and 2 threads. Any other backend (webgpu on
//                       the GPU machine) runs the three models at each --batch size against the peer on CUDA
//                       where PyTorch sees a GPU (the GPU pack's run.sh does this); on webgpu the UNet once
//                       more with TF.js's matrix-product input gradients.
//   --batch 16,64       batch sizes of that sweep; --steps 8 timed steps each; --size 256 tile size.
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { lastErrorLine, machineLine, measureInChild, torchUNetPeer } from './common.js';

const { values: options } = parseArgs({
  options: {
    'with-cpu': { type: 'boolean', default: false },
    backend: { type: 'string', default: 'wasm' },
    batch: { type: 'string', default: '16,64' },
    steps: { type: 'string', default: '8' },
    size: { type: 'string', default: '256' },
  },
});

/** A positive whole number given for `option`, or an error naming the option and the value. */
function positiveInteger(option: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`bench/train: --${option} ${text} is not a whole number >= 1`);
  return value;
}

interface Measurement {
  backend: string;
  trainImagesPerSecond: number;
  forwardImagesPerSecond: number;
  stepsPerSecond: number;
  stepMilliseconds: number;
  encodeMilliseconds: number;
  programsPerStep?: number;
  /** nvidia-smi's mean utilization (percent) over the timed training steps, where the machine has nvidia-smi. */
  gpuBusyTraining?: number;
  summary: string;
}

function measure(
  model: string,
  backend: string,
  threads: number,
  batch: number,
  size: number,
  steps: number,
  tfjsFlags = '',
): Measurement {
  return measureInChild<Measurement>('trainStep.js', [model, backend, threads, batch, size, steps], {
    BENCH_TFJS_FLAGS: tfjsFlags,
  });
}

const fmt = (v: number) => v.toFixed(3);

/** The CPU bench: the UNet on wasm with 1 and 2 threads against the peer, then DeepLabV3+ and Pix2Pix. */
function cpuBench(): void {
  console.log(`${machineLine()}; UNet 16-256 BatchNorm, 256x256, batch 4, 5 classes, Adam`);
  // Steps timed on each side (after a warm-up step): this machine's speed drifts by tens of percent within
  // minutes, and three steps were too few to average it out.
  const UNET_STEPS = 8;
  for (const threads of [1, 2]) {
    const peerResult = torchUNetPeer({ threads, steps: UNET_STEPS, batch: 4, size: 256, device: 'cpu' });
    const unet = measure('unet', 'wasm', threads, 4, 256, UNET_STEPS);
    if (typeof peerResult === 'string') {
      console.log(peerResult);
      console.log(
        `unet wasm ${threads} thread(s): train ${fmt(unet.trainImagesPerSecond)} images/s, forward ${fmt(unet.forwardImagesPerSecond)} images/s`,
      );
    } else {
      console.log(
        `pytorch unet ${threads} thread(s): train ${fmt(peerResult.train)} images/s, forward ${fmt(peerResult.forward)} images/s`,
      );
      console.log(
        `unet wasm ${threads} thread(s) forward: ${fmt(unet.forwardImagesPerSecond)} images/s, ratio ${fmt(unet.forwardImagesPerSecond / peerResult.forward)}`,
      );
      console.log(
        `unet wasm ${threads} thread(s) train: ${fmt(unet.trainImagesPerSecond)} images/s, ratio ${fmt(unet.trainImagesPerSecond / peerResult.train)}`,
      );
    }
  }
  if (options['with-cpu']) {
    const cpu = measure('unet', 'cpu', 1, 1, 256, 1);
    console.log(
      `unet cpu (pure JS) batch 1: train ${fmt(cpu.trainImagesPerSecond)} images/s, forward ${fmt(cpu.forwardImagesPerSecond)} images/s`,
    );
  } else {
    console.log('unet cpu: skipped (one step takes minutes; run with --with-cpu)');
  }
  const deeplab = measure('deeplabv3plus', 'wasm', 2, 2, 256, 1);
  console.log(
    `deeplabv3plus resnet50 os16 wasm 2 threads batch 2: ${fmt(deeplab.stepsPerSecond)} train steps/s (${fmt(deeplab.trainImagesPerSecond)} images/s), forward ${fmt(deeplab.forwardImagesPerSecond)} images/s`,
  );
  const pix2pix = measure('pix2pix', 'wasm', 2, 2, 256, 1);
  console.log(
    `pix2pix (generator + PatchGAN) wasm 2 threads batch 2: ${fmt(pix2pix.stepsPerSecond)} train steps/s (${fmt(pix2pix.trainImagesPerSecond)} images/s), forward ${fmt(pix2pix.forwardImagesPerSecond)} images/s`,
  );
}

/** One model on `backend` at `batch`: its speeds, or the one line saying why the child failed (out of memory). */
function tryMeasure(
  model: string,
  backend: string,
  batch: number,
  size: number,
  steps: number,
  tfjsFlags = '',
): Measurement | string {
  try {
    return measure(model, backend, availableParallelism(), batch, size, steps, tfjsFlags);
  } catch (error) {
    return `failed (${lastErrorLine(error)})`;
  }
}

/** The GPU sweep: at each batch size, the PyTorch peer (CUDA where it has one), then the three models on `backend`. */
function deviceBench(backend: string, batches: readonly number[], size: number, steps: number): void {
  console.log(
    `${machineLine()}; ${size}x${size}, 5 classes, Adam, ${steps} timed steps after a warm-up step`,
  );
  // Where a step's time goes: a step cannot take less than its encoding, the CPU's part; the rest is the GPU's.
  const speeds = (m: Measurement) =>
    `train ${fmt(m.trainImagesPerSecond)} images/s, forward ${fmt(m.forwardImagesPerSecond)} images/s; a step ${m.stepMilliseconds.toFixed(1)} ms, ${m.encodeMilliseconds.toFixed(1)} ms of it encoding${m.programsPerStep === undefined ? '' : ` ${m.programsPerStep} programs`}${m.gpuBusyTraining === undefined ? '' : `; GPU busy ${m.gpuBusyTraining.toFixed(0)}% while training`}`;
  let backendNamed = false;
  for (const batch of batches) {
    const peer = torchUNetPeer({ threads: availableParallelism(), steps, batch, size, device: 'auto' });
    console.log(
      typeof peer === 'string'
        ? peer
        : `pytorch unet batch ${batch} on ${peer.device}: train ${fmt(peer.train)} images/s, forward ${fmt(peer.forward)} images/s`,
    );
    for (const [model, label] of [
      ['unet', 'unet 16-256 BatchNorm'],
      ['deeplabv3plus', 'deeplabv3plus resnet50 os16'],
      ['pix2pix', 'pix2pix (generator + PatchGAN)'],
    ] as const) {
      const result = tryMeasure(model, backend, batch, size, steps);
      if (typeof result === 'string') {
        console.log(`${label} ${backend} batch ${batch}: ${result}`);
        continue;
      }
      if (!backendNamed) console.log(result.summary);
      backendNamed = true;
      const ratios =
        model === 'unet' && typeof peer !== 'string'
          ? `, ratio train ${fmt(result.trainImagesPerSecond / peer.train)}, forward ${fmt(result.forwardImagesPerSecond / peer.forward)}`
          : '';
      console.log(`${label} ${result.backend} batch ${batch}: ${speeds(result)}${ratios}`);
    }
    // TF.js's webgpu input gradient (Conv2DBackpropInput, also the transposed convolutions) runs one thread an
    // input element unless told to use its matrix-product form; on lavapipe the default was 2.7x faster.
    if (backend === 'webgpu') {
      const flag = 'WEBGPU_USE_NAIVE_CONV2D_TRANSPOSE=false';
      const result = tryMeasure('unet', backend, batch, size, steps, flag);
      console.log(
        `unet 16-256 BatchNorm webgpu batch ${batch}, input gradients as matrix products (${flag}): ${typeof result === 'string' ? result : speeds(result)}`,
      );
    }
  }
}

if (options.backend === 'wasm') {
  cpuBench();
} else {
  deviceBench(
    options.backend,
    options.batch.split(',').map((text) => positiveInteger('batch', text)),
    positiveInteger('size', options.size),
    positiveInteger('steps', options.steps),
  );
}
