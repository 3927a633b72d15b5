// The public API, by name: what a user needs to compose pipelines, train, watch, predict and read runs. Helpers
// that only serve other modules (kernels, layers, codec pieces, the results tables of the docs) stay out;
// bench/ and the tests import those from their files.

// Shared vocabulary and errors.
export type { ClassMask, GeoReference, LabelledImage, LabelledPair, RasterImage, Split, TensorBatch, TileOrigin } from './types.js';
export { InputError, SkipReport, type BadInputPolicy, type SkippedItem, type SkipSink } from './errors.js';

// Backend: the TF.js backend to run on (tfjs-node-gpu, tfjs-node, wasm with segstream's kernels, cpu).
export { BACKEND_PREFERENCE, onBackendSelected, selectBackend, type BackendChoice, type BackendName, type SelectBackendOptions } from './backend/selectBackend.js';

// Labels: label files to class masks.
export { IGNORE_VALUE, labelMeClassMap, vocColormap, xbdClassMap, type ClassMap } from './labels/classMap.js';
export { LABEL_FORMATS, detectLabelFormat, readLabelMask, type LabelFormat } from './labels/readLabelMask.js';
export { rasterizeShapes, type LabelShape } from './labels/rasterize.js';
export type { DegenerateShapePolicy, ShapeOptions } from './labels/geometry.js';
export { WGS84, crsTransform, defineCrs } from './labels/mapCoordinates.js';

// Files on disk.
export { decodeImage, readImageHeader, readImageSize, type ImageHeader, type ImageSize } from './io/decodeImage.js';
export { GeoTiffReader, bandRanges, bandStatistics, readGeoTiffImage, type BandRange, type BandStatistics, type GeoTiffInfo, type PixelWindow, type RasterReadOptions } from './io/geoTiff.js';
export { geoTiffPixelSource, imagePixelSource, type PixelSource } from './io/pixelSource.js';
export { readLabelledImage, type ReadLabelMask, type ReadLabelledImageOptions } from './io/readLabelledImage.js';
export { classMaskPng, writeClassMaskPng } from './io/writeClassMaskPng.js';
export { encodeNpy, writeNpy, type NpyArray } from './io/writeNpy.js';

// Sources: where streams begin, and the pull side that ends them.
export { IMAGE_EXTENSIONS, LABEL_EXTENSIONS, pairFiles, type MultiImageLabelKeys, type PairFilesOptions, type PairingResult } from './sources/pairFiles.js';
export { splitBySource, type SplitOptions, type SplitPairs } from './sources/splitBySource.js';
export { CreditGate } from './sources/creditGate.js';
export { tileBatches, type TileBatchesOptions } from './sources/tileBatches.js';
export { writeSyntheticXbd, type SyntheticXbdDataset, type SyntheticXbdOptions } from './sources/syntheticDataset.js';
export { toAsyncIterable, type ToAsyncIterableOptions } from './util/toAsyncIterable.js';
export { WHOLE_JOB, shardItems, type Shard } from './util/shard.js';

// Tiles as plain functions, for use outside a stream.
export type { LabelledTile } from './tiling/labelledTile.js';
export { cutTiles, tileGrid, tilePositions, type EdgePolicy, type TileGrid, type TileOptions } from './tiling/tileGrid.js';
export { applyAugmentation, drawAugmentation, type AugmentationDraw, type AugmentOptions } from './tiling/augmentation.js';
export type { BalanceClassesOptions } from './tiling/classBalance.js';
export { DEFAULT_SHUFFLE_MEMORY_MIB, shuffleBufferForMemory } from './tiling/shuffleBudget.js';
export { normalizedPixels, pixelNormalization, type PixelNormalization } from './tiling/pixelNormalization.js';

// Operators: one RxJS operator each.
export { orderedReads, type OrderedReadsOptions } from './operators/orderedReads.js';
export { readLabelledImages, type ReadLabelledImagesOptions } from './operators/readLabelledImages.js';
export { tile } from './operators/tile.js';
export { augment } from './operators/augment.js';
export { balanceClasses } from './operators/balanceClasses.js';
export { shuffle, type ShuffleOptions } from './operators/shuffle.js';
export { batchTiles, type BatchTilesOptions } from './operators/batchTiles.js';
export { toTensorBatch, type OneHotTensorBatch, type ToTensorBatchOptions } from './operators/toTensorBatch.js';
export { splitMicroBatches } from './operators/splitMicroBatches.js';
export { exportTiles, tileStem, type ExportTilesOptions } from './operators/exportTiles.js';
export { train, type TrainOptions } from './operators/train.js';

