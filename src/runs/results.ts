import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { InputError } from '../errors.js';
import type { EvaluationReport } from '../pipelines/evaluate.js';
import type { MetricEvent } from '../sinks/sinkEvents.js';
import { readEvaluatedRun, runPaths } from './runDirectory.js';

/** What one evaluated run contributes to a results page. */
export interface RunResult {
  run: string;
  arch: string;
  backend: string;
  /** The options the run was started with (run.json). */
  options: Record<string, unknown>;
  /** Optimizer steps taken, and epochs completed (a run stopped mid-epoch has taken steps beyond them). */
  steps: number;
  epochs: number;
  /** Sum of the step times (images per step over images/s): training compute, without validation. */
  trainingSeconds: number;
  report: EvaluationReport;
}

/** The original work's figures for its 4-class aerial data (what the comparison table is measured against). */
export const ORIGINAL_RESULTS: ReadonlyArray<{
  arch: string;
  f1: number;
  recall: number;
  precision: number;
  meanIoU?: number;
  setting: string;
}> = [
  {
    arch: 'unet',
    f1: 0.6403,
    recall: 0.5968,
    precision: 0.6933,
    meanIoU: 0.4656,
    setting: '30 epochs, batch 64, focal Tversky loss',
  },
  { arch: 'pix2pix', f1: 0.589, recall: 0.547, precision: 0.638, setting: '4 epochs' },
  {
    arch: 'deeplabv3plus',
    f1: 0.4115,
    recall: 0.9569,
    precision: 0.2791,
    setting: 'ResNet-50 ImageNet, 25 epochs',
  },
];

/**
 * Reads a run folder's manifest, evaluation and metrics log into a {@link RunResult}.
 *
 * @example
 * ```ts
 * const result = await readRunResult('runs/xbd-unet'); // after `stream-train eval --run runs/xbd-unet --split test`
 * ```
 * @throws InputError naming the file that is missing or unreadable.
 */
export async function readRunResult(runDir: string): Promise<RunResult> {
  const paths = runPaths(runDir);
  const { manifest, report } = await readEvaluatedRun(runDir);
  let log: string;
  try {
    log = await readFile(paths.metrics, 'utf8');
  } catch (error) {
    throw new InputError(paths.metrics, `no metrics log (${(error as Error).message})`, { cause: error });
  }
  const batchSize = Number(manifest.options.batchSize);
  let steps = 0;
  let epochs = 0;
  let trainingSeconds = 0;
  for (const line of log.split('\n')) {
    if (!line.trim()) continue;
    const event = JSON.parse(line) as MetricEvent;
    if (event.type === 'batch') {
      steps = Math.max(steps, event.globalStep);
      if (event.imagesPerSecond > 0) trainingSeconds += batchSize / event.imagesPerSecond;
    } else if (event.type === 'epoch') {
      epochs = Math.max(epochs, event.epoch + 1);
    }
  }
  return {
    run: basename(resolve(runDir)),
    arch: manifest.arch,
    backend: manifest.backend,
    options: manifest.options,
    steps,
    epochs,
    trainingSeconds,
    report,
  };
}

/** The run options worth showing beside a result: those of every run, and those of its architecture. */
const COMMON_SETTINGS = [
  'tileSize',
  'batchSize',
  'loss',
  'classWeights',
  'optimizer',
  'learningRate',
  'schedule',
  'seed',
];
const ARCHITECTURE_SETTINGS: Record<string, string[]> = {
  unet: ['baseFilters', 'depth'],
  pix2pix: ['baseFilters', 'discriminatorFilters', 'discriminatorEvery'],
  deeplabv3plus: ['backbone', 'backboneWidth', 'outputStride', 'headFilters'],
};

const cell = (value: number | undefined): string =>
  value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(4);

/**
 * The results as Markdown: the original work's table (F1, recall, precision, accuracy, mean IoU, plus the
 * xView2 score) with the original's figures beside each architecture, per-class IoU and F1, and how each
 * run was trained.
 */
