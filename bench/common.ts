// What the bench scripts share: where the data and the peers are, the machine line, the bench UNet, the xBD
// tile source, draining a stream of batches, the PyTorch peer, and measuring in a fresh child process.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lastValueFrom, type Observable, tap } from 'rxjs';
import { xbdClassMap } from '../src/labels/classMap.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import type { UNetOptions } from '../src/models/unet.js';
import { pairFiles } from '../src/sources/pairFiles.js';
import { tileBatches } from '../src/sources/tileBatches.js';
import type { LabelledPair, TensorBatch } from '../src/types.js';

/** The compiled scripts run from dist/bench/. */
export const benchDir = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(benchDir, '..', '..');
/** The xBD sample; SEGSTREAM_XBD_DIR names another (the GPU machine has no ../shared: the data is carried there). */
export const xbdDir = process.env.SEGSTREAM_XBD_DIR ?? resolve(root, '..', 'shared', 'data', 'xbd');
/** The peers' folder; SEGSTREAM_PEER_DIR names another (the GPU pack carries its own copy, having no ../shared). */
export const peerDir = process.env.SEGSTREAM_PEER_DIR ?? resolve(root, '..', 'shared', 'bench');
/** Debian's python3, which has python3-opencv and python3-torch, ahead of any other on the PATH. */
export const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** One line naming the machine, printed at the top of every benchmark. */
export function machineLine(): string {
  return `machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`;
}

/** The UNet of the PyTorch peer (../shared/bench/ref_unet_torch.py): widths 16-256, BatchNorm, 5 classes. */
export const BENCH_UNET: UNetOptions = { depth: 4, baseFilters: 16, batchNorm: true, numClasses: 5 };

/** Tiles of 256 px in an xBD image (1024x1024): what the ingest stages' tiles/s count per image. */
export const XBD_TILES_PER_IMAGE = 16;

export async function xbdPairs(): Promise<LabelledPair[]> {
  return (await pairFiles({ imagesDir: resolve(xbdDir, 'images'), labelsDir: resolve(xbdDir, 'labels') }))
    .pairs;
}

/** The streaming source as training uses it: xBD pairs to 256x256 tiles to batches of float32 tensors. */
export function xbdTileBatches(
  pairs: readonly LabelledPair[],
  batchSize: number,
  {
    epochs = 1,
    shuffleBuffer = 0,
    augment = false,
  }: { epochs?: number; shuffleBuffer?: number; augment?: boolean } = {},
): Observable<TensorBatch> {
  return tileBatches({
    pairs,
    classMap: xbdClassMap(),
    readMask: readLabelMask,
    tile: { size: 256 },
    batchSize,
    epochs,
    ...(shuffleBuffer > 0 ? { shuffle: { bufferSize: shuffleBuffer, seed: 0 } } : {}),
    // Flips and quarter turns, as `train` draws them by default.
    ...(augment ? { augment: { seed: 1 } } : {}),
  });
}

/** Runs a stream of batches to its end, releasing each as it comes; `onBatch` sees each batch first, with the seconds since the start. */
export async function drainBatches(
  batches: Observable<TensorBatch>,
  onBatch?: (batch: TensorBatch, seconds: number) => void,
): Promise<{ tiles: number; seconds: number }> {
  let tiles = 0;
  const started = performance.now();
  await lastValueFrom(
    batches.pipe(
      tap((batch) => {
        tiles += batch.origins.length;
        onBatch?.(batch, (performance.now() - started) / 1000);
        batch.release();
      }),
    ),
    { defaultValue: undefined },
  );
  return { tiles, seconds: (performance.now() - started) / 1000 };
}

export interface TorchUNetSpeed {
  train: number;
  forward: number;
  /** Where PyTorch ran, as the peer's device wrapper names it: `cpu` or `cuda (<GPU name>)`. */
  device: string;
}

