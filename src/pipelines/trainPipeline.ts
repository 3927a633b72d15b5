import type * as tf from '@tensorflow/tfjs';
import { concatMap, defer, from, type Observable, of } from 'rxjs';
import {
  type BadInputPolicy,
  handleBadInput,
  InputError,
  type SkippedItem,
  type SkipReport,
} from '../errors.js';
import { headerOf, type ImageProbe, probeImage, readImageHeader } from '../io/decodeImage.js';
import { type RasterReadOptions, sharedBandRanges } from '../io/geoTiff.js';
import { labelWindowsReader, OpenRasters } from '../io/openRasters.js';
import { type ReadLabelMask, readLabelledImage } from '../io/readLabelledImage.js';
import { readLabelledWindow } from '../io/readTiles.js';
import type { ClassMap } from '../labels/classMap.js';
import type { LossConfig } from '../losses/buildLoss.js';
import { loadBackboneWeights } from '../models/backboneWeights.js';
import { type ArchitectureName, buildNetworks } from '../models/buildNetworks.js';
import type { DeepLabV3PlusOptions } from '../models/deeplabv3plus.js';
import { splitMicroBatches } from '../operators/splitMicroBatches.js';
import { train } from '../operators/train.js';
import { predictFullImage } from '../predict/slidingWindow.js';
import { sidePanelPng } from '../predict/writePrediction.js';
import type { MetricEvent, PredictionSampleEvent } from '../sinks/sinkEvents.js';
import { pairFiles } from '../sources/pairFiles.js';
import { type SplitPairs, splitBySource } from '../sources/splitBySource.js';
import { tileBatches } from '../sources/tileBatches.js';
import {
  type BalanceClassesOptions,
  checkBalanceClasses,
  windowHoldsClasses,
} from '../tiling/classBalance.js';
import { DEFAULT_SHUFFLE_MEMORY_MIB, shuffleBufferForMemory } from '../tiling/shuffleBudget.js';
import { blockWindow, rasterBlockTiles, tileBlocks, tileGrid, tilePositions } from '../tiling/tileGrid.js';
import {
  assertCheckpointDirWritable,
  loadLatestCheckpoint,
  resumeSourcePosition,
} from '../training/checkpoint.js';
import type { OptimizerConfig } from '../training/optimizers.js';
import type { ScheduleConfig } from '../training/schedules.js';
import type { ClassMask, LabelledPair, TensorBatch } from '../types.js';

