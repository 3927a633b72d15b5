import { type Command, Option } from 'commander';
import { type BackendName, selectBackend } from '../../backend/selectBackend.js';
import { readLabelMask } from '../../labels/readLabelMask.js';
import { evaluateFolder, evaluationTable } from '../../pipelines/evaluate.js';
import type { TestTimeAugmentation } from '../../predict/slidingWindow.js';
import { writeEvaluationFiles } from '../../runs/evaluationFiles.js';
import { manifestClassMap, openRun, type RunCheckpoint, runPaths } from '../../runs/runDirectory.js';
import { writeShardManifest } from '../../runs/shardManifest.js';
import type { Split } from '../../types.js';
import type { Shard } from '../../util/shard.js';
import { backendOption, checkpointOption, testTimeAugmentationOption } from '../commandOptions.js';
import { resolveShard, shardOption } from '../shardOption.js';
import { EXIT_CODES, say } from '../terminal.js';

/** The options of `eval`, as declared in {@link addEvalCommand}. */
interface EvalOptions {
  run: string;
  checkpoint: RunCheckpoint;
  images?: string;
  labels?: string;
  split?: Split;
  json?: string;
  csv?: string;
  heatmap?: string;
  format: string;
  tta: TestTimeAugmentation;
  backend?: BackendName | 'auto';
  shard?: Shard;
}

/**
 * `eval`: the per-class table on stdout; RUN/eval.json, the confusion CSV and its heat map on disk. A shard
 * (`--shard` or the scheduler's variables) evaluates its share of the images and writes only its manifest,
 * RUN/shards/eval-<i>-of-<N>.json with its confusion matrix, for `merge RUN` to add up.
 */
async function evaluate(options: EvalOptions): Promise<number> {
  const { shard: shardFlag, ...settings } = options;
  const shard = resolveShard(shardFlag);
  if (shard && (options.json || options.csv || options.heatmap))
    throw new RangeError('eval: a shard writes only its manifest; give --json, --csv and --heatmap to merge');
  say((await selectBackend({ backend: options.backend })).summary);
  const { manifest, model, checkpoint } = await openRun(options.run, options.checkpoint);
  say(`model: ${checkpoint}`);
  const classMap = manifestClassMap(manifest);
  const fromRun = (key: 'images' | 'labels'): string => {
    const value = options[key] ?? (options.split ? manifest.options[key] : undefined);
    if (typeof value !== 'string')
      throw new RangeError(
        `eval: --${key} is required${options.split ? ` (the run's manifest names no ${key} folder)` : ' without --split'}`,
      );
    return value;
  };
  const ids = options.split ? manifest.splits?.[options.split] : undefined;
  if (options.split && !ids)
    throw new RangeError(
      `eval: --split needs a run whose run.json lists its splits (${runPaths(options.run).manifest} does not)`,
    );
  if (ids?.length === 0) throw new RangeError(`eval: the run's ${options.split} split holds no images`);
  const evaluated: string[] = [];
  const report = await evaluateFolder(model, {
    imagesDir: fromRun('images'),
    labelsDir: fromRun('labels'),
    ...(ids ? { ids } : {}),
    classMap,
    readMask: readLabelMask,
    ...(options.format !== 'auto' ? { format: options.format } : {}),
    ...(manifest.input?.raster ? { raster: manifest.input.raster } : {}),
    tileSize: manifest.tileSize,
    testTimeAugmentation: options.tta,
    onImage: (id, done, total) => {
      evaluated.push(id);
      say(`evaluated ${done}/${total}: ${id}`);
    },
    ...(shard ? { shard } : {}),
  });
  model.dispose();
  if (shard) {
    const path = await writeShardManifest(options.run, {
      command: 'eval',
      shard,
      settings: { ...settings },
      inputs: evaluated.sort(),
      outputs: [],
      result: { ...report, checkpoint },
    });
    say(
      `wrote ${path}: shard ${shard.index}/${shard.count}, ${report.images} images; when every shard is done: stream-train merge ${options.run}`,
    );
    return EXIT_CODES.ok;
  }
  process.stdout.write(evaluationTable(report));
  say(`wrote ${(await writeEvaluationFiles(options.run, report, checkpoint, options)).join(', ')}`);
  return EXIT_CODES.ok;
}

/** Adds `eval` to the program. */
export function addEvalCommand(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('eval')
    .description(
      'evaluate a trained run on a labelled folder or on one of its splits: per-class table, JSON, confusion CSV and heat map',
    )
    .requiredOption('--run <dir>', 'run folder written by train')
    .addOption(checkpointOption())
    .option('--images <dir>', "image folder (default with --split: the run's)")
    .option('--labels <dir>', "label folder (default with --split: the run's)")
    .addOption(
      new Option('--split <name>', "evaluate only the run's train, validation or test images").choices([
        'train',
        'validation',
        'test',
      ]),
    )
    .option('--json <file>', 'also write the report here (always written to RUN/eval.json)')
    .option('--csv <file>', 'confusion matrix CSV')
    .option('--heatmap <file>', 'confusion matrix PNG heat map')
    .option('--format <format>', 'label format', 'auto')
    .addOption(testTimeAugmentationOption())
    .addOption(backendOption())
    .addOption(shardOption())
    .action(async (options: EvalOptions) => setExitCode(await evaluate(options)));
}
