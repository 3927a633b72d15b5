import { join } from 'node:path';
import { xbdClassMap } from '../../src/labels/classMap.js';
import { readLabelMask } from '../../src/labels/readLabelMask.js';
import type { TrainPipelineOptions } from '../../src/pipelines/trainPipeline.js';

/**
 * A run over the xBD pairs in `root` (see `writeXbdPairs`) with the smallest UNet (1 filter, depth 1),
 * one epoch, every pair in training, no shuffling or augmentation, no sample predictions: for tests about
 * which tiles reach the model and what the run writes, not about what it learns.
 */
export function smallestUNetRun(root: string, tileSize: number, batchSize: number): TrainPipelineOptions {
  return {
    arch: 'unet',
    imagesDir: join(root, 'images'),
    labelsDir: join(root, 'labels'),
    classMap: xbdClassMap(),
    readMask: readLabelMask,
    tileSize,
    batchSize,
    epochs: 1,
    splitRatios: [1, 0, 0],
    baseFilters: 1,
    depth: 1,
    shuffleBuffer: 0,
    augment: false,
    samples: false,
  };
}
