import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { Command, Option } from 'commander';
import { lastValueFrom, tap } from 'rxjs';
import { InputError, SkipReport } from '../errors.js';
import { selectBackend, type BackendName } from '../backend/selectBackend.js';
import type { ArchitectureName } from '../models/buildNetworks.js';
import type { LossConfig } from '../losses/buildLoss.js';
import type { OptimizerConfig } from '../training/optimizers.js';
import type { ScheduleConfig } from '../training/schedules.js';
import { createSink } from '../sinks/createSink.js';
import { ndjsonSink } from '../sinks/ndjsonSink.js';
import type { HttpSink } from '../sinks/httpSink.js';
import type { MetricSink } from '../sinks/sinkEvents.js';
import { writeSyntheticXbd } from '../sources/syntheticDataset.js';
import { prepareTrainingRun } from '../pipelines/trainPipeline.js';
import { assertCheckpointDirWritable, newestCheckpointName } from '../training/checkpoint.js';
import { formatPrepareSummary, prepareMasks } from '../pipelines/prepare.js';
import { manifestClassMap, manifestClasses, openRun, readRunManifest, RUN_CHECKPOINTS, runPaths, writeRunManifest, type RunCheckpoint } from '../runs/runDirectory.js';
import { confusionCsv, confusionHeatmapPng, evaluateFolder, evaluationTable } from '../pipelines/evaluate.js';
import { compareRuns, comparisonMarkdown } from '../runs/compare.js';
import { predictFullImage, TEST_TIME_AUGMENTATIONS, type TestTimeAugmentation } from '../predict/slidingWindow.js';
import { overlayPng, writeClassPng } from '../predict/writePrediction.js';
import { sieveMask } from '../predict/sieveMask.js';
import { maskToSimplifiedPolygons } from '../predict/simplifyPolygons.js';
import { POLYGON_LABEL_FORMATS, type PolygonLabelFormat, writePolygonLabels } from '../predict/writePolygons.js';
import { POLYGON_CRS_CHOICES, type PolygonCrsChoice, writeMapPolygons } from '../predict/mapPolygons.js';
import { predictRasterFile, WHOLE_MASK_PIXELS } from '../predict/predictRaster.js';
import { decodeImage, isRasterFile } from '../io/decodeImage.js';
import { IMAGE_EXTENSIONS } from '../sources/pairFiles.js';
import { loadConfig } from './config.js';
import { rasterReadOptions } from './rasterOptions.js';
import { parseSampleBalance, resolveClassMap } from './classes.js';
import { readLabelMask } from '../labels/readLabelMask.js';
import { progressReporter } from './progress.js';
import { TRAIN_OPTIONS, checkTrainConfig, type TrainConfig } from './trainOptions.js';
import fg from 'fast-glob';
import type { Split } from '../types.js';

/** Exit codes: 130 and 143 are what shells report for SIGINT and SIGTERM, so scripts can tell "interrupted". */
export const EXIT_CODES = { ok: 0, error: 1, usage: 2, SIGINT: 130, SIGTERM: 143 } as const;

const say = (line: string): void => void process.stderr.write(`${line}\n`);

function parseValue(kind: string, flag: string): (value: string, previous: unknown) => unknown {
  switch (kind) {
    case 'integer':
    case 'number':
      return (value) => {
        const number = Number(value);
        if (value.trim() === '' || !Number.isFinite(number)) throw new RangeError(`${flag} must be a number, got '${value}'`);
        return number;
      };
    case 'list':
      return (value, previous) => [...((previous as string[] | undefined) ?? []), value];
    case 'numbers':
      return (value) => {
        const numbers = value.split(',').map(Number);
        if (numbers.some((n) => !Number.isFinite(n))) throw new RangeError(`${flag} must be comma-separated numbers, got '${value}'`);
        return numbers;
      };
    default:
      return (value) => value;
  }
}

