import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { lastValueFrom, tap } from 'rxjs';
import { type BackendName, selectBackend } from '../../backend/selectBackend.js';
import { InputError, SkipReport } from '../../errors.js';
import { jpegDecoderLine, setImageMallocThresholds } from '../../io/nativeReading.js';
import { readLabelMask } from '../../labels/readLabelMask.js';
import type { LossConfig } from '../../losses/buildLoss.js';
import type { ResNetDepth } from '../../models/resnet.js';
import { prepareTrainingRun } from '../../pipelines/trainPipeline.js';
import { manifestClasses, readRunManifest, runPaths, writeRunManifest } from '../../runs/runDirectory.js';
import { createSink } from '../../sinks/createSink.js';
import { ndjsonSink } from '../../sinks/ndjsonSink.js';
import type { MetricSink } from '../../sinks/sinkEvents.js';
import { writeSyntheticXbd } from '../../sources/syntheticDataset.js';
import { turnedTileCopyLine } from '../../tiling/turnedTileCopy.js';
import { assertCheckpointDirWritable, newestCheckpointName } from '../../training/checkpoint.js';
import type { OptimizerConfig } from '../../training/optimizers.js';
import type { ScheduleConfig } from '../../training/schedules.js';
import { parseSampleBalance, resolveClassMap } from '../classes.js';
import { progressReporter } from '../progress.js';
import { rasterReadOptions, resumedRasterOptions } from '../rasterOptions.js';
import { EXIT_CODES, say } from '../terminal.js';
import { addTrainOptions, mergedTrainConfig } from '../trainConfig.js';

/** A `named` option's value as the config object it names: `--loss dice`, or `{ name: 'dice', ... }` from a config file. */
const named = <Config extends { name: string }>(value: Config | Config['name']): Config =>
  typeof value === 'string' ? ({ name: value } as Config) : value;

/**
 * The settings a resume changes, each with its value before and after; undefined when none does. run.json
 * keeps only the newest settings, so without this a run continued with another loss or schedule would not
 * say which steps were trained with which.
 */
function changedSettings(
  before: Record<string, unknown> | undefined,
  after: Record<string, unknown>,
): Record<string, { from: unknown; to: unknown }> | undefined {
  if (before === undefined) return undefined;
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(
    (key) => key !== 'resume',
  );
  const changed = keys.filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]));
  return changed.length > 0
    ? Object.fromEntries(changed.map((key) => [key, { from: before[key] ?? null, to: after[key] ?? null }]))
    : undefined;
}

