import { join } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../../errors.js';
import { addEvaluations, type EvaluationReport, evaluationTable } from '../../pipelines/evaluate.js';
import { addPrepareTotals, formatPrepareSummary, type PrepareTotalsJson } from '../../pipelines/prepare.js';
import { assembleClassGeoTiff } from '../../predict/rowShards.js';
import { type EvaluationFileOptions, writeEvaluationFiles } from '../../runs/evaluationFiles.js';
import {
  describeOutputs,
  type MergedManifest,
  mergeShardManifests,
  readShardManifests,
  shardsFolder,
  writeMergedManifest,
} from '../../runs/shardManifest.js';
import { EXIT_CODES, say } from '../terminal.js';

/** What an eval shard's manifest holds as its result. */
type EvalShardResult = EvaluationReport & { checkpoint: string };

/** The sum of eval shards: the report from the added confusion matrices, written as `eval` writes its own. */
async function mergeEvaluation(
  dir: string,
  merged: MergedManifest,
  files: EvaluationFileOptions,
): Promise<unknown> {
  const results = merged.results as EvalShardResult[];
  const { checkpoint } = results[0]!;
  const other = results.find((result) => result.checkpoint !== checkpoint);
  if (other)
    throw new InputError(
      shardsFolder(dir),
      `its shards evaluated different checkpoints (${checkpoint}, ${other.checkpoint}): rerun them on one`,
    );
  const report = addEvaluations(results);
  process.stdout.write(evaluationTable(report));
  say(`wrote ${(await writeEvaluationFiles(dir, report, checkpoint, files)).join(', ')}`);
  return { ...report, checkpoint };
}

/**
 * The class GeoTIFF of each raster the predict shards split by rows, assembled from its parts; returns
 * the merged outputs with the assembled files added.
 */
async function assembleSplitRasters(dir: string, merged: MergedManifest): Promise<MergedManifest['outputs']> {
  for (const { output, width, height, georeference, parts } of merged.assemblies) {
    await assembleClassGeoTiff(
      join(dir, output),
      { width, height, ...(georeference ? { georeference } : {}) },
      parts.map(({ path, start, end }) => ({ path: join(dir, path), rows: { start, end } })),
    );
    say(`${output}: ${width}x${height} from ${parts.length} parts`);
  }
  const assembled = await describeOutputs(
    dir,
    merged.assemblies.map(({ output }) => output),
  );
  return [...merged.outputs, ...assembled].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * `merge DIR`: checks that DIR/shards/ holds every shard of one prepare, predict or eval job (see
 * `mergeShardManifests`), adds up what they counted and writes DIR/<command>-manifest.json: every input and
 * output of the job. For predict it assembles the class GeoTIFF of each raster split by rows from its
 * shards' parts, byte for byte what one process writes. For prepare it prints the table a one-process prepare prints; for eval it writes
 * DIR/eval.json (DIR being the run), the confusion CSV and its heat map, equal to a one-process eval's.
 */
async function merge(dir: string, options: EvaluationFileOptions): Promise<number> {
  const merged = await mergeShardManifests(dir, await readShardManifests(dir));
  if (merged.command !== 'eval' && (options.json || options.csv || options.heatmap))
    throw new RangeError(
      `merge: --json, --csv and --heatmap are for eval shards; ${shardsFolder(dir)} holds ${merged.command} shards`,
    );
  let result: unknown;
  let outputs = merged.outputs;
  switch (merged.command) {
    case 'prepare': {
      const totals = addPrepareTotals(merged.results as PrepareTotalsJson[]);
      process.stdout.write(`${formatPrepareSummary(totals)}\n`);
      result = totals;
      break;
    }
    case 'predict':
      outputs = await assembleSplitRasters(dir, merged);
      result = { images: merged.inputs.length };
      break;
    case 'eval':
      result = await mergeEvaluation(dir, merged, options);
      break;
  }
  const path = await writeMergedManifest(dir, { ...merged, outputs }, result);
  say(
    `merged ${merged.shards} ${merged.command} shards: ${merged.inputs.length} images, ${outputs.length} files -> ${path}`,
  );
  return EXIT_CODES.ok;
}

/** Adds `merge` to the program. */
export function addMergeCommand(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('merge')
    .description(
      'after prepare, predict or eval ran in shards (--shard i/N): check every shard is there, add up their counts and write one manifest (eval: RUN/eval.json as one process writes it)',
    )
    .argument('<dir>', 'the output folder the shards wrote to (prepare and predict: --out; eval: --run)')
    .option('--json <file>', 'eval shards: also write the report here (always written to RUN/eval.json)')
    .option('--csv <file>', 'eval shards: confusion matrix CSV (default RUN/confusion.csv)')
    .option('--heatmap <file>', 'eval shards: confusion matrix PNG heat map (default RUN/confusion.png)')
    .action(async (dir: string, options: EvaluationFileOptions) => setExitCode(await merge(dir, options)));
}