/** Everything a training run is configured by; the CLI's `train` options map onto it one to one. */
export interface TrainPipelineOptions {
  arch: ArchitectureName;
  imagesDir: string;
  labelsDir: string;
  classMap: ClassMap;
  /** Reads label files into masks: the labels module's `readLabelMask`. */
  readMask: ReadLabelMask;
  /** Label format, or undefined to detect it per file. */
  format?: string;
  /**
   * Band selection and ranges for multi-band and georeferenced rasters (see `decodeImage`). The model takes
   * as many input channels as the images have (3 for PNG and JPEG, one per selected band for rasters).
   * Without ranges, the run computes one range per band over all its training rasters (see
   * `sharedBandRanges`) and reads every image, validation ones included, with them.
   */
  raster?: RasterReadOptions;
  /** [tileSize=256] */
  tileSize?: number;
  /** [batchSize=4] */
  batchSize?: number;
  /** [epochs=1] */
  epochs?: number;
  /** [seed=0] Split, shuffle, augmentation and initial weights derive from it. */
  seed?: number;
  /**
   * [drawSeed=seed] Moves only what training draws as it goes: tile order, augmentation and dropout masks.
   * The split and initial weights stay those of `seed`, so runs that differ in it alone measure how much a
   * model's quality owes to the draws.
   */
  drawSeed?: number;
  /** [splitRatios=[0.8, 0.1, 0.1]] Train, validation, test by source image. */
  splitRatios?: readonly [number, number, number];
  /** [baseFilters=16] First-level filters (UNet and the Pix2Pix generator). */
  baseFilters?: number;
  /** [depth] UNet depth (pooling steps). */
  depth?: number;
  /** DeepLabV3+'s backbone and head (defaults: ResNet-50 of width 64, output stride 16, 256-filter head). */
  deeplab?: Pick<
    DeepLabV3PlusOptions,
    'backbone' | 'backboneWidth' | 'outputStride' | 'separable' | 'asppFilters' | 'decoderFilters'
  >;
  /**
   * DeepLabV3+: a saved TF.js ResNet (path, file:// or http(s) URL of its model.json, e.g. Keras' ImageNet
   * ResNet-50 converted: docs/RESNET_WEIGHTS.md) whose layers are copied into the backbone by name before a
   * new run starts. Ignored when resuming (the checkpoint holds the trained weights).
   */
  backboneWeights?: string;
  /** The loss; for Pix2Pix, its generator's segmentation term (without one, Pix2Pix's L1 on softmax outputs). */
  loss?: LossConfig;
  optimizer?: OptimizerConfig;
  /** A schedule, or its name for the defaults over this run (see {@link scheduleForRun}). */
  schedule?: ScheduleConfig | ScheduleConfig['name'];
  classWeights?: number[];
  /**
   * [microBatches=1] Gradient accumulation: each batch of `batchSize` tiles is split into this many equal
   * micro-batches whose gradients are summed into one optimizer step. `batchSize` must be a multiple of it;
   * each epoch then leaves out its last batch if it is short.
   */
  microBatches?: number;
  /** Stop when the monitored metric (validation mean IoU when there is validation) has not improved for this many epochs. */
  earlyStoppingPatience?: number;
  /** [discriminatorFilters=64] Pix2Pix: filters of the PatchGAN discriminator's first layer (doubled per layer up to 512). */
  discriminatorFilters?: number;
  /** [discriminatorEvery=4] Pix2Pix: update the discriminator on every k-th optimizer step. */
  discriminatorEvery?: number;
  /** Tiles in the shuffle buffer (0: no shuffle); overrides `shuffleMemoryMiB`. */
  shuffleBuffer?: number;
  /**
   * [shuffleMemoryMiB=DEFAULT_SHUFFLE_MEMORY_MIB] The shuffle buffer as a memory budget: as many tiles as
   * fit (see `shuffleBufferForMemory`), so that batches mix many scenes at any tile size.
   */
  shuffleMemoryMiB?: number;
  /** Class-balanced sampling of the training tiles (see `balanceClasses`); validation is never balanced. */
  sampleBalance?: BalanceClassesOptions;
  /** [augment=true] Seeded flips, turns and colour jitter. */
  augment?: boolean;
  /** Checkpoints (every epoch, on stop and at the end) go here; `resume` continues from the newest. */
  checkpointDir?: string;
  checkpointEverySteps?: number;
  resume?: boolean;
  /** [concurrency=cores] Images decoded at once. */
  concurrency?: number;
  onBadInput?: BadInputPolicy;
  skipReport?: SkipReport;
  /** Aborting stops at the next batch boundary and writes a checkpoint. */
  signal?: AbortSignal;
  /**
   * [samples=true] After each epoch, predict the first validation image (a raster's top-left 1024 px) and emit
   * it as a `sample` event.
   */
  samples?: boolean;
}

/**
 * A schedule completed for a run of `epochs` x `stepsPerEpoch` optimizer steps: a name gets that schedule's
 * defaults (step: x0.1 every third of the epochs; cosine and poly: over the whole run), and cosine or poly
 * without `totalSteps` get the run's.
 */
export function scheduleForRun(
  schedule: ScheduleConfig | ScheduleConfig['name'],
  epochs: number,
  stepsPerEpoch: number,
): ScheduleConfig {
  const totalSteps = epochs * stepsPerEpoch;
  const config =
    typeof schedule === 'string'
      ? ({ name: schedule } as Partial<ScheduleConfig> & { name: ScheduleConfig['name'] })
      : schedule;
  switch (config.name) {
    case 'step':
      return { everyEpochs: Math.max(1, Math.round(epochs / 3)), gamma: 0.1, ...config } as ScheduleConfig;
    case 'cosine':
      return { totalSteps, ...config } as ScheduleConfig;
    case 'poly':
      return { totalSteps, power: 0.9, ...config } as ScheduleConfig;
    default:
      return config as ScheduleConfig;
  }
}

