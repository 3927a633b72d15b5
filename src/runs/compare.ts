import { basename, resolve } from 'node:path';
import { readEvaluatedRun } from './runDirectory.js';

/** One run's row of the comparison: the original work's table (per architecture). */
export interface ComparisonRow {
  run: string;
  arch: string;
  f1: number;
  recall: number;
  precision: number;
  accuracy: number;
  mean_iou: number;
  xview2?: number;
}

/**
 * Reads each run folder's `run.json` and `eval.json` (written by `eval --run`) into comparison rows.
 *
 * @example
 * ```ts
 * const rows = await compareRuns(['runs/unet', 'runs/deeplab']);
 * console.log(comparisonMarkdown(rows));
 * ```
 * @param runDirs Run folders, each evaluated.
 * @throws InputError naming the file of a run that has not been evaluated.
 */
export async function compareRuns(runDirs: readonly string[]): Promise<ComparisonRow[]> {
  if (runDirs.length === 0) throw new RangeError('compare: give at least one run folder');
  const rows: ComparisonRow[] = [];
  for (const dir of runDirs) {
    const { manifest, report } = await readEvaluatedRun(dir);
    const { f1, recall, precision, accuracy, mean_iou } = report.overall;
    rows.push({
      run: basename(resolve(dir)),
      arch: manifest.arch,
      f1,
      recall,
      precision,
      accuracy,
      mean_iou,
      ...(report.xview2 ? { xview2: report.xview2.score } : {}),
    });
  }
  return rows;
}

/** The rows as a Markdown table, metrics to 4 decimals. */
export function comparisonMarkdown(rows: readonly ComparisonRow[]): string {
  const withXview = rows.some((r) => r.xview2 !== undefined);
  const header = [
    'run',
    'architecture',
    'F1',
    'recall',
    'precision',
    'accuracy',
    'mean IoU',
    ...(withXview ? ['xView2'] : []),
  ];
  const cell = (v: number | undefined): string =>
    v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(4);
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`,
    ...rows.map(
      (r) =>
        `| ${[r.run, r.arch, cell(r.f1), cell(r.recall), cell(r.precision), cell(r.accuracy), cell(r.mean_iou), ...(withXview ? [cell(r.xview2)] : [])].join(' | ')} |`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}