/** A `named` option's value as a config object: `--loss dice` or `{ name: 'dice', ... }` from a config file. */
const named = (value: unknown): Record<string, unknown> => (typeof value === 'string' ? { name: value } : (value as Record<string, unknown>));

/** `--tiles png`, `npy` or `png,npy`. */
function parseTileFormats(value: string): Array<'png' | 'npy'> {
  const formats = value.split(',').map((f) => f.trim());
  if (formats.length === 0 || formats.some((f) => f !== 'png' && f !== 'npy')) throw new RangeError(`--tiles must be png, npy or png,npy, got '${value}'`);
  return formats as Array<'png' | 'npy'>;
}

/**
 * The settings a resume changes, each with its value before and after; undefined when none does. run.json
 * keeps only the newest settings, so without this a run continued with another loss or schedule would not
 * say which steps were trained with which.
 */
function changedSettings(before: Record<string, unknown> | undefined, after: Record<string, unknown>): Record<string, { from: unknown; to: unknown }> | undefined {
  if (before === undefined) return undefined;
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((key) => key !== 'resume');
  const changed = keys.filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]));
  return changed.length > 0 ? Object.fromEntries(changed.map((key) => [key, { from: before[key] ?? null, to: after[key] ?? null }])) : undefined;
}

/** Settings a resumed run takes from its run.json: all but the ones that say how to start or where. */
const NOT_RESUMED = new Set(['config', 'resume', 'out']);

/**
 * Defaults, then (with --resume) the settings the run in --out was started with, then the config file, then
 * the flags given. Without the run's own settings, `train --out runs/x --resume` would train the default
 * model on the default (synthetic) data and write over the run's checkpoints.
 */
async function mergedTrainConfig(command: Command): Promise<TrainConfig> {
  const values = command.opts();
  const config: TrainConfig = {};
  for (const spec of TRAIN_OPTIONS) if (spec.default !== undefined) config[spec.key] = spec.default;
  const fromFile = typeof values.config === 'string' ? await loadConfig(values.config) : {};
  const given = TRAIN_OPTIONS.filter((spec) => command.getOptionValueSource(spec.key) === 'cli').map((spec) => spec.key);
  const resume = given.includes('resume') ? values.resume : fromFile.resume;
  const out = given.includes('out') ? values.out : fromFile.out;
  if (resume === true && typeof out === 'string' && existsSync(runPaths(out).manifest)) {
    const { options } = await readRunManifest(out);
    for (const spec of TRAIN_OPTIONS) if (!NOT_RESUMED.has(spec.key) && options[spec.key] !== undefined) config[spec.key] = options[spec.key];
    const overridden = [...Object.keys(fromFile), ...given].filter((key) => !NOT_RESUMED.has(key) && options[key] !== undefined);
    say(`resuming ${out} with the settings in ${runPaths(out).manifest}${overridden.length > 0 ? `; given again: ${[...new Set(overridden)].join(', ')}` : ''}`);
  }
  Object.assign(config, fromFile);
  for (const key of given) config[key] = values[key];
  delete config.config;
  checkTrainConfig(config);
  return config;
}