/** Stops at the next batch boundary on the first SIGINT/SIGTERM; a second one exits at once. */
function interruptOnSignals(): {
  signal: AbortSignal;
  received: () => 'SIGINT' | 'SIGTERM' | null;
  dispose: () => void;
} {
  const controller = new AbortController();
  let received: 'SIGINT' | 'SIGTERM' | null = null;
  const onSignal = (name: 'SIGINT' | 'SIGTERM'): void => {
    if (received) {
      say(`${name} again: exiting without waiting for the checkpoint`);
      process.exit(EXIT_CODES[name]);
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

/** `train`: a run folder with checkpoints, run.json and metrics.ndjson; the exit code says whether it was interrupted. */
async function train(command: Command): Promise<number> {
  const config = await mergedTrainConfig(command);
  const { arch } = config;
  // The option table leaves --backend free text; selectBackend names the backends it knows when given another.
  const backend = await selectBackend({
    backend: config.backend as BackendName | 'auto' | undefined,
    ...(config.wasmThreads > 0 ? { wasmThreads: config.wasmThreads } : {}),
  });
  say(backend.summary);
  // This process is the CLI's own, so it may set the allocator for the images and tiles it streams.
  say(`reading: JPEG with ${jpegDecoderLine()}; ${setImageMallocThresholds()}; ${turnedTileCopyLine()}`);
  const out = config.out ?? join('runs', `${new Date().toISOString().replace(/[:.]/g, '-')}-${arch}`);
  // Before anything is written there (synthetic data, metrics): a read-only or full --out fails here, in one line.
  await assertCheckpointDirWritable(runPaths(out).checkpoints);
  // A new run in a folder that holds one would append to its log and lose its own checkpoints to the rotation
  // (it keeps the highest step numbers, the old run's).
  const earlier = config.resume ? undefined : await newestCheckpointName(runPaths(out).checkpoints);
  if (earlier)
    throw new InputError(
      runPaths(out).checkpoints,
      `holds the checkpoints of an earlier run (newest ${earlier}): continue it with --resume, or train into another --out`,
    );
  let { images, labels } = config;
  if ((images === undefined) !== (labels === undefined))
    throw new RangeError(
      'train: give both --images and --labels, or neither for the built-in synthetic default',
    );
  if (images === undefined || labels === undefined) {
    const synthetic = await writeSyntheticXbd(join(out, 'data'), {
      images: config.syntheticImages,
      size: 256,
      seed: config.seed + 1,
    });
    ({ imagesDir: images, labelsDir: labels } = synthetic);
    say(
      `no --images/--labels: generated ${config.syntheticImages} synthetic xBD-format images (${Object.entries(
        synthetic.buildings,
      )
        .map(([k, v]) => `${v} ${k}`)
        .join(', ')}) in ${join(out, 'data')}`,
    );
  }
  const classMap = await resolveClassMap(config.classes);
  await mkdir(out, { recursive: true });

  const sinks: MetricSink[] = [ndjsonSink(runPaths(out).metrics)];
  try {
    for (const spec of config.metrics) {
      const sink = createSink(spec, config.metricsToken ? { token: config.metricsToken } : {});
      sinks.push(sink);
      if ('listening' in sink)
        say(
          `live dashboard: ${await sink.listening}${config.metricsToken ? '?token=…' : ''}  (SSE at /events, Prometheus at /metrics)`,
        );
    }
    const interrupt = interruptOnSignals();
    const skipReport = new SkipReport();
    const { validationFraction } = config;
    if (validationFraction >= 0.5)
      throw new RangeError(
        `train: --validation-fraction must be below 0.5 (as much again is held out for test), got ${validationFraction}`,
      );
    const recorded = config.resume ? await readRunManifest(out).catch(() => undefined) : undefined;
    const raster = resumedRasterOptions(
      rasterReadOptions(config.bands, config.bandRanges),
      recorded?.input?.raster,
    );
    const run = await prepareTrainingRun({
      arch,
      imagesDir: images,
      labelsDir: labels,
      classMap,
      readMask: readLabelMask,
      ...(config.format !== 'auto' ? { format: config.format } : {}),
      ...(raster ? { raster } : {}),
      tileSize: config.tileSize,
      batchSize: config.batchSize,
      epochs: config.epochs,
      seed: config.seed,
      ...(config.drawSeed !== undefined ? { drawSeed: config.drawSeed } : {}),
      splitRatios: [1 - 2 * validationFraction, validationFraction, validationFraction],
      baseFilters: config.baseFilters,
      depth: config.depth,
      deeplab: {
        backbone: Number(config.backbone) as ResNetDepth,
        backboneWidth: config.backboneWidth,
        outputStride: Number(config.outputStride) as 8 | 16,
        separable: config.separable,
        asppFilters: config.headFilters,
        decoderFilters: config.headFilters,
      },
      ...(config.backboneWeights ? { backboneWeights: config.backboneWeights } : {}),
      loss: named<LossConfig>(config.loss),
      optimizer: { learningRate: config.learningRate, ...named<OptimizerConfig>(config.optimizer) },
      schedule: named<ScheduleConfig>(config.schedule),
      ...(config.classWeights ? { classWeights: config.classWeights } : {}),
      microBatches: config.microBatches,
      ...(config.earlyStopping > 0 ? { earlyStoppingPatience: config.earlyStopping } : {}),
      discriminatorFilters: config.discriminatorFilters,
      discriminatorEvery: config.discriminatorEvery,
      ...(config.shuffleBuffer === undefined
        ? { shuffleMemoryMiB: config.shuffleMemory }
        : { shuffleBuffer: config.shuffleBuffer }),
      ...(config.sampleBalance ? { sampleBalance: parseSampleBalance(config.sampleBalance, classMap) } : {}),
      augment: config.augment,
      checkpointDir: runPaths(out).checkpoints,
      ...(config.checkpointEvery > 0 ? { checkpointEverySteps: config.checkpointEvery } : {}),
      resume: config.resume,
      onBadInput: config.onBadInput,
      skipReport,
      signal: interrupt.signal,
    });
    const now = new Date().toISOString();
    const earlierManifest = run.resumedFrom ? recorded : undefined;
    const options = { ...config, images, labels, out };
    const changed = changedSettings(earlierManifest?.options, options);
    await writeRunManifest(out, {
      arch,
      classes: manifestClasses(classMap),
      tileSize: config.tileSize,
      input: { channels: run.inputChannels, ...(run.raster ? { raster: run.raster } : {}) },
      options,
      backend: backend.backend,
      startedAt: earlierManifest?.startedAt ?? now,
      ...(run.resumedFrom
        ? {
            resumes: [
              ...(earlierManifest?.resumes ?? []),
              {
                at: now,
                backend: backend.backend,
                checkpoint: run.resumedFrom.path,
                ...(changed ? { changed } : {}),
              },
            ],
          }
        : {}),
      splits: {
        train: run.splits.train.map((p) => p.id),
        validation: run.splits.validation.map((p) => p.id),
        test: run.splits.test.map((p) => p.id),
      },
    });
    if (run.backboneLayers)
      say(`backbone: ${run.backboneLayers.length} layers from ${config.backboneWeights}`);
    if (run.resumedFrom) {
      for (const { file, problem } of run.resumedFrom.skipped)
        say(`skipped an unreadable checkpoint: ${file} (${problem})`);
      say(`resumed from ${run.resumedFrom.path}`);
    }
    say(
      `training ${arch} on ${run.splits.train.length} images (${run.stepsPerEpoch} steps per epoch), validating on ${run.splits.validation.length}; run folder ${out}`,
    );
    const report = progressReporter({ stepsPerEpoch: run.stepsPerEpoch, epochs: config.epochs });
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
      say(
        `interrupted by ${name}: checkpoint in ${runPaths(out).checkpoints}; continue with: npx stream-train train --out ${out} --resume`,
      );
      return EXIT_CODES[name];
    }
    if (run.resumedFrom && steps === 0)
      say(
        `nothing left to train: the run in ${out} ended after ${run.start.epoch} epochs (give --epochs with more to go on)`,
      );
    if (lastEpoch)
      say(
        `done: mean IoU ${(lastEpoch.validation ?? lastEpoch.train).meanIoU.toFixed(4)} (${lastEpoch.validation ? 'validation' : 'train'}); run folder ${out}`,
      );
    say(`next: npx stream-train eval --run ${out} --split test`);
    return EXIT_CODES.ok;
  } finally {
    await Promise.all(sinks.map((sink) => sink.close()));
  }
}

/** Adds `train` to the program: its options from the option table, config files and --resume. */
export function addTrainCommand(program: Command, setExitCode: (code: number) => void): void {
  addTrainOptions(program.command('train')).action(async (_options, command: Command) =>
    setExitCode(await train(command)),
  );
}
