import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { confusionCsv, confusionHeatmapPng, type EvaluationReport } from '../pipelines/evaluate.js';
import { runPaths } from './runDirectory.js';

/** Where an evaluation goes besides RUN/eval.json: another copy of the JSON, the confusion CSV and its heat map. */
export interface EvaluationFileOptions {
  /** Also write the report here. */
  json?: string;
  /** [RUN/confusion.csv] */
  csv?: string;
  /** [RUN/confusion.png] */
  heatmap?: string;
}

/**
 * Writes an evaluation of a run's checkpoint: RUN/eval.json (the report with the checkpoint), the confusion
 * matrix as CSV and as a heat map. `eval` and the `merge` of its shards both write through here, so that
 * their files are alike byte for byte. Returns the paths written.
 */
export async function writeEvaluationFiles(
  runDir: string,
  report: EvaluationReport,
  checkpoint: string,
  options: EvaluationFileOptions = {},
): Promise<string[]> {
  const json = `${JSON.stringify({ ...report, checkpoint }, null, 2)}\n`;
  const csvPath = options.csv ?? join(runDir, 'confusion.csv');
  const heatmapPath = options.heatmap ?? join(runDir, 'confusion.png');
  await writeFile(runPaths(runDir).evaluation, json);
  if (options.json) await writeFile(options.json, json);
  await writeFile(csvPath, confusionCsv(report));
  await writeFile(heatmapPath, await confusionHeatmapPng(report));
  return [runPaths(runDir).evaluation, ...(options.json ? [options.json] : []), csvPath, heatmapPath];
}
