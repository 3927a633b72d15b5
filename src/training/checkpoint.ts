import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { InputError, type SkippedItem } from '../errors.js';
import { syncDirectory, writeDurable } from '../io/durableWrite.js';
import { fileModelHandler } from '../models/fileModelIO.js';
import type { ScheduleState } from './schedules.js';

/** A tensor with a name, as optimizers' getWeights/setWeights use. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

/**
 * Where a run stands: enough, with the weights and optimizer state, to continue it as if it had never
 * stopped. The streaming source is repositioned from `epoch` and `batchesDone` (see {@link resumeSourcePosition}).
 */
export interface TrainingPosition {
  /** Epoch in progress (0-based). */
  epoch: number;
  /** Optimizer steps done in `epoch`. */
  step: number;
  /** Source batches (micro-batches) consumed in `epoch`: step x micro-batches per step. */
  batchesDone: number;
  /** Optimizer steps since the start of the run. */
  globalStep: number;
  /** The run's seed: the source's shuffle and augmentation must derive their randomness from it and the epoch. */
  seed: number;
  /** Early stopping: the monitored metric's best value and epoch, and epochs since it improved. */
  best: { value: number; epoch: number } | null;
  epochsWithoutImprovement: number;
  schedule: ScheduleState;
  learningRate: number;
  /** Set when early stopping or the epoch count ended the run. */
  finished: boolean;
  /** The epoch's running training metrics so far (confusion-matrix counts, loss sum and images), so that a
   * resumed epoch's summary counts the batches before the interruption. */
  running: { counts: number[]; lossSum: number; images: number };
}

/** The networks and optimizers a checkpoint holds, by role (e.g. `model`, `discriminator`). */
export interface CheckpointContents {
  models: Record<string, tf.LayersModel>;
  optimizers: Record<string, tf.Optimizer>;
  position: TrainingPosition;
}

/** A checkpoint read back: models rebuilt from their saved topology, optimizer state as named tensors. */
export interface LoadedCheckpoint {
  path: string;
  models: Record<string, tf.LayersModel>;
  /** Optimizer weights by role, in the optimizer's own order (iterations first). Dispose after `setWeights`. */
  optimizerWeights: Record<string, NamedTensor[]>;
  position: TrainingPosition;
  /** Newer checkpoints in the same folder that could not be read (a write cut short), newest first. */
  skipped: SkippedItem[];
}

export interface SaveCheckpointOptions {
  /**
   * [keep=2] Complete checkpoints to keep; older ones are removed after a new one is in place, except the
   * one marked best.
   */
  keep?: number;
  /** Marks this checkpoint as the run's best (`best.json` names it), which pruning then keeps. */
  best?: boolean;
  /**
   * Milliseconds to pause after each file is written: only for tests that must kill a process in the
   * middle of a write. Defaults to $SEGSTREAM_CHECKPOINT_WRITE_DELAY_MS, else 0.
   */
  writeDelayMs?: number;
}

const STEP_DIR = /^step-(\d{9})$/;

/** The checkpoint folders among a folder's entries, oldest first (zero-padded steps sort as numbers). */
const checkpointFolders = (names: readonly string[]): string[] =>
  names.filter((n) => STEP_DIR.test(n)).sort();
const STATE_FILE = 'state.json';
/** Names the checkpoint folder marked best: { checkpoint: 'step-…' }. */
const BEST_FILE = 'best.json';

/**
 * The checkpoint folder name `best.json` in `dir` names, or undefined when there is no such file.
 * @throws InputError naming the file when it does not name a checkpoint folder.
 */
async function bestCheckpointName(dir: string): Promise<string | undefined> {
  const path = join(dir, BEST_FILE);
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  let name: unknown;
  try {
    name = (JSON.parse(text) as { checkpoint?: unknown }).checkpoint;
  } catch (error) {
    throw new InputError(path, `is not JSON (${(error as Error).message})`, { cause: error });
  }
  if (typeof name !== 'string' || !STEP_DIR.test(name))
    throw new InputError(path, `names no checkpoint folder (step-<9 digits>): ${JSON.stringify(name)}`);
  return name;
}

function joinWeightData(data: tf.io.WeightData | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  return new Uint8Array(Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data);
}

/** `mkdir -p` that fails with the real reason: Node's recursive mkdir says ENOENT below a read-only folder. */
async function makeDirectories(dir: string): Promise<void> {
  try {
    await mkdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || dirname(dir) === dir) throw error;
    await makeDirectories(dirname(dir));
    await makeDirectories(dir);
  }
}