/** A prepared run: its pairs and networks, and the events it emits once subscribed. */
export interface TrainingRun {
  splits: SplitPairs;
  /** Channels of every image of the run, the model's input channels. */
  inputChannels: number;
  /**
   * How the run reads rasters: the given band selection and ranges, or the ranges computed over its training
   * rasters. What eval and predict must read with (run.json's `input`); undefined when neither applies.
   */
  raster?: RasterReadOptions;
  model: tf.LayersModel;
  discriminator?: tf.LayersModel;
  stepsPerEpoch: number;
  /** Epoch and step the run starts at (non-zero when resuming). */
  start: { epoch: number; batch: number };
  /** Subscribing starts training; the trainer's events and a sample prediction per epoch. */
  events$: Observable<MetricEvent>;
  /** The backbone layers that received weights from `backboneWeights`. */
  backboneLayers?: string[];
  /** The checkpoint a resumed run starts from, and the newer ones that could not be read. */
  resumedFrom?: { path: string; skipped: SkippedItem[] };
}

/**
 * Tiles per epoch, without decoding an image: how many batches make one epoch. From the image headers, and
 * with balanced sampling also from the label masks (a tile holding a balanced class counts `factor` times).
 * A raster's mask is rasterized block by block over the windows its tiles are read from, its labels read
 * once, so counting holds one block's mask, never the raster's.
 */
async function countTiles(
  pairs: readonly LabelledPair[],
  probes: ImageProbes,
  tileSize: number,
  options: TrainPipelineOptions,
): Promise<number> {
  const grid = tileGrid({ size: tileSize });
  const policy = options.onBadInput ?? 'throw';
  const balance = options.sampleBalance;
  const rasters = new OpenRasters(labelWindowsReader(options.readMask));
  const draws = (mask: ClassMask, x: number, y: number): number =>
    balance && windowHoldsClasses(mask, x, y, tileSize, balance) ? balance.factor : 1;
  let tiles = 0;
  for (const pair of pairs) {
    const probe = probes.get(pair.imagePath);
    if (!probe) continue;
    try {
      const { width, height, raster } = headerOf(probe, options.raster);
      let imageTiles = 0;
      if (!balance) {
        imageTiles = tilePositions(width, height, grid).length;
      } else if (raster) {
        try {
          for (const block of tileBlocks(width, height, grid, rasterBlockTiles(grid))) {
            const window = blockWindow(block, width, height, tileSize);
            const mask = await rasters.use(pair, options, async ({ labels }) => labels.mask(window));
            for (const y of block.rows)
              for (const x of block.columns) imageTiles += draws(mask, x - window.x, y - window.y);
          }
        } finally {
          await rasters.release(pair.imagePath);
        }
      } else {
        const mask = await options.readMask(
          pair,
          { width, height },
          options.classMap,
          options.format ? { format: options.format } : {},
        );
        for (const { x, y } of tilePositions(width, height, grid)) imageTiles += draws(mask, x, y);
      }
      tiles += imageTiles;
    } catch (error) {
      // Under `skip` an image whose labels cannot be read counts no tiles; the source reports it.
      handleBadInput(error, policy, undefined);
    }
  }
  return tiles;
}

/** The header of each image of a run that could be read, by path: read once for all start-up passes. */
type ImageProbes = ReadonlyMap<string, ImageProbe>;

/**
 * Reads each image's header once. Under `skip` an unreadable image is left out of the map, and so counts no
 * tiles; the source reports it when it reaches it.
 */
async function probeImages(
  pairs: readonly LabelledPair[],
  options: TrainPipelineOptions,
): Promise<ImageProbes> {
  const probes = new Map<string, ImageProbe>();
  for (const { imagePath } of pairs) {
    try {
      probes.set(imagePath, await probeImage(imagePath));
    } catch (error) {
      handleBadInput(error, options.onBadInput ?? 'throw', undefined);
    }
  }
  return probes;
}

/**
 * The channel count all images of a run share, from their headers: the model's input channels.
 * @throws InputError naming an image whose count differs from the first image's.
 */