/** Stops at the next batch boundary on the first SIGINT/SIGTERM; a second one exits at once. */
function interruptOnSignals(): { signal: AbortSignal; received: () => NodeJS.Signals | null; dispose: () => void } {
  const controller = new AbortController();
  let received: NodeJS.Signals | null = null;
  const onSignal = (name: NodeJS.Signals): void => {
    if (received) {
      say(`${name} again: exiting without waiting for the checkpoint`);
      process.exit(EXIT_CODES[name as 'SIGINT' | 'SIGTERM']);
    }
    received = name;
    say(`${name}: stopping at the next batch boundary and writing a checkpoint (send again to exit at once)`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    received: () => received,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

async function trainCommand(command: Command): Promise<number> {
  const config = await mergedTrainConfig(command);
  const arch = config.arch as ArchitectureName;
  const backend = await selectBackend({ backend: config.backend as BackendName | 'auto', ...((config.wasmThreads as number) > 0 ? { wasmThreads: config.wasmThreads as number } : {}) });
  say(backend.summary);
  const out = (config.out as string | undefined) ?? join('runs', `${new Date().toISOString().replace(/[:.]/g, '-')}-${arch}`);
  // Before anything is written there (synthetic data, metrics): a read-only or full --out fails here, in one line.
  await assertCheckpointDirWritable(runPaths(out).checkpoints);
  // A new run in a folder that holds one would append to its log and lose its own checkpoints to the rotation
  // (it keeps the highest step numbers, the old run's).
  const earlier = config.resume ? undefined : await newestCheckpointName(runPaths(out).checkpoints);
  if (earlier) throw new InputError(runPaths(out).checkpoints, `holds the checkpoints of an earlier run (newest ${earlier}): continue it with --resume, or train into another --out`);
  let images = config.images as string | undefined;
  let labels = config.labels as string | undefined;
  if ((images === undefined) !== (labels === undefined)) throw new RangeError('train: give both --images and --labels, or neither for the built-in synthetic default');
  if (images === undefined || labels === undefined) {
    const synthetic = await writeSyntheticXbd(join(out, 'data'), { images: config.syntheticImages as number, size: 256, seed: (config.seed as number) + 1 });
    ({ imagesDir: images, labelsDir: labels } = synthetic);
    say(`no --images/--labels: generated ${config.syntheticImages} synthetic xBD-format images (${Object.entries(synthetic.buildings).map(([k, v]) => `${v} ${k}`).join(', ')}) in ${join(out, 'data')}`);
  }
  const classMap = await resolveClassMap(config.classes as string);
  await mkdir(out, { recursive: true });

  const sinks: MetricSink[] = [ndjsonSink(runPaths(out).metrics)];
  try {
    for (const spec of config.metrics as string[]) {
      const sink = createSink(spec, config.metricsToken ? { token: config.metricsToken as string } : {});
      sinks.push(sink);
      if ('listening' in sink) say(`live dashboard: ${await (sink as HttpSink).listening}${config.metricsToken ? '?token=…' : ''}  (SSE at /events, Prometheus at /metrics)`);
    }
    const interrupt = interruptOnSignals();
    const skipReport = new SkipReport();
    const validationFraction = config.validationFraction as number;
    if (validationFraction >= 0.5) throw new RangeError(`train: --validation-fraction must be below 0.5 (as much again is held out for test), got ${validationFraction}`);
    const raster = rasterReadOptions(config.bands as number[] | undefined, config.bandRanges as string | undefined);
    const run = await prepareTrainingRun({
      arch,
      imagesDir: images,
      labelsDir: labels,
      classMap,
      readMask: readLabelMask,
      ...(config.format !== 'auto' ? { format: config.format as string } : {}),
      ...(raster ? { raster } : {}),
      tileSize: config.tileSize as number,
      batchSize: config.batchSize as number,
      epochs: config.epochs as number,
      seed: config.seed as number,
      splitRatios: [1 - 2 * validationFraction, validationFraction, validationFraction],
      baseFilters: config.baseFilters as number,
      depth: config.depth as number,
      deeplab: {
        backbone: Number(config.backbone) as 18 | 34 | 50,
        backboneWidth: config.backboneWidth as number,
        outputStride: Number(config.outputStride) as 8 | 16,
        separable: config.separable as boolean,
        asppFilters: config.headFilters as number,
        decoderFilters: config.headFilters as number,
      },
      ...(config.backboneWeights ? { backboneWeights: config.backboneWeights as string } : {}),
      loss: named(config.loss) as LossConfig,
      optimizer: { learningRate: config.learningRate as number, ...named(config.optimizer) } as OptimizerConfig,
      schedule: named(config.schedule) as ScheduleConfig,
      ...(config.classWeights ? { classWeights: config.classWeights as number[] } : {}),
      microBatches: config.microBatches as number,
      ...((config.earlyStopping as number) > 0 ? { earlyStoppingPatience: config.earlyStopping as number } : {}),
      discriminatorFilters: config.discriminatorFilters as number,
      discriminatorEvery: config.discriminatorEvery as number,
      ...(config.shuffleBuffer === undefined ? { shuffleMemoryMiB: config.shuffleMemory as number } : { shuffleBuffer: config.shuffleBuffer as number }),
      ...(config.sampleBalance ? { sampleBalance: parseSampleBalance(config.sampleBalance as string, classMap) } : {}),
      augment: config.augment as boolean,
      checkpointDir: runPaths(out).checkpoints,
      ...((config.checkpointEvery as number) > 0 ? { checkpointEverySteps: config.checkpointEvery as number } : {}),
      resume: config.resume as boolean,
      onBadInput: config.onBadInput as 'throw' | 'skip',
      skipReport,
      signal: interrupt.signal,
    });
    const now = new Date().toISOString();
    const earlierManifest = run.resumedFrom ? await readRunManifest(out).catch(() => undefined) : undefined;
    const options = { ...config, images, labels, out };
    const changed = changedSettings(earlierManifest?.options, options);
    await writeRunManifest(out, {
      arch,
      classes: manifestClasses(classMap),
      tileSize: config.tileSize as number,
      input: { channels: run.inputChannels, ...(raster ? { raster } : {}) },
      options,
      backend: backend.backend,
      startedAt: earlierManifest?.startedAt ?? now,
      ...(run.resumedFrom ? { resumes: [...(earlierManifest?.resumes ?? []), { at: now, backend: backend.backend, checkpoint: run.resumedFrom.path, ...(changed ? { changed } : {}) }] } : {}),
      splits: { train: run.splits.train.map((p) => p.id), validation: run.splits.validation.map((p) => p.id), test: run.splits.test.map((p) => p.id) },
    });
    if (run.backboneLayers) say(`backbone: ${run.backboneLayers.length} layers from ${config.backboneWeights as string}`);
    if (run.resumedFrom) {
      for (const { file, problem } of run.resumedFrom.skipped) say(`skipped an unreadable checkpoint: ${file} (${problem})`);
      say(`resumed from ${run.resumedFrom.path}`);
    }
    say(`training ${arch} on ${run.splits.train.length} images (${run.stepsPerEpoch} steps per epoch), validating on ${run.splits.validation.length}; run folder ${out}`);
    const report = progressReporter({ stepsPerEpoch: run.stepsPerEpoch, epochs: config.epochs as number });
    let lastEpoch: { validation?: { meanIoU: number }; train: { meanIoU: number } } | undefined;
    let stopped = false;
    let steps = 0;
    try {
      await lastValueFrom(
        run.events$.pipe(
          tap((event) => {
            for (const sink of sinks) sink.write(event);
            report(event);
            if (event.type === 'epoch') lastEpoch = event;
            if (event.type === 'batch') steps++;
            if (event.type === 'stopped') stopped = true;
          }),
        ),
        { defaultValue: undefined },
      );
    } finally {
      interrupt.dispose();
    }
    if (skipReport.count > 0) say(skipReport.toString());
    if (stopped) {
      const name = interrupt.received() ?? 'SIGINT';
      say(`interrupted by ${name}: checkpoint in ${runPaths(out).checkpoints}; continue with: npx stream-train train --out ${out} --resume`);
      return EXIT_CODES[name as 'SIGINT' | 'SIGTERM'];
    }
    if (run.resumedFrom && steps === 0) say(`nothing left to train: the run in ${out} ended after ${run.start.epoch} epochs (give --epochs with more to go on)`);
    if (lastEpoch) say(`done: mean IoU ${(lastEpoch.validation ?? lastEpoch.train).meanIoU.toFixed(4)} (${lastEpoch.validation ? 'validation' : 'train'}); run folder ${out}`);
    say(`next: npx stream-train eval --run ${out} --split test`);
    return EXIT_CODES.ok;
  } finally {
    await Promise.all(sinks.map((sink) => sink.close()));
  }
}

/** `--checkpoint`, shared by eval and predict. */
const checkpointOption = (): Option =>
  new Option('--checkpoint <which>', "the run's newest checkpoint, or the one of its best epoch (validation mean IoU; training mean IoU in a run without validation images)").choices(RUN_CHECKPOINTS).default('latest');

/** `--tta`, shared by eval and predict. */
const testTimeAugmentationOption = (): Option =>
  new Option('--tta <views>', 'test-time augmentation: average each window over its 4 flips or the 8 symmetries of the square (as many model calls)').choices(TEST_TIME_AUGMENTATIONS).default('none');

async function evalCommand(options: { run: string; checkpoint: RunCheckpoint; images?: string; labels?: string; split?: Split; json?: string; csv?: string; heatmap?: string; format: string; tta: TestTimeAugmentation; backend: string }): Promise<number> {
  say((await selectBackend({ backend: options.backend as BackendName | 'auto' })).summary);
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
    ...(manifest.input?.raster ? { raster: manifest.input.raster } : {}),
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

/**
 * `predict`: for each image of the folder, OUT/<stem>.classes.png (class ids), OUT/<stem>.overlay.png and,
 * with `--polygons FORMAT`, OUT/<stem>.json: the predicted regions as polygon labels (xbd, geojson or coco, in
 * pixel coordinates). By default they read back into the same class mask; `--min-area` sieves small regions
 * into their neighbours and `--simplify` straightens boundaries, both for the polygons only (the class PNG
 * stays the model's prediction).
 */
async function predictCommand(options: { run: string; checkpoint: RunCheckpoint; images: string; out: string; overlap?: number; tta: TestTimeAugmentation; polygons?: PolygonLabelFormat; polygonCrs: PolygonCrsChoice; minArea: number; simplify: number; backend: string; bands?: number[]; bandRanges?: string }): Promise<number> {
  if (!options.polygons && (options.minArea > 0 || options.simplify > 0)) throw new RangeError('predict: --min-area and --simplify shape the polygons; give --polygons FORMAT too');
  if (!Number.isInteger(options.minArea) || options.minArea < 0) throw new RangeError(`predict: --min-area must be a whole number of pixels >= 0, got ${options.minArea}`);
  if (options.simplify < 0) throw new RangeError(`predict: --simplify must be a distance in pixels >= 0, got ${options.simplify}`);
  say((await selectBackend({ backend: options.backend as BackendName | 'auto' })).summary);
  const { manifest, model, checkpoint } = await openRun(options.run, options.checkpoint);
  say(`model: ${checkpoint}`);
  const classMap = manifestClassMap(manifest);
  const files = (await fg(`**/*.{${IMAGE_EXTENSIONS.join(',')}}`, { cwd: options.images, absolute: true, caseSensitiveMatch: false })).sort();
  if (files.length === 0) throw new InputError(options.images, 'no images (png, jpg, tif) in this folder');
  const raster = rasterReadOptions(options.bands, options.bandRanges) ?? manifest.input?.raster;
  await mkdir(options.out, { recursive: true });
  const windowOptions = { tileSize: manifest.tileSize, testTimeAugmentation: options.tta, ...(options.overlap !== undefined ? { overlap: options.overlap } : {}) };
  for (const file of files) {
    const stem = basename(file, extname(file));
    // A raster (GeoTIFF) is predicted window by window from the file, its classes written as a GeoTIFF placed
    // where it lies as rows finish: memory stays bounded at any size. The whole mask (class PNG, overlay,
    // polygons) comes back up to WHOLE_MASK_PIXELS.
    const started = Date.now();
    let reported = 0;
    // Rasters of hours of prediction say how far they are, each hundredth of their rows.
    const onProgress = (rows: number, height: number): void => {
      if (height < 4096 || Math.floor((100 * rows) / height) === reported) return;
      reported = Math.floor((100 * rows) / height);
      say(`${stem}: ${rows}/${height} rows in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    };
    const streamed = (await isRasterFile(file, raster)) ? await predictRasterFile(model, file, join(options.out, `${stem}.classes.tif`), { ...windowOptions, ...(raster ? { raster } : {}), onProgress }) : undefined;
    if (streamed && !streamed.classes) {
      say(`${stem}: ${streamed.width}x${streamed.height}, ${streamed.windows} windows -> ${stem}.classes.tif (over ${WHOLE_MASK_PIXELS} pixels: no class PNG, overlay or polygons, which need the whole mask in memory)`);
      continue;
    }
    const image = await decodeImage(file, raster);
    const prediction = streamed ? { classes: streamed.classes!, windows: streamed.windows } : await predictFullImage(model, image, windowOptions);
    await writeClassPng(prediction.classes, join(options.out, `${stem}.classes.png`));
    await writeFile(join(options.out, `${stem}.overlay.png`), await overlayPng(image, prediction.classes, manifest.classes.colors));
    const written = [`${stem}.classes.png`, `${stem}.overlay.png`, ...(streamed ? [`${stem}.classes.tif`] : [])];
    if (options.polygons) {
      const regions = options.minArea > 1 ? sieveMask(prediction.classes, { minArea: options.minArea, ignoreValue: classMap.ignoreValue }) : prediction.classes;
      const polygons = maskToSimplifiedPolygons(regions, { tolerance: options.simplify, ignoreValue: classMap.ignoreValue });
      const labelOptions = { format: options.polygons, classMap, width: image.width, height: image.height, imageFileName: basename(file) };
      if (image.georeference && options.polygons === 'geojson') await writeMapPolygons(polygons, join(options.out, `${stem}.json`), classMap, image.georeference, options.polygonCrs);
      else await writePolygonLabels(polygons, join(options.out, `${stem}.json`), labelOptions);
      written.push(`${stem}.json (${polygons.length} ${options.polygons} polygons)`);
    }
    say(`${stem}: ${image.width}x${image.height}, ${prediction.windows} windows -> ${written.join(', ')}`);
  }
  model.dispose();
  return EXIT_CODES.ok;
}

async function compareCommand(runs: string[], options: { markdown?: string; json?: string }): Promise<number> {
  const rows = await compareRuns(runs);
  const markdown = comparisonMarkdown(rows);
  process.stdout.write(markdown);
  if (options.markdown) await writeFile(options.markdown, markdown);
  if (options.json) await writeFile(options.json, `${JSON.stringify(rows, null, 2)}\n`);
  return EXIT_CODES.ok;
}

/** Declares the `train` command's options from {@link TRAIN_OPTIONS}. */
function addTrainOptions(train: Command): Command {
  train.description('train a model streaming from image and label folders (no arguments: a built-in synthetic demo run)');
  for (const spec of TRAIN_OPTIONS) {
    const option = new Option(spec.flags, spec.description);
    if (spec.choices) option.choices(spec.choices);
    if (spec.kind !== 'boolean' && spec.kind !== 'string' && spec.kind !== 'named') option.argParser(parseValue(spec.kind, spec.flags.split(' ')[0]!));
    if (spec.default !== undefined && !(spec.kind === 'boolean' && spec.default === true)) option.default(spec.default);
    train.addOption(option);
  }
  return train;
}

/**
 * The configuration `train` would run with for these arguments (after `train`): defaults, then the
 * `--config` file, then the flags. For checking a config without training.
 *
 * @example
 * ```ts
 * const config = await parseTrainConfig(['--config', 'run.yaml', '--epochs', '3']);
 * ```
 */
export async function parseTrainConfig(args: readonly string[]): Promise<TrainConfig> {
  const command = addTrainOptions(new Command('train')).exitOverride().configureOutput({ writeErr: () => undefined });
  command.parse([...args], { from: 'user' });
  return mergedTrainConfig(command);
}

/** The `stream-train` program; `run` parses argv and returns the exit code. */
export function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command('stream-train')
    .description('Train, evaluate and apply semantic-segmentation models on aerial imagery, streaming on TensorFlow.js.')
    .showHelpAfterError()
    // Before the commands are added, so that they inherit it: usage errors come back to runCli as exit code 2.
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });

  addTrainOptions(program.command('train')).action(async (_options, command: Command) => setExitCode(await trainCommand(command)));

  program
    .command('eval')
    .description('evaluate a trained run on a labelled folder or on one of its splits: per-class table, JSON, confusion CSV and heat map')
    .requiredOption('--run <dir>', 'run folder written by train')
    .addOption(checkpointOption())
    .option('--images <dir>', "image folder (default with --split: the run's)")
    .option('--labels <dir>', "label folder (default with --split: the run's)")
    .addOption(new Option('--split <name>', "evaluate only the run's train, validation or test images").choices(['train', 'validation', 'test']))
    .option('--json <file>', 'also write the report here (always written to RUN/eval.json)')
    .option('--csv <file>', 'confusion matrix CSV', undefined)
    .option('--heatmap <file>', 'confusion matrix PNG heat map')
    .option('--format <format>', 'label format', 'auto')
    .addOption(testTimeAugmentationOption())
    .option('--backend <name>', 'auto, tensorflow-gpu, tensorflow, wasm or cpu', 'auto')
    .action(async (options) => setExitCode(await evalCommand(options)));

  program
    .command('predict')
    .description('predict full-size images with overlapping, blended windows: class-index PNG and colour overlay per image, polygon labels with --polygons')
    .requiredOption('--run <dir>', 'run folder written by train')
    .addOption(checkpointOption())
    .requiredOption('--images <dir>', 'images of any size')
    .requiredOption('--out <dir>', 'output folder')
    .addOption(new Option('--overlap <px>', 'pixels shared by neighbouring windows (default: a quarter of the tile)').argParser(parseValue('integer', '--overlap') as (v: string) => number))
    .addOption(testTimeAugmentationOption())
    .addOption(
      new Option('--polygons <format>', "also write each image's predicted regions as polygon labels OUT/<stem>.json, in pixel coordinates (geojson of a GeoTIFF: map coordinates, see --polygon-crs), in a format the label readers take: xbd (xView2 WKT), geojson or coco")
        .choices(POLYGON_LABEL_FORMATS),
    )
    .addOption(new Option('--polygon-crs <crs>', "with --polygons geojson on a GeoTIFF: map coordinates in the raster's CRS (raster) or in WGS 84 longitude/latitude (wgs84)").choices(POLYGON_CRS_CHOICES).default('raster'))
    .addOption(new Option('--min-area <pixels>', 'with --polygons: regions of fewer pixels join the neighbour they share the longest border with (0: keep every region)').default(0).argParser(parseValue('integer', '--min-area') as (v: string) => number))
    .addOption(new Option('--simplify <pixels>', 'with --polygons: straighten boundaries to within this distance, shared boundaries alike on both sides (0: exact pixel edges)').default(0).argParser(parseValue('number', '--simplify') as (v: string) => number))
    .option('--backend <name>', 'auto, tensorflow-gpu, tensorflow, wasm or cpu', 'auto')
    .addOption(new Option('--bands <b,...>', "raster bands to predict from, numbered from 1 (default: the run's selection)").argParser(parseValue('numbers', '--bands') as (v: string) => number[]))
    .option('--band-ranges <low:high,...>', "each band's sample range mapped onto 0..255 (default: the run's ranges, else from each raster)")
    .action(async (options) => setExitCode(await predictCommand(options)));

  program
    .command('compare')
    .description('several evaluated runs side by side: F1, recall, precision, accuracy, mean IoU per architecture')
    .argument('<runs...>', 'run folders, each evaluated with eval')
    .option('--markdown <file>', 'write the Markdown table here too')
    .option('--json <file>', 'write the rows as JSON')
    .action(async (runs: string[], options) => setExitCode(await compareCommand(runs, options)));

  program
    .command('prepare')
    .description('JSON labels to class-index PNG masks (and optionally tiles), with per-class pixel counts per split')
    .requiredOption('--images <dir>', 'image folder')
    .requiredOption('--labels <dir>', 'label folder')
    .requiredOption('--out <dir>', 'output folder')
    .option('--classes <preset|file>', 'class map preset or JSON class file', 'xbd')
    .option('--format <format>', 'auto, xbd, labelme, coco, geojson or mask', 'auto')
    .option('--previews', 'also write colour previews to OUT/previews', false)
    .addOption(new Option('--tiles <formats>', 'also write the tiles of each split to OUT/tiles/<split>: png, npy or png,npy').argParser(parseTileFormats))
    .addOption(new Option('--tile-size <px>', 'tile side with --tiles').default(256).argParser(parseValue('integer', '--tile-size') as (v: string) => number))
    .addOption(new Option('--stride <px>', 'tile stride with --tiles (default: the tile size; smaller overlaps)').argParser(parseValue('integer', '--stride') as (v: string) => number))
    .addOption(new Option('--edge <policy>', 'tiles past the image edge: pad (with the ignore value), drop or shift').choices(['pad', 'drop', 'shift']).default('pad'))
    .option('--on-bad-input <policy>', 'throw: stop at the first bad file; skip: go on and report it', 'throw')
    .option('--degenerate-shapes <policy>', 'error or skip polygons with under 3 points or zero area', 'error')
    .action(async (options) => setExitCode(await prepareCommand(options)));
  return program;
}

async function prepareCommand(options: {
  images: string;
  labels: string;
  out: string;
  classes: string;
  format: string;
  previews: boolean;
  tiles?: Array<'png' | 'npy'>;
  tileSize: number;
  stride?: number;
  edge: 'pad' | 'drop' | 'shift';
  onBadInput: 'throw' | 'skip';
  degenerateShapes: 'error' | 'skip';
}): Promise<number> {
  const summary = await prepareMasks({
    imagesDir: options.images,
    labelsDir: options.labels,
    outDir: options.out,
    classMap: await resolveClassMap(options.classes),
    format: options.format,
    previews: options.previews,
    ...(options.tiles ? { tiles: { formats: options.tiles, size: options.tileSize, edge: options.edge, ...(options.stride ? { stride: options.stride } : {}) } } : {}),
    onBadInput: options.onBadInput,
    degenerateShapes: options.degenerateShapes,
  });
  process.stdout.write(`${formatPrepareSummary(summary)}\n`);
  return EXIT_CODES.ok;
}

/**
 * Runs the CLI on `argv` (as process.argv) and returns the exit code. Errors print one line (the file and
 * the problem for bad input), not a stack, and give exit code 1; usage errors give 2.
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  let code: number = EXIT_CODES.ok;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    const commanderCode = (error as { code?: string }).code;
    if (commanderCode === 'commander.helpDisplayed' || commanderCode === 'commander.version' || commanderCode === 'commander.help') return EXIT_CODES.ok;
    if (commanderCode?.startsWith('commander.')) return EXIT_CODES.usage;
    say(`error: ${error instanceof Error ? error.message : String(error)}`);
    if (process.env.SEGSTREAM_DEBUG) console.error(error);
    return error instanceof RangeError || error instanceof TypeError ? EXIT_CODES.usage : EXIT_CODES.error;
  }
  return code;
}
