// npm run bench:train: training and forward speed of the three architectures on the fallback backends, and
// the UNet against the PyTorch peer (../shared/bench/ref_unet_torch.py) measured in the same run.
// Options: --with-cpu also times one cpu step of the UNet at 256x256 batch 1 (minutes).
import { machineLine, measureInChild, torchUNetPeer } from './common.js';

const withCpu = process.argv.includes('--with-cpu');

interface Measurement {
  trainImagesPerSecond: number;
  forwardImagesPerSecond: number;
  stepsPerSecond: number;
  summary: string;
}

function measure(
  model: string,
  backend: string,
  threads: number,
  batch: number,
  size: number,
  steps: number,
): Measurement {
  return measureInChild<Measurement>('trainStep.js', [model, backend, threads, batch, size, steps]);
}

const fmt = (v: number) => v.toFixed(3);
console.log(`${machineLine()}; UNet 16-256 BatchNorm, 256x256, batch 4, 5 classes, Adam`);
// Steps timed on each side (after a warm-up step): this machine's speed drifts by tens of percent within
// minutes, and three steps were too few to average it out.
const UNET_STEPS = 8;
for (const threads of [1, 2]) {
  const peerResult = torchUNetPeer(threads, UNET_STEPS);
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
if (withCpu) {
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