function sharedChannelCount(
  pairs: readonly LabelledPair[],
  probes: ImageProbes,
  raster: RasterReadOptions | undefined,
): number {
  let first: { path: string; channels: number } | undefined;
  for (const { imagePath } of pairs) {
    const probe = probes.get(imagePath);
    if (!probe) continue;
    const { channels } = headerOf(probe, raster);
    first ??= { path: imagePath, channels };
    if (channels !== first.channels) {
      throw new InputError(
        imagePath,
        `has ${channels} channels (bands) but ${first.path} has ${first.channels}: the images of one run must have the same band count (select bands with --bands)`,
      );
    }
  }
  if (!first) throw new InputError(pairs[0]!.imagePath, 'no image of the run could be read');
  return first.channels;
}

/**
 * The raster read options of a run: the given ones when they hold ranges, else with the ranges shared by
 * the training split's rasters (see `sharedBandRanges`; none for PNG/JPEG or 8-bit rasters), so that training,
 * validation, eval and predict map a sample value onto the same 8-bit value in every raster of the survey.
 */
async function runRasterOptions(
  train: readonly LabelledPair[],
  probes: ImageProbes,
  options: TrainPipelineOptions,
): Promise<RasterReadOptions | undefined> {
  if (options.raster?.ranges) return options.raster;
  const policy = options.onBadInput ?? 'throw';
  const rasters = train
    .map(({ imagePath }) => ({ imagePath, probe: probes.get(imagePath) }))
    .filter(({ probe }) => probe && headerOf(probe, options.raster).raster)
    .map(({ imagePath }) => imagePath);
  const ranges = await sharedBandRanges(rasters, options.raster?.bands, (error) =>
    handleBadInput(error, policy, undefined),
  );
  return ranges ? { ...options.raster, ranges } : options.raster;
}

/**
 * Sets up a training run that streams straight from image and label folders: pairs the files, splits them
 * by source image, builds the architecture's networks (or restores them from the newest checkpoint), and
 * composes tileBatches -> train. Nothing is read or trained until `events$` is subscribed.
 *
 * @example
 * ```ts
 * const run = await prepareTrainingRun({ arch: 'unet', imagesDir, labelsDir, classMap: xbdClassMap(), readMask: readLabelMask, epochs: 2 });
 * run.events$.subscribe((event) => console.log(event.type));
 * ```
 * @param options See {@link TrainPipelineOptions}.
 * @throws Error when no image finds its label, naming the folders.
 */
