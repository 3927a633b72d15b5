// The public API, by name: what a user needs to compose pipelines, train, watch, predict and read runs. Helpers
// that only serve other modules (kernels, layers, codec pieces, the results tables of the docs) stay out;
// bench/ and the tests import those from their files.

// Backend: the TF.js backend to run on (tfjs-node-gpu, tfjs-node, wasm with segstream's kernels, cpu).
export {
  BACKEND_PREFERENCE,
  type BackendChoice,
  type BackendName,
  onBackendSelected,
  type SelectBackendOptions,
  selectBackend,
} from './backend/selectBackend.js';
export { CLASS_PRESETS, resolveClassMap } from './cli/classes.js';
// The CLI's configuration: config files, class maps, and the train configuration a command line gives.
export { loadConfig } from './cli/config.js';
export { parseTrainConfig } from './cli/trainConfig.js';
export type { TrainConfig } from './cli/trainOptions.js';
export { type BadInputPolicy, InputError, type SkippedItem, SkipReport, type SkipSink } from './errors.js';
// Files on disk.
export {
  decodeImage,
  type ImageHeader,
  type ImageSize,
  readImageHeader,
  readImageSize,
} from './io/decodeImage.js';
export {
  type BandRange,
  type BandStatistics,
  bandRanges,
  bandStatistics,
  type GeoTiffInfo,
  GeoTiffReader,
  type PixelWindow,
  type RasterReadOptions,
  readGeoTiffImage,
  sharedBandRanges,
} from './io/geoTiff.js';
export { geoTiffPixelSource, imagePixelSource, type PixelSource } from './io/pixelSource.js';
export {
  type ReadLabelledImageOptions,
  type ReadLabelMask,
  readLabelledImage,
} from './io/readLabelledImage.js';
export { classMaskPng, writeClassMaskPng } from './io/writeClassMaskPng.js';
export { encodeNpy, type NpyArray, writeNpy } from './io/writeNpy.js';
// Labels: label files to class masks.
export { type ClassMap, IGNORE_VALUE, labelMeClassMap, vocColormap, xbdClassMap } from './labels/classMap.js';
export type { DegenerateShapePolicy, ShapeOptions } from './labels/geometry.js';
export { crsTransform, defineCrs, WGS84 } from './labels/mapCoordinates.js';
export { type LabelShape, rasterizeShapes } from './labels/rasterize.js';
export { detectLabelFormat, LABEL_FORMATS, type LabelFormat, readLabelMask } from './labels/readLabelMask.js';
// Losses.
export {
  binaryCrossEntropy,
  buildLoss,
  type CategoricalCrossEntropyOptions,
  categoricalCrossEntropy,
  diceLoss,
  type FocalOptions,
  type FocalTverskyOptions,
  focalLoss,
  focalTverskyLoss,
  LOSS_NAMES,
  type LossCommonOptions,
  type LossConfig,
  type LossName,
  l1OneHot,
  type RegionLossOptions,
  type SegmentationLoss,
  sparseCrossEntropy,
  type TverskyOptions,
  tverskyLoss,
  weightedSum,
} from './losses/index.js';
// Metrics.
export { type ClassMetrics, ConfusionMatrix, type SegmentationMetrics } from './metrics/index.js';
// Models: the builders, backbone weights and what a model says about itself.
export {
  ARCHITECTURE_NAMES,
  type Architecture,
  type ArchitectureName,
  buildDeepLabV3Plus,
  buildNetworks,
  buildPatchGANDiscriminator,
  buildPix2PixGenerator,
  buildUNet,
  countForwardFlops,
  type DeepLabV3PlusOptions,
  getModelInfo,
  type InputSize,
  type LoadBackboneWeightsOptions,
  loadBackboneWeights,
  type Networks,
  type NetworksOptions,
  type OutputActivation,
  type PatchGANOptions,
  type Pix2PixGeneratorOptions,
  RESNET_DEPTHS,
  type ResNetBackboneOptions,
  type ResNetDepth,
  type ResNetFeatures,
  resnetBackbone,
  type SegmentationModelInfo,
  type SegmentationModelOptions,
  type UNetOptions,
  type WeightTransferReport,
} from './models/index.js';
export { augment } from './operators/augment.js';
export { balanceClasses } from './operators/balanceClasses.js';
export { type BatchTilesOptions, batchTiles } from './operators/batchTiles.js';
export { type ExportTilesOptions, exportTiles, tileStem } from './operators/exportTiles.js';
// Operators: one RxJS operator each.
export { type OrderedReadsOptions, orderedReads } from './operators/orderedReads.js';
export { type ReadLabelledImagesOptions, readLabelledImages } from './operators/readLabelledImages.js';
export { type ShuffleOptions, shuffle } from './operators/shuffle.js';
export { splitMicroBatches } from './operators/splitMicroBatches.js';
export { tile } from './operators/tile.js';
export {
  type OneHotTensorBatch,
  type ToTensorBatchOptions,
  toTensorBatch,
} from './operators/toTensorBatch.js';
export { type TrainOptions, train } from './operators/train.js';
export {
  addEvaluations,
  type ClassEvaluation,
  confusionCsv,
  confusionHeatmapPng,
  type EvaluateOptions,
  type EvaluationReport,
  evaluateFolder,
  evaluationReport,
  evaluationTable,
} from './pipelines/evaluate.js';
// Pipelines: the steps the CLI runs, for use in code.
export {
  addPrepareTotals,
  formatPrepareSummary,
  type PrepareMasksOptions,
  type PrepareSummary,
  type PrepareTotals,
  prepareMasks,
} from './pipelines/prepare.js';
export {
  prepareTrainingRun,
  type TrainingRun,
  type TrainPipelineOptions,
} from './pipelines/trainPipeline.js';
export {
  POLYGON_CRS_CHOICES,
  type PolygonCrsChoice,
  polygonCrsEpsg,
  polygonsToMapGeoJson,
  writeMapPolygons,
} from './predict/mapPolygons.js';
export { type MaskPolygon, type MaskToPolygonsOptions, maskToPolygons } from './predict/maskToPolygons.js';
export { predictRasterFile, type RasterPrediction } from './predict/predictRaster.js';
export { type SieveOptions, sieveMask } from './predict/sieveMask.js';
export { maskToSimplifiedPolygons, type SimplifyOptions } from './predict/simplifyPolygons.js';
// Prediction: full-size images, masks to polygons, prediction files.
export {
  type FullImagePrediction,
  type PredictedRows,
  predictFullImage,
  predictRows,
  type SlidingWindowOptions,
  TEST_TIME_AUGMENTATIONS,
  type TestTimeAugmentation,
} from './predict/slidingWindow.js';
export {
  GEOTIFF_SAMPLE_TYPES,
  type GeoTiffLayout,
  type GeoTiffSampleType,
  GeoTiffStripWriter,
  writeClassGeoTiff,
} from './predict/writeClassGeoTiff.js';
export {
  type MapPlacement,
  polygonsToFlatGeobuf,
  writePolygonFlatGeobuf,
} from './predict/writeFlatGeobuf.js';
export {
  POLYGON_LABEL_FORMATS,
  type PolygonLabelFormat,
  type PolygonLabelOptions,
  polygonsToLabelJson,
  writePolygonLabels,
} from './predict/writePolygons.js';
export { colourMask, overlayPng, writeClassPng } from './predict/writePrediction.js';
export {
  createProbabilityGeoTiff,
  type ProbabilityOutput,
  probabilitySamples,
  writeProbabilityNpy,
} from './predict/writeProbabilities.js';
export { type ComparisonRow, compareRuns, comparisonMarkdown } from './runs/compare.js';
// Run folders: open a trained run, read its manifest, compare runs.
export {
  manifestClassMap,
  openRun,
  RUN_CHECKPOINTS,
  type RunCheckpoint,
  type RunManifest,
  readRunManifest,
  runPaths,
} from './runs/runDirectory.js';
export {
  type MergedManifest,
  mergeShardManifests,
  readShardManifests,
  type ShardManifest,
} from './runs/shardManifest.js';
export { createSink, SINK_SPEC_FORMS, writeToSinks } from './sinks/createSink.js';
export { type HttpSink, type HttpSinkOptions, httpSink } from './sinks/httpSink.js';
export { ndjsonSink } from './sinks/ndjsonSink.js';
// Sinks: where training events go.
export type { MetricEvent, MetricSink, PredictionSampleEvent } from './sinks/sinkEvents.js';
export { type TensorboardSinkOptions, tensorboardSink } from './sinks/tensorboardSink.js';
export { CreditGate } from './sources/creditGate.js';
// Sources: where streams begin, and the pull side that ends them.
export {
  IMAGE_EXTENSIONS,
  LABEL_EXTENSIONS,
  type MultiImageLabelKeys,
  type PairFilesOptions,
  type PairingResult,
  pairFiles,
} from './sources/pairFiles.js';
export { type SplitOptions, type SplitPairs, splitBySource } from './sources/splitBySource.js';
export {
  type SyntheticXbdDataset,
  type SyntheticXbdOptions,
  writeSyntheticXbd,
} from './sources/syntheticDataset.js';
export { type TileBatchesOptions, tileBatches } from './sources/tileBatches.js';
export {
  type AugmentationDraw,
  type AugmentOptions,
  applyAugmentation,
  drawAugmentation,
} from './tiling/augmentation.js';
export type { BalanceClassesOptions } from './tiling/classBalance.js';
// Tiles as plain functions, for use outside a stream.
export type { LabelledTile } from './tiling/labelledTile.js';
export {
  normalizedPixels,
  type PixelNormalization,
  pixelNormalization,
} from './tiling/pixelNormalization.js';
export { DEFAULT_SHUFFLE_MEMORY_MIB, shuffleBufferForMemory } from './tiling/shuffleBudget.js';
export {
  cutTiles,
  type EdgePolicy,
  type TileGrid,
  type TileOptions,
  tileGrid,
  tilePositions,
} from './tiling/tileGrid.js';
// Training: the Trainer, its optimizers, schedules, checkpoints and the events it emits.
export {
  type BatchMetricsEvent,
  buildOptimizer,
  type CheckpointEvent,
  createSchedule,
  type EpochSummaryEvent,
  type GanOptions,
  type LearningRateSchedule,
  type LoadedCheckpoint,
  loadBestCheckpoint,
  loadLatestCheckpoint,
  type MemorySample,
  type MonitoredMetric,
  type OptimizerConfig,
  type ScheduleConfig,
  type StepLosses,
  type StoppedEvent,
  Trainer,
  type TrainerOptions,
  type TrainingEvent,
} from './training/index.js';
// Shared vocabulary and errors.
export type {
  ClassMask,
  GeoReference,
  LabelledImage,
  LabelledPair,
  RasterImage,
  Split,
  TensorBatch,
  TileOrigin,
} from './types.js';
export { type Shard, shardItems, WHOLE_JOB } from './util/shard.js';
export { type ToAsyncIterableOptions, toAsyncIterable } from './util/toAsyncIterable.js';