/**
 * Checks before training that checkpoints can be written to `dir`: creates it, writes, syncs and removes a
 * probe file.
 *
 * @throws Error naming the folder and the system's reason (EACCES, ENOSPC, EROFS, ...).
 */
export async function assertCheckpointDirWritable(dir: string): Promise<void> {
  const probe = join(dir, `.write-probe-${process.pid}`);
  try {
    await makeDirectories(dir);
    await writeDurable(probe, 'probe');
    await rm(probe, { force: true });
  } catch (error) {
    throw new Error(`checkpoint folder ${resolve(dir)} is not writable: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * The newest checkpoint folder name in `dir` (`step-<globalStep>`), or undefined when there is none; reads
 * names only, nothing is loaded.
 *
 * @example
 * ```ts
 * if (!resume && await newestCheckpointName('runs/a/checkpoints')) throw new Error('runs/a holds a run');
 * ```
 */
export async function newestCheckpointName(dir: string): Promise<string | undefined> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return checkpointFolders(names).at(-1);
}

/**
 * Writes a checkpoint atomically: everything goes to a temporary folder, each file is fsynced, the folder is
 * renamed to `step-<globalStep>` and the parent synced; only then are older checkpoints removed. A crash or a
 * full disk at any point leaves the previous checkpoints intact, and a half-written folder is never taken
 * for a checkpoint (its name does not match).
 *
 * Layout (TF.js format): `<role>.json` + `<role>.weights.bin` per model (written and read by `fileModelHandler`),
 * `optimizer-<role>.json` + `.bin` per optimizer (weight specs and values, iterations included), and
 * `state.json` with the {@link TrainingPosition}, written last.
 *
 * @example
 * ```ts
 * const path = await saveCheckpoint('runs/a/checkpoints', { models: { model }, optimizers: { model: adam }, position });
 * ```
 * @returns the checkpoint's folder.
 * @throws Error naming the folder and the cause when a write fails (the previous checkpoint stays).
 */
export async function saveCheckpoint(
  dir: string,
  contents: CheckpointContents,
  options: SaveCheckpointOptions = {},
): Promise<string> {
  const keep = options.keep ?? 2;
  if (!Number.isInteger(keep) || keep < 1)
    throw new RangeError(`saveCheckpoint: keep must be an integer >= 1, got ${String(keep)}`);
  const delay = options.writeDelayMs ?? Number(process.env.SEGSTREAM_CHECKPOINT_WRITE_DELAY_MS ?? 0);
  const pause = () => (delay > 0 ? new Promise((r) => setTimeout(r, delay)) : Promise.resolve());
  const finalPath = join(dir, `step-${String(contents.position.globalStep).padStart(9, '0')}`);
  const tempPath = join(dir, `.tmp-${process.pid}-${Date.now()}`);
  try {
    await mkdir(tempPath, { recursive: true });
    // Plain writes: the folder's rename is what makes the checkpoint appear whole.
    const write = async (path: string, data: string | Uint8Array) => {
      await writeDurable(path, data);
      await pause();
    };
    for (const [role, model] of Object.entries(contents.models))
      await model.save(fileModelHandler(join(tempPath, `${role}.json`), { write }));
    for (const [role, optimizer] of Object.entries(contents.optimizers)) {
      const named = await optimizer.getWeights();
      const { data, specs } = await tf.io.encodeWeights(named);
      // Besides its own variables, getWeights makes a fresh tensor of the iteration count: that one is ours to free.
      tf.dispose(named.map((w) => w.tensor).filter((tensor) => !(tensor instanceof tf.Variable)));
      await write(join(tempPath, `optimizer-${role}.bin`), joinWeightData(data));
      await write(
        join(tempPath, `optimizer-${role}.json`),
        JSON.stringify({
          className: optimizer.getClassName(),
          config: optimizer.getConfig(),
          weightSpecs: specs,
        }),
      );
    }
    await write(
      join(tempPath, STATE_FILE),
      JSON.stringify({
        position: contents.position,
        models: Object.keys(contents.models),
        optimizers: Object.keys(contents.optimizers),
      }),
    );
    await syncDirectory(tempPath);
    // A checkpoint of the same step (written again after a resume) is replaced as a whole.
    await rm(finalPath, { recursive: true, force: true });
    await rename(tempPath, finalPath);
    if (options.best) {
      // Written beside, then renamed over: a reader sees the old marker or the new one, never half of one.
      const marker = join(dir, `.tmp-${process.pid}-${BEST_FILE}`);
      await writeDurable(marker, JSON.stringify({ checkpoint: basename(finalPath) }));
      await rename(marker, join(dir, BEST_FILE));
    }
    await syncDirectory(dir);
  } catch (error) {
    await rm(tempPath, { recursive: true, force: true }).catch(() => undefined);
    throw new Error(
      `writing checkpoint ${finalPath} failed (previous checkpoints kept): ${(error as Error).message}`,
      { cause: error },
    );
  }
  await pruneCheckpoints(dir, keep);
  return finalPath;
}

/** Removes all but the newest `keep` checkpoints (and the best), and temporary folders left by killed writers. */
async function pruneCheckpoints(dir: string, keep: number): Promise<void> {
  const names = await readdir(dir);
  const best = await bestCheckpointName(dir);
  const steps = checkpointFolders(names);
  const old = steps.slice(0, Math.max(0, steps.length - keep)).filter((n) => n !== best);
  const stale = [
    ...old,
    ...names.filter((n) => n.startsWith('.tmp-') && !n.startsWith(`.tmp-${process.pid}-`)),
  ];
  await Promise.all(stale.map((n) => rm(join(dir, n), { recursive: true, force: true })));
}

/**
 * Reads one checkpoint folder written by {@link saveCheckpoint}.
 *
 * @throws Error naming the folder and the file that is missing or unreadable.
 */
export async function loadCheckpoint(path: string): Promise<LoadedCheckpoint> {
  try {
    const state = JSON.parse(await readFile(join(path, STATE_FILE), 'utf8')) as {
      position: TrainingPosition;
      models: string[];
      optimizers: string[];
    };
    const models: Record<string, tf.LayersModel> = {};
    for (const role of state.models)
      models[role] = await tf.loadLayersModel(fileModelHandler(join(path, `${role}.json`)));
    const optimizerWeights: Record<string, NamedTensor[]> = {};
    for (const role of state.optimizers) {
      const { weightSpecs } = JSON.parse(await readFile(join(path, `optimizer-${role}.json`), 'utf8')) as {
        weightSpecs: tf.io.WeightsManifestEntry[];
      };
      const data = await readFile(join(path, `optimizer-${role}.bin`));
      const tensors = tf.io.decodeWeights(
        data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
        weightSpecs,
      );
      optimizerWeights[role] = weightSpecs.map((spec) => ({ name: spec.name, tensor: tensors[spec.name]! }));
    }
    return { path, models, optimizerWeights, position: state.position, skipped: [] };
  } catch (error) {
    throw new Error(`checkpoint ${path} cannot be read: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The newest complete checkpoint in `dir`, or null when there is none (no folder, or only temporary ones).
 * A checkpoint that cannot be read is skipped for the one before it and listed in `skipped`; when none can
 * be read the error names the newest and why.
 *
 * @example
 * ```ts
 * const checkpoint = await loadLatestCheckpoint('runs/a/checkpoints');
 * const startAt = checkpoint ? resumeSourcePosition(checkpoint.position) : { epoch: 0, batch: 0 };
 * ```
 * @throws InputError naming `dir` when it holds checkpoints and none of them can be read.
 */
export async function loadLatestCheckpoint(dir: string): Promise<LoadedCheckpoint | null> {
  const exists = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!exists) return null;
  const steps = checkpointFolders(await readdir(dir)).reverse();
  const skipped: SkippedItem[] = [];
  for (const name of steps) {
    try {
      return { ...(await loadCheckpoint(join(dir, name))), skipped };
    } catch (error) {
      skipped.push({ file: join(dir, name), problem: (error as Error).message });
    }
  }
  if (skipped.length > 0)
    throw new InputError(
      dir,
      `none of its ${skipped.length} checkpoints can be read; the newest: ${skipped[0]!.problem}`,
    );
  return null;
}

/**
 * The checkpoint marked best in `dir` (the epoch whose monitored metric, validation mean IoU by default,
 * was highest), or null when none is marked.
 *
 * @example
 * ```ts
 * const best = await loadBestCheckpoint('runs/a/checkpoints');
 * ```
 * @throws Error naming the folder when the marked checkpoint cannot be read.
 */
export async function loadBestCheckpoint(dir: string): Promise<LoadedCheckpoint | null> {
  const name = await bestCheckpointName(dir);
  return name ? loadCheckpoint(join(dir, name)) : null;
}

/** Where the source must start to continue a run at `position`: the epoch and the batches to skip in it. */
export function resumeSourcePosition(position: TrainingPosition): { epoch: number; batch: number } {
  return { epoch: position.epoch, batch: position.batchesDone };
}