export async function prepareTrainingRun(options: TrainPipelineOptions): Promise<TrainingRun> {
  const tileSize = options.tileSize ?? 256;
  const batchSize = options.batchSize ?? 4;
  const epochs = options.epochs ?? 1;
  const seed = options.seed ?? 0;
  const drawSeed = options.drawSeed ?? seed;
  const numClasses = options.classMap.names.length;
  // A read-only or full disk is found now, not at the first checkpoint.
  if (options.checkpointDir) await assertCheckpointDirWritable(options.checkpointDir);
  const { pairs, imagesWithoutLabels } = await pairFiles({
    imagesDir: options.imagesDir,
    labelsDir: options.labelsDir,
  });
  // Left out under either policy, and reported.
  for (const image of imagesWithoutLabels)
    options.skipReport?.add(new InputError(image, `no label file of the same name in ${options.labelsDir}`));
  if (pairs.length === 0)
    throw new Error(
      `no image in ${options.imagesDir} has a label file of the same name in ${options.labelsDir}`,
    );
  const splits = splitBySource(pairs, { ratios: options.splitRatios ?? [0.8, 0.1, 0.1], seed });
  if (splits.train.length === 0)
    throw new Error(
      `the train split is empty: ${pairs.length} pairs with split ratios ${JSON.stringify(options.splitRatios)}`,
    );
  if (options.backboneWeights !== undefined && options.arch !== 'deeplabv3plus') {
    throw new RangeError(`train: backbone weights are for deeplabv3plus, not ${options.arch}`);
  }
  const microBatches = options.microBatches ?? 1;
  if (!Number.isInteger(microBatches) || microBatches < 1 || batchSize % microBatches !== 0) {
    throw new RangeError(
      `train: the batch size (${batchSize}) must be a multiple of the micro-batches (${microBatches})`,
    );
  }
  if (options.sampleBalance) checkBalanceClasses(options.sampleBalance);
  const runPairs = [...splits.train, ...splits.validation, ...splits.test];
  const probes = await probeImages(runPairs, options);
  const inputChannels = sharedChannelCount(runPairs, probes, options.raster);
  const raster = await runRasterOptions(splits.train, probes, options);
  // Every image of the run, validation and samples included, is read with the run's ranges.
  const reading: TrainPipelineOptions = raster ? { ...options, raster } : options;
  const tilesPerEpoch = await countTiles(splits.train, probes, tileSize, reading);
  // Micro-batches need whole batches, so a short last batch is left out of each epoch.
  const stepsPerEpoch =
    microBatches > 1 ? Math.floor(tilesPerEpoch / batchSize) : Math.ceil(tilesPerEpoch / batchSize);
  if (stepsPerEpoch === 0)
    throw new RangeError(`train: ${tilesPerEpoch} training tiles do not fill one batch of ${batchSize}`);

  const resumed =
    options.resume && options.checkpointDir ? await loadLatestCheckpoint(options.checkpointDir) : null;
  const networks = resumed
    ? { model: resumed.models.model!, discriminator: resumed.models.discriminator }
    : buildNetworks(options.arch, {
        numClasses,
        inputChannels,
        seed,
        unet: {
          ...(options.baseFilters ? { baseFilters: options.baseFilters } : {}),
          ...(options.depth ? { depth: options.depth } : {}),
        },
        pix2pixGenerator: {
          depth: pix2pixDepth(tileSize),
          ...(options.baseFilters ? { baseFilters: options.baseFilters } : {}),
        },
        pix2pixDiscriminator: options.discriminatorFilters
          ? { baseFilters: options.discriminatorFilters }
          : {},
        ...(options.deeplab ? { deeplabv3plus: options.deeplab } : {}),
      });
  const modelChannels = networks.model.inputs[0]!.shape[3];
  if (resumed && modelChannels !== inputChannels) {
    throw new InputError(
      resumed.path,
      `holds a model of ${modelChannels} input channels, but the images have ${inputChannels}: resume with the band selection the run was trained with`,
    );
  }
  const backboneLayers =
    options.backboneWeights !== undefined && !resumed
      ? (await loadBackboneWeights(networks.model, options.backboneWeights)).copied
      : undefined;
  // The source counts whole batches; the trainer's position counts the micro-batches it consumed.
  const start = resumed
    ? { epoch: resumed.position.epoch, batch: resumeSourcePosition(resumed.position).batch / microBatches }
    : { epoch: 0, batch: 0 };
  const common = {
    classMap: options.classMap,
    readMask: options.readMask,
    ...(options.format ? { format: options.format } : {}),
    ...(raster ? { raster } : {}),
    tile: { size: tileSize },
    batchSize,
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    onBadInput: options.onBadInput ?? 'throw',
    ...(options.skipReport ? { skipReport: options.skipReport } : {}),
    tensors: { ignoreValue: options.classMap.ignoreValue },
  };
  const validation =
    splits.validation.length > 0
      ? (epoch: number): Observable<TensorBatch> =>
          tileBatches({
            ...common,
            pairs: splits.validation,
            ...(options.skipReport ? { skipReport: options.skipReport.inEpoch(epoch) } : {}),
          }) as Observable<TensorBatch>
      : undefined;
  const shuffleBuffer =
    options.shuffleBuffer ??
    shuffleBufferForMemory(options.shuffleMemoryMiB ?? DEFAULT_SHUFFLE_MEMORY_MIB, tileSize);

  const trained$ = defer(() =>
    (
      tileBatches({
        ...common,
        pairs: splits.train,
        // The source draws each epoch from (seed, epoch) alone, so a resumed run gets the batches it would have had.
        epochs,
        startAt: start,
        ...(shuffleBuffer > 0 ? { shuffle: { bufferSize: shuffleBuffer, seed: drawSeed } } : {}),
        ...(options.sampleBalance ? { balance: options.sampleBalance } : {}),
        ...(options.augment === false ? {} : { augment: { seed: drawSeed + 1 } }),
        ...(microBatches > 1 ? { dropRemainder: true } : {}),
      }) as Observable<TensorBatch>
    ).pipe(
      splitMicroBatches(microBatches),
      train({
        model: networks.model,
        ...(networks.discriminator ? { discriminator: networks.discriminator } : {}),
        numClasses,
        classNames: options.classMap.names,
        ignoreValue: options.classMap.ignoreValue,
        epochs,
        stepsPerEpoch,
        seed: drawSeed,
        ...(options.loss ? { loss: options.loss } : {}),
        ...(options.optimizer ? { optimizer: options.optimizer } : {}),
        ...(options.schedule ? { schedule: scheduleForRun(options.schedule, epochs, stepsPerEpoch) } : {}),
        ...(options.classWeights ? { classWeights: options.classWeights } : {}),
        ...(microBatches > 1 ? { microBatchesPerStep: microBatches } : {}),
        ...(options.earlyStoppingPatience
          ? { earlyStopping: { patience: options.earlyStoppingPatience } }
          : {}),
        // Pix2Pix's segmentation term is the run's loss when one is chosen (an imbalance-aware loss: the
        // original's L1 on softmax outputs settles on all-background for xBD's 93% background pixels).
        gan: {
          segmentationLoss: options.loss ? 'loss' : 'l1',
          ...(options.discriminatorEvery ? { discriminatorEvery: options.discriminatorEvery } : {}),
        },
        ...(validation ? { validation } : {}),
        ...(options.checkpointDir
          ? {
              checkpoint: {
                dir: options.checkpointDir,
                ...(options.checkpointEverySteps ? { everySteps: options.checkpointEverySteps } : {}),
              },
            }
          : {}),
        ...(resumed ? { resumeFrom: resumed } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      }),
    ),
  );
  const samplePair = splits.validation[0] ?? splits.train[0]!;
  const events$ =
    options.samples === false
      ? trained$
      : trained$.pipe(
          concatMap((event) =>
            event.type !== 'epoch'
              ? of<MetricEvent>(event)
              : from(
                  predictSample(
                    networks.model,
                    samplePair,
                    reading,
                    tileSize,
                    event.epoch,
                    event.globalStep,
                  ).then((sample): MetricEvent[] => [event, sample]),
                ).pipe(concatMap((events) => from(events))),
          ),
        );
  return {
    splits,
    inputChannels,
    ...(raster ? { raster } : {}),
    model: networks.model,
    ...(networks.discriminator ? { discriminator: networks.discriminator } : {}),
    stepsPerEpoch,
    start,
    events$,
    ...(backboneLayers ? { backboneLayers } : {}),
    ...(resumed ? { resumedFrom: { path: resumed.path, skipped: resumed.skipped } } : {}),
  };
}

/**
 * The Pix2Pix generator's downsamplings for a tile size: as many as halve the tile exactly, at most Pix2Pix's
 * 8 (its unet_256; 128 px tiles get 7, its unet_128). More would make the decoder's output larger than the tile.
 */
export function pix2pixDepth(tileSize: number): number {
  let depth = 0;
  while (depth < 8 && tileSize % 2 ** (depth + 1) === 0) depth++;
  return depth;
}

/** The largest side of a raster's sample prediction. */
const SAMPLE_SIDE = 1024;

async function predictSample(
  model: tf.LayersModel,
  pair: LabelledPair,
  options: TrainPipelineOptions,
  tileSize: number,
  epoch: number,
  globalStep: number,
): Promise<PredictionSampleEvent> {
  const reading = {
    classMap: options.classMap,
    readMask: options.readMask,
    ...(options.format ? { format: options.format } : {}),
    ...(options.raster ? { raster: options.raster } : {}),
  };
  const header = await readImageHeader(pair.imagePath, options.raster);
  // A raster's sample is its top-left corner: predicting a whole survey raster each epoch would take hours.
  const labelled = header.raster
    ? await readLabelledWindow(
        pair,
        {
          x: 0,
          y: 0,
          width: Math.min(header.width, SAMPLE_SIDE),
          height: Math.min(header.height, SAMPLE_SIDE),
        },
        reading,
      )
    : await readLabelledImage(pair, reading);
  const { classes } = await predictFullImage(model, labelled.image, {
    tileSize,
    overlap: Math.floor(tileSize / 4),
  });
  const panel = await sidePanelPng(labelled.image, labelled.mask, classes, options.classMap.colors);
  return {
    type: 'sample',
    epoch,
    globalStep,
    id: pair.id,
    png: panel.png.toString('base64'),
    width: panel.width,
    height: panel.height,
  };
}
