import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { selectBackend, type BackendName } from '../../backend/selectBackend.js';
import { readLabelMask } from '../../labels/readLabelMask.js';
import { confusionCsv, confusionHeatmapPng, evaluateFolder, evaluationTable } from '../../pipelines/evaluate.js';
import type { TestTimeAugmentation } from '../../predict/slidingWindow.js';
import { manifestClassMap, openRun, runPaths, type RunCheckpoint } from '../../runs/runDirectory.js';
import type { Split } from '../../types.js';
import { EXIT_CODES, say } from '../terminal.js';
import { backendOption, checkpointOption, testTimeAugmentationOption } from '../commandOptions.js';

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
  backend: BackendName | 'auto';
}

/** `eval`: the per-class table on stdout; RUN/eval.json, the confusion CSV and its heat map on disk. */
async function evaluate(options: EvalOptions): Promise<number> {
  say((await selectBackend({ backend: options.backend })).summary);
  const { manifest, model, checkpoint } = await openRun(options.run, options.checkpoint);
  say(`model: ${checkpoint}`);
  const classMap = manifestClassMap(manifest);
  const fromRun = (key: 'images' | 'labels'): string => {
    const value = options[key] ?? (options.split ? manifest.options[key] : undefined);
    if (typeof value !== 'string') throw new RangeError(`eval: --${key} is required${options.split ? ` (the run's manifest names no ${key} folder)` : ' without --split'}`);
    return value;
  };
  const ids = options.split ? manifest.splits?.[options.split] : undefined;
  if (options.split && !ids) throw new RangeError(`eval: --split needs a run whose run.json lists its splits (${runPaths(options.run).manifest} does not)`);
  if (ids?.length === 0) throw new RangeError(`eval: the run's ${options.split} split holds no images`);
  const report = await evaluateFolder(model, {
    imagesDir: fromRun('images'),
    labelsDir: fromRun('labels'),
    ...(ids ? { ids } : {}),
    classMap,
    readMask: readLabelMask,
    ...(options.format !== 'auto' ? { format: options.format } : {}),
    tileSize: manifest.tileSize,
    testTimeAugmentation: options.tta,
    onImage: (id, done, total) => say(`evaluated ${done}/${total}: ${id}`),
  });
  model.dispose();
  process.stdout.write(evaluationTable(report));
  const json = `${JSON.stringify({ ...report, checkpoint }, null, 2)}\n`;
  await writeFile(runPaths(options.run).evaluation, json);
  if (options.json) await writeFile(options.json, json);
  const csvPath = options.csv ?? join(options.run, 'confusion.csv');
  const heatmapPath = options.heatmap ?? join(options.run, 'confusion.png');
  await writeFile(csvPath, confusionCsv(report));
  await writeFile(heatmapPath, await confusionHeatmapPng(report));
  say(`wrote ${runPaths(options.run).evaluation}${options.json ? `, ${options.json}` : ''}, ${csvPath}, ${heatmapPath}`);
  return EXIT_CODES.ok;
}

/** Adds `eval` to the program. */
export function addEvalCommand(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('eval')
    .description('evaluate a trained run on a labelled folder or on one of its splits: per-class table, JSON, confusion CSV and heat map')
    .requiredOption('--run <dir>', 'run folder written by train')
    .addOption(checkpointOption())
    .option('--images <dir>', "image folder (default with --split: the run's)")
    .option('--labels <dir>', "label folder (default with --split: the run's)")
    .addOption(new Option('--split <name>', "evaluate only the run's train, validation or test images").choices(['train', 'validation', 'test']))
    .option('--json <file>', 'also write the report here (always written to RUN/eval.json)')
    .option('--csv <file>', 'confusion matrix CSV')
    .option('--heatmap <file>', 'confusion matrix PNG heat map')
    .option('--format <format>', 'label format', 'auto')
    .addOption(testTimeAugmentationOption())
    .addOption(backendOption())
    .action(async (options: EvalOptions) => setExitCode(await evaluate(options)));
}
