// The public entry point: every operator, model builder and pipeline with its types.
export * from './types.js';
export * from './errors.js';

// Backends: selection (tfjs-node-gpu, tfjs-node, wasm, cpu) and the wasm training kernels.
export * from './backend/selectBackend.js';
export * from './backend/wasm/registerTrainingKernels.js';
export { normalizedPixelTensor } from './backend/wasm/pixels.js';

// Labels to masks.
export * from './labels/classMap.js';
export * from './labels/readLabelMask.js';
export * from './labels/rasterize.js';
export { cocoImageKeys } from './labels/coco.js';
export { decodeRleString, encodeRleString, encodeRuns } from './labels/cocoRle.js';
export { labelMeEmbeddedImage } from './labels/labelme.js';
export type { DegenerateShapePolicy, ShapeOptions } from './labels/geometry.js';

// Files on disk.
export * from './io/decodeImage.js';
export * from './io/geoTiff.js';
export * from './io/pixelSource.js';
export * from './io/readLabelledImage.js';
export * from './io/writeClassMaskPng.js';
export * from './io/writeNpy.js';
export { TileReaderPool, type TiledImage } from './io/tileReaderPool.js';

// Sources, where streams begin, and the pull side that ends them.
export * from './sources/pairFiles.js';
export * from './sources/splitBySource.js';
export * from './sources/creditGate.js';
export * from './sources/tileBatches.js';
export * from './sources/syntheticDataset.js';
export * from './util/toAsyncIterable.js';

// Tiles: the grid, augmentation, class balance, shuffle budget and pixel normalization as plain functions.
export * from './tiling/labelledTile.js';
export * from './tiling/tileGrid.js';
export * from './tiling/augmentation.js';
export * from './tiling/classBalance.js';
export * from './tiling/shuffleBudget.js';
export * from './tiling/pixelNormalization.js';

// Operators.
export * from './operators/orderedReads.js';
export * from './operators/readLabelledImages.js';
export * from './operators/tile.js';
export * from './operators/augment.js';
export * from './operators/balanceClasses.js';
export * from './operators/shuffle.js';
export * from './operators/batchTiles.js';
export * from './operators/toTensorBatch.js';
export * from './operators/splitMicroBatches.js';
export * from './operators/exportTiles.js';
export * from './operators/train.js';

// Models, losses, metrics, training.
export * from './models/index.js';
export * from './losses/index.js';
export * from './metrics/index.js';
export * from './training/index.js';

// Sinks for live metrics.
export * from './sinks/sinkEvents.js';
export * from './sinks/ndjsonSink.js';
export * from './sinks/tensorboardSink.js';
export * from './sinks/httpSink.js';
export * from './sinks/prometheusText.js';
export * from './sinks/createSink.js';

// Prediction and ready-made pipelines.
export * from './predict/slidingWindow.js';
export * from './predict/predictRaster.js';
export * from './predict/writeClassGeoTiff.js';
export * from './predict/writePrediction.js';
export * from './predict/maskToPolygons.js';
export * from './predict/writePolygons.js';
export * from './predict/sieveMask.js';
export * from './predict/simplifyPolygons.js';
export * from './pipelines/prepare.js';
export * from './pipelines/trainPipeline.js';
export * from './pipelines/evaluate.js';

// Run folders: their layout, comparison and the results tables of the docs.
export * from './runs/runDirectory.js';
export * from './runs/compare.js';
export * from './runs/results.js';

// The CLI's config file and class presets.
export { loadConfig } from './cli/config.js';
export { resolveClassMap, CLASS_PRESETS } from './cli/classes.js';