export function resultsMarkdown(results: readonly RunResult[]): string {
  const lines: string[] = [];
  lines.push(
    '| architecture | run | F1 | recall | precision | accuracy | mean IoU | xView2 score |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  );
  results.forEach((result, i) => {
    const o = result.report.overall;
    lines.push(
      `| ${result.arch} | ${result.run} | ${cell(o.f1)} | ${cell(o.recall)} | ${cell(o.precision)} | ${cell(o.accuracy)} | ${cell(o.mean_iou)} | ${cell(result.report.xview2?.score)} |`,
    );
    // The original's row follows the last of consecutive runs of an architecture.
    const original =
      results[i + 1]?.arch === result.arch ? undefined : ORIGINAL_RESULTS.find((r) => r.arch === result.arch);
    if (original)
      lines.push(
        `| ${result.arch} | original (${original.setting}) | ${cell(original.f1)} | ${cell(original.recall)} | ${cell(original.precision)} | - | ${cell(original.meanIoU)} | - |`,
      );
  });
  const classNames = results[0]?.report.per_class.map((c) => c.name) ?? [];
  lines.push(
    '',
    `Per class, IoU / F1 on the test split:`,
    '',
    `| run | ${classNames.join(' | ')} |`,
    `|---|${classNames.map(() => '---:').join('|')}|`,
  );
  for (const result of results) {
    lines.push(
      `| ${result.run} | ${result.report.per_class.map((c) => `${cell(c.iou)} / ${cell(c.f1)}`).join(' | ')} |`,
    );
  }
  lines.push(
    '',
    '| run | test images | epochs completed | optimizer steps | training time (sum of steps) | backend | settings |',
    '|---|---:|---:|---:|---:|---|---|',
  );
  for (const result of results) {
    const keys = [...COMMON_SETTINGS, ...(ARCHITECTURE_SETTINGS[result.arch] ?? [])].filter(
      (key) => result.options[key] !== undefined,
    );
    const tta = result.report.test_time_augmentation
      ? [`evaluated with test-time augmentation ${result.report.test_time_augmentation}`]
      : [];
    const checkpoint = result.report.checkpoint
      ? [`evaluated checkpoint ${basename(result.report.checkpoint)}`]
      : [];
    const settings = [
      ...keys.map(
        (key) =>
          `${key} ${typeof result.options[key] === 'object' ? JSON.stringify(result.options[key]) : String(result.options[key])}`,
      ),
      ...tta,
      ...checkpoint,
    ].join(', ');
    lines.push(
      `| ${result.run} | ${result.report.images} | ${result.epochs} | ${result.steps} | ${(result.trainingSeconds / 60).toFixed(0)} min | ${result.backend} | ${settings} |`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Replaces the text between `<!-- results:begin -->` and `<!-- results:end -->` in a document. */
export function replaceResultsSection(document: string, table: string, source = 'the document'): string {
  const begin = '<!-- results:begin -->';
  const end = '<!-- results:end -->';
  const from = document.indexOf(begin);
  const to = document.indexOf(end);
  if (from < 0 || to < from) throw new InputError(source, `has no ${begin} ... ${end} section to fill`);
  return `${document.slice(0, from + begin.length)}\n${table}${document.slice(to)}`;
}

/**
 * A run's result as a record: the {@link RunResult} the tables are made from, as JSON. Records of the
 * published runs live in `docs/results/`, so that the tables regenerate from the repository alone (the run
 * folders, with checkpoints and logs, stay on the machine that trained them).
 */
export function resultRecordJson(result: RunResult): string {
  // A record is meant for version control: an access token the run's live metrics needed stays out of it.
  const { metricsToken: _token, ...options } = result.options;
  return `${JSON.stringify({ ...result, options }, null, 2)}\n`;
}

/**
 * Reads a result from a run folder (see {@link readRunResult}) or from a record file written by
 * {@link resultRecordJson}.
 *
 * @example
 * ```ts
 * const published = await readResult('docs/results/xbd-unet.json');
 * ```
 * @throws InputError naming the file that is missing or unreadable.
 */
export async function readResult(path: string): Promise<RunResult> {
  if (!path.endsWith('.json')) return readRunResult(path);
  try {
    const record = JSON.parse(await readFile(path, 'utf8')) as RunResult;
    if (typeof record.arch !== 'string' || !record.report?.overall) throw new Error('not a result record');
    return record;
  } catch (error) {
    throw new InputError(path, `unreadable result record (${(error as Error).message})`, { cause: error });
  }
}

/** The run folders of the published results, under the project root (where they were trained): the xBD runs of the three architectures. */
export const defaultResultRuns = (root: string): string[] =>
  [
    'xbd-unet',
    'xbd-unet16',
    'xbd-unet16t',
    'xbd-unet16r',
    'xbd-unet16l',
    'xbd-unet16s',
    'xbd-pix2pix',
    'xbd-pix2pix16',
    'xbd-pix2pix16l',
    'xbd-deeplabv3plus',
    'xbd-deeplabv3plus-s',
    'xbd-deeplabv3plus-s30',
    'xbd-deeplabv3plus-w20',
  ].map((run) => resolve(root, 'runs', run));

/** Their records, which `docs/RESULTS.md` is made from. */
export const defaultResultRecords = (root: string): string[] =>
  defaultResultRuns(root).map((runDir) => resolve(root, 'docs', 'results', `${basename(runDir)}.json`));
