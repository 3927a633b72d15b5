import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { InputError } from '../errors.js';
import type { RasterReadOptions } from '../io/geoTiff.js';
import type { ClassMap } from '../labels/classMap.js';
import type { EvaluationReport } from '../pipelines/evaluate.js';
import { loadBestCheckpoint, loadLatestCheckpoint } from '../training/checkpoint.js';
import type { Split } from '../types.js';

/** What `run.json` in a run folder records: enough to evaluate and predict with the run's model later. */
export interface RunManifest {
  arch: string;
  classes: {
    names: string[];
    colors: Array<[number, number, number]>;
    ignoreValue: number;
    ids: Record<string, number>;
    ignoreColors?: Array<[number, number, number]>;
    classProperty?: string;
    defaultClass?: string;
  };
  tileSize: number;
  /**
   * What the model takes: its input channels (3 for RGB, one per selected band for rasters) and, for
   * rasters, the band selection and ranges that eval and predict read images with (given, or computed over
   * the training rasters). Absent in runs from before rasters (RGB).
   */
  input?: { channels: number; raster?: RasterReadOptions };
  /** The options the run was started with (after config file and flags were merged). */
  options: Record<string, unknown>;
  backend: string;
  /** When the run first started; a resumed run keeps it. */
  startedAt: string;
  /**
   * Each time the run was resumed: when, on which backend, from which checkpoint, and the settings that
   * resume changed (`options` holds the newest), each with its value before and after.
   */
  resumes?: Array<{
    at: string;
    backend: string;
    checkpoint: string;
    changed?: Record<string, { from: unknown; to: unknown }>;
  }>;
  /** The source images of each split, by id, so that `eval --split test` evaluates exactly the held-out ones. */
  splits?: Record<Split, string[]>;
}

/** Paths inside a run folder. */
export const runPaths = (runDir: string) => ({
  manifest: join(runDir, 'run.json'),
  checkpoints: join(runDir, 'checkpoints'),
  metrics: join(runDir, 'metrics.ndjson'),
  evaluation: join(runDir, 'eval.json'),
});

/** Writes `run.json`, creating the run folder. */
export async function writeRunManifest(runDir: string, manifest: RunManifest): Promise<void> {
  await mkdir(runDir, { recursive: true });
  await writeFile(runPaths(runDir).manifest, `${JSON.stringify(manifest, null, 2)}\n`);
}

/**
 * A class map as a run's manifest stores it (JSON: the label ids as an object), with what eval and predict
 * need to read label files as training did.
 */
export function manifestClasses(classMap: ClassMap): RunManifest['classes'] {
  const { names, colors, ignoreValue, ids, ignoreColors, classProperty, defaultClass } = classMap;
  return {
    names,
    colors,
    ignoreValue,
    ids: Object.fromEntries(ids),
    ...(ignoreColors ? { ignoreColors } : {}),
    ...(classProperty === undefined ? {} : { classProperty }),
    ...(defaultClass === undefined ? {} : { defaultClass }),
  };
}

/** The class map a run was trained with. */
export function manifestClassMap(manifest: RunManifest): ClassMap {
  const { names, colors, ignoreValue, ids, ignoreColors, classProperty, defaultClass } = manifest.classes;
  return {
    names,
    colors,
    ignoreValue,
    ids: new Map(Object.entries(ids)),
    ...(ignoreColors ? { ignoreColors } : {}),
    ...(classProperty === undefined ? {} : { classProperty }),
    ...(defaultClass === undefined ? {} : { defaultClass }),
  };
}

/** Which checkpoint of a run to open: the newest, or the one of its best epoch by validation. */
export const RUN_CHECKPOINTS = ['latest', 'best'] as const;
export type RunCheckpoint = (typeof RUN_CHECKPOINTS)[number];

/**
 * Opens a run folder written by `train`: its manifest and the model of its newest checkpoint, or of the one
 * marked best (the epoch with the highest validation mean IoU, or the run's monitored metric). Loading
 * reads JSON topology and weight bytes only; no code from the folder runs.
 *
 * @example
 * ```ts
 * const { manifest, model, checkpoint } = await openRun('runs/unet-xbd', 'best');
 * ```
 * @param runDir The run folder.
 * @throws InputError naming the folder when it has no manifest, no complete checkpoint, or none marked best.
 */
export async function openRun(
  runDir: string,
  which: RunCheckpoint = 'latest',
): Promise<{ manifest: RunManifest; model: tf.LayersModel; checkpoint: string }> {
  const paths = runPaths(runDir);
  const manifest = await readRunManifest(runDir);
  const checkpoint =
    which === 'best'
      ? await loadBestCheckpoint(paths.checkpoints)
      : await loadLatestCheckpoint(paths.checkpoints);
  if (!checkpoint && which === 'best')
    throw new InputError(
      paths.checkpoints,
      'no checkpoint is marked best (runs before this marker, or with no finished epoch): use the latest',
    );
  if (!checkpoint?.models.model)
    throw new InputError(paths.checkpoints, 'no complete checkpoint with a model: train the run first');
  for (const role of Object.keys(checkpoint.optimizerWeights))
    for (const { tensor } of checkpoint.optimizerWeights[role]!) tensor.dispose();
  for (const [role, model] of Object.entries(checkpoint.models)) if (role !== 'model') model.dispose();
  return { manifest, model: checkpoint.models.model, checkpoint: checkpoint.path };
}

async function readRunJson<T>(path: string, hint: string): Promise<T> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (error) {
    throw new InputError(path, `${hint} (${(error as Error).message})`, { cause: error });
  }
}

/**
 * A run folder's manifest (`run.json`).
 *
 * @example
 * ```ts
 * const { options } = await readRunManifest('runs/xbd-unet');
 * ```
 * @throws InputError naming `run.json` when it is missing or unreadable.
 */
export const readRunManifest = (runDir: string): Promise<RunManifest> =>
  readRunJson<RunManifest>(runPaths(runDir).manifest, 'not a segstream run folder: run.json unreadable');

/**
 * A run folder's manifest and its latest evaluation (`eval.json`), as `compare` and the results page read them.
 *
 * @example
 * ```ts
 * const { manifest, report } = await readEvaluatedRun('runs/xbd-unet');
 * ```
 * @throws InputError naming `run.json` or `eval.json` when it is missing or unreadable.
 */
export async function readEvaluatedRun(
  runDir: string,
): Promise<{ manifest: RunManifest; report: EvaluationReport }> {
  const paths = runPaths(runDir);
  const manifest = await readRunManifest(runDir);
  const report = await readRunJson<EvaluationReport>(
    paths.evaluation,
    `run not evaluated yet: npx stream-train eval --run ${runDir} --split test`,
  );
  return { manifest, report };
}