export interface TorchUNetRun {
  threads: number;
  steps: number;
  batch: number;
  size: number;
  /** `cpu`, or `auto`: CUDA where PyTorch sees a GPU, else the CPU (through bench/torch_on_device.py). */
  device: 'cpu' | 'auto';
}

/** Images/s of the PyTorch peer UNet with 5 classes; a sentence when it could not run. */
export function torchUNetPeer(run: TorchUNetRun): TorchUNetSpeed | string {
  const peerArgs = [
    resolve(peerDir, 'ref_unet_torch.py'),
    ...[
      '--batch',
      run.batch,
      '--size',
      run.size,
      '--classes',
      5,
      '--threads',
      run.threads,
      '--steps',
      run.steps,
    ].map(String),
  ];
  // The shared peer has no device option: the wrapper moves it to the GPU from outside.
  const args =
    run.device === 'cpu' ? peerArgs : [resolve(root, 'bench', 'torch_on_device.py'), run.device, ...peerArgs];
  try {
    const out = execFileSync(python, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const match = out.match(/train ([\d.]+) images\/s, forward ([\d.]+) images\/s/);
    const device = out.match(/^peer device: (.+)$/m)?.[1] ?? 'cpu';
    return match
      ? { train: Number(match[1]), forward: Number(match[2]), device }
      : `unexpected peer output: ${out.trim()}`;
  } catch (error) {
    return `PyTorch peer not run (${lastErrorLine(error)}); install with apt-get install -y python3-torch`;
  }
}

/** What went wrong in a failed child process, in one line: its last stderr line naming an error, else its last line. */
export function lastErrorLine(error: unknown): string {
  const lines = String((error as { stderr?: string }).stderr ?? error)
    .split('\n')
    .filter(Boolean);
  return [...lines].reverse().find((line) => line.includes('Error')) ?? lines.pop() ?? String(error);
}

/**
 * Runs `node dist/bench/<script> ...args` (with `env` added to this process's environment) and returns the
 * JSON of its last output line. A fresh process per measurement: the wasm thread count is fixed per
 * process, and wasm memory and peak RSS never shrink.
 */
export function measureInChild<T>(
  script: string,
  args: readonly (string | number)[],
  env: Record<string, string> = {},
): T {
  const out = execFileSync(process.execPath, [resolve(benchDir, script), ...args.map(String)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

export const mebibytes = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);

/** The GPU's utilization as nvidia-smi samples it, read for windows of time. */
export interface GpuUtilization {
  /** The mean utilization (percent) of the samples taken between two `Date.now()` times; undefined without samples. */
  meanBetween(start: number, end: number): number | undefined;
  stop(): void;
}

/**
 * Starts nvidia-smi sampling the GPU's utilization every 100 ms into a file, where the machine has it (else
 * the samples stay empty). Start it before the work to measure: a child process started by the measured
 * process costs that process copy-on-write page faults for a while after (bench:ingest found 20,000 a pass).
 */
export function sampleGpuUtilization(): GpuUtilization {
  const file = join(tmpdir(), `segstream-gpu-utilization-${process.pid}.csv`);
  const sampler = spawn(
    'nvidia-smi',
    ['--query-gpu=timestamp,utilization.gpu', '--format=csv,noheader,nounits', '-lms', '100', '-f', file],
    { stdio: 'ignore' },
  );
  sampler.on('error', () => undefined); // no nvidia-smi: no samples
  return {
    meanBetween(start, end) {
      if (!existsSync(file)) return undefined;
      // Lines such as "2026/12/07 05:40:01.123, 87", in local time as Date.parse reads them.
      const samples = readFileSync(file, 'utf8')
        .split('\n')
        .map((line) => line.split(','))
        .filter(([time, value]) => {
          const at = Date.parse(time ?? '');
          return at >= start && at <= end && value !== undefined && Number.isFinite(Number(value));
        })
        .map(([, value]) => Number(value));
      return samples.length ? samples.reduce((a, b) => a + b, 0) / samples.length : undefined;
    },
    stop() {
      sampler.kill();
      rmSync(file, { force: true });
    },
  };
}
