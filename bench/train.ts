// npm run bench:train: training and forward speed of the three architectures on the fallback backends, and
// the UNet against the PyTorch peer (../shared/bench/ref_unet_torch.py) measured in the same run.
// Options: --with-cpu also times one cpu step of the UNet at 256x256 batch 1 (minutes).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(here, '..', '..');
const peer = resolve(root, '..', 'shared', 'bench', 'ref_unet_torch.py');
const withCpu = process.argv.includes('--with-cpu');

interface Measurement { trainImagesPerSecond: number; forwardImagesPerSecond: number; stepsPerSecond: number; summary: string }

function measure(model: string, backend: string, threads: number, batch: number, size: number, steps: number): Measurement {
  const out = execFileSync(process.execPath, [resolve(here, 'trainStep.js'), model, backend, String(threads), String(batch), String(size), String(steps)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(out.trim().split('\n').pop()!) as Measurement;
}

function torchPeer(threads: number): { train: number; forward: number } | string {
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  try {
    const out = execFileSync(python, [peer, '--batch', '4', '--size', '256', '--classes', '5', '--threads', String(threads), '--steps', '3'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const match = out.match(/train ([\d.]+) images\/s, forward ([\d.]+) images\/s/);
    return match ? { train: Number(match[1]), forward: Number(match[2]) } : `unexpected peer output: ${out.trim()}`;
  } catch (error) {
    return `PyTorch peer not run (${String((error as { stderr?: string }).stderr ?? error).split('\n').filter(Boolean).pop()}); install with apt-get install -y python3-torch`;
  }
}

const fmt = (v: number) => v.toFixed(3);
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}; UNet 16-256 BatchNorm, 256x256, batch 4, 5 classes, Adam`);
for (const threads of [1, 2]) {
  const peerResult = torchPeer(threads);
  const unet = measure('unet', 'wasm', threads, 4, 256, 3);
  if (typeof peerResult === 'string') {
    console.log(peerResult);
    console.log(`unet wasm ${threads} thread(s): train ${fmt(unet.trainImagesPerSecond)} images/s, forward ${fmt(unet.forwardImagesPerSecond)} images/s`);
  } else {
    console.log(`pytorch unet ${threads} thread(s): train ${fmt(peerResult.train)} images/s, forward ${fmt(peerResult.forward)} images/s`);
    console.log(`unet wasm ${threads} thread(s) forward: ${fmt(unet.forwardImagesPerSecond)} images/s, ratio ${fmt(unet.forwardImagesPerSecond / peerResult.forward)}`);
    console.log(`unet wasm ${threads} thread(s) train: ${fmt(unet.trainImagesPerSecond)} images/s, ratio ${fmt(unet.trainImagesPerSecond / peerResult.train)}`);
  }
}
if (withCpu) {
  const cpu = measure('unet', 'cpu', 1, 1, 256, 1);
  console.log(`unet cpu (pure JS) batch 1: train ${fmt(cpu.trainImagesPerSecond)} images/s, forward ${fmt(cpu.forwardImagesPerSecond)} images/s`);
} else {
  console.log('unet cpu: skipped (one step takes minutes; run with --with-cpu)');
}
const deeplab = measure('deeplabv3plus', 'wasm', 2, 2, 256, 1);
console.log(`deeplabv3plus resnet50 os16 wasm 2 threads batch 2: ${fmt(deeplab.stepsPerSecond)} train steps/s (${fmt(deeplab.trainImagesPerSecond)} images/s), forward ${fmt(deeplab.forwardImagesPerSecond)} images/s`);
const pix2pix = measure('pix2pix', 'wasm', 2, 2, 256, 1);
console.log(`pix2pix (generator + PatchGAN) wasm 2 threads batch 2: ${fmt(pix2pix.stepsPerSecond)} train steps/s (${fmt(pix2pix.trainImagesPerSecond)} images/s), forward ${fmt(pix2pix.forwardImagesPerSecond)} images/s`);