// Models: the builders, backbone weights and what a model says about itself.
export {
  ARCHITECTURE_NAMES,
  buildNetworks,
  buildUNet,
  buildDeepLabV3Plus,
  buildPix2PixGenerator,
  buildPatchGANDiscriminator,
  resnetBackbone,
  RESNET_DEPTHS,
  loadBackboneWeights,
  getModelInfo,
  countForwardFlops,
  type Architecture,
  type ArchitectureName,
  type DeepLabV3PlusOptions,
  type InputSize,
  type LoadBackboneWeightsOptions,
  type Networks,
  type NetworksOptions,
  type OutputActivation,
  type PatchGANOptions,
  type Pix2PixGeneratorOptions,
  type ResNetBackboneOptions,
  type ResNetDepth,
  type ResNetFeatures,
  type SegmentationModelInfo,
  type SegmentationModelOptions,
  type UNetOptions,
  type WeightTransferReport,
} from './models/index.js';

// Losses.
export {
  LOSS_NAMES,
  buildLoss,
  sparseCrossEntropy,
  categoricalCrossEntropy,
  binaryCrossEntropy,
  l1OneHot,
  focalLoss,
  diceLoss,
  tverskyLoss,
  focalTverskyLoss,
  weightedSum,
  type CategoricalCrossEntropyOptions,
  type FocalOptions,
  type FocalTverskyOptions,
  type LossCommonOptions,
  type LossConfig,
  type LossName,
  type RegionLossOptions,
  type SegmentationLoss,
  type TverskyOptions,
} from './losses/index.js';

// Metrics.
export { ConfusionMatrix, type ClassMetrics, type SegmentationMetrics } from './metrics/index.js';

// Training: the Trainer, its optimizers, schedules, checkpoints and the events it emits.
export {
  Trainer,
  buildOptimizer,
  createSchedule,
  loadLatestCheckpoint,
  loadBestCheckpoint,
  type BatchMetricsEvent,
  type CheckpointEvent,
  type EpochSummaryEvent,
  type GanOptions,
  type LearningRateSchedule,
  type LoadedCheckpoint,
  type MemorySample,
  type MonitoredMetric,
  type OptimizerConfig,
  type ScheduleConfig,
  type StepLosses,
  type StoppedEvent,
  type TrainerOptions,
  type TrainingEvent,
} from './training/index.js';

// Sinks: where training events go.
export type { MetricEvent, MetricSink, PredictionSampleEvent } from './sinks/sinkEvents.js';
export { ndjsonSink } from './sinks/ndjsonSink.js';
export { tensorboardSink, type TensorboardSinkOptions } from './sinks/tensorboardSink.js';
export { httpSink, type HttpSink, type HttpSinkOptions } from './sinks/httpSink.js';
export { SINK_SPEC_FORMS, createSink, writeToSinks } from './sinks/createSink.js';

// Prediction: full-size images, masks to polygons, prediction files.
export { TEST_TIME_AUGMENTATIONS, predictFullImage, predictRows, type FullImagePrediction, type PredictedRows, type SlidingWindowOptions, type TestTimeAugmentation } from './predict/slidingWindow.js';
export { colourMask, overlayPng, writeClassPng } from './predict/writePrediction.js';
export { maskToPolygons, type MaskPolygon, type MaskToPolygonsOptions } from './predict/maskToPolygons.js';
export { POLYGON_LABEL_FORMATS, polygonsToLabelJson, writePolygonLabels, type PolygonLabelFormat, type PolygonLabelOptions } from './predict/writePolygons.js';
export { sieveMask, type SieveOptions } from './predict/sieveMask.js';
export { maskToSimplifiedPolygons, type SimplifyOptions } from './predict/simplifyPolygons.js';
export { predictRasterFile, type RasterPrediction } from './predict/predictRaster.js';
export { ClassGeoTiffWriter, writeClassGeoTiff } from './predict/writeClassGeoTiff.js';
export { POLYGON_CRS_CHOICES, polygonsToMapGeoJson, writeMapPolygons, type PolygonCrsChoice } from './predict/mapPolygons.js';

// Pipelines: the steps the CLI runs, for use in code.
export { addPrepareTotals, formatPrepareSummary, prepareMasks, type PrepareMasksOptions, type PrepareSummary, type PrepareTotals } from './pipelines/prepare.js';
export { prepareTrainingRun, type TrainingRun, type TrainPipelineOptions } from './pipelines/trainPipeline.js';
export {
  addEvaluations,
  confusionCsv,
  confusionHeatmapPng,
  evaluateFolder,
  evaluationReport,
  evaluationTable,
  type ClassEvaluation,
  type EvaluateOptions,
  type EvaluationReport,
} from './pipelines/evaluate.js';

// Run folders: open a trained run, read its manifest, compare runs.
export { RUN_CHECKPOINTS, manifestClassMap, openRun, readRunManifest, runPaths, type RunCheckpoint, type RunManifest } from './runs/runDirectory.js';
export { compareRuns, comparisonMarkdown, type ComparisonRow } from './runs/compare.js';
export { mergeShardManifests, readShardManifests, type MergedManifest, type ShardManifest } from './runs/shardManifest.js';

// The CLI's configuration: config files, class maps, and the train configuration a command line gives.
export { loadConfig } from './cli/config.js';
export { CLASS_PRESETS, resolveClassMap } from './cli/classes.js';
export { parseTrainConfig } from './cli/trainConfig.js';
export type { TrainConfig } from './cli/trainOptions.js';
