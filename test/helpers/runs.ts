import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { xbdClassMap } from '../../src/labels/classMap.js';
import { readLabelMask } from '../../src/labels/readLabelMask.js';
import type { TrainPipelineOptions } from '../../src/pipelines/trainPipeline.js';
import { writeRunManifest } from '../../src/runs/runDirectory.js';
import { saveCheckpoint } from '../../src/training/checkpoint.js';

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

/** The classes of {@link writeRedBuildingRun}: background, and building in red. */
export const RED_BUILDING_CLASSES = {
  names: ['background', 'building'],
  colors: [
    [0, 0, 0],
    [255, 0, 0],
  ] as Array<[number, number, number]>,
  ignoreValue: 255,
  ids: { building: 1 },
};

/**
 * A run folder (run.json and a checkpoint, 32 px tiles) whose model's answer is known: a 1x1 convolution
 * that calls a pixel "building" where its red channel is over half (logit 10 * red - 5 against 0).
 */
export async function writeRedBuildingRun(runDir: string): Promise<void> {
  const input = tf.input({ shape: [null, null, 3] });
  const conv = tf.layers.conv2d({ filters: 2, kernelSize: 1 });
  const model = tf.model({ inputs: input, outputs: conv.apply(input) as tf.SymbolicTensor });
  tf.tidy(() => conv.setWeights([tf.tensor4d([0, 10, 0, 0, 0, 0], [1, 1, 3, 2]), tf.tensor1d([0, -5])]));
  await writeRunManifest(runDir, {
    arch: 'unet',
    classes: RED_BUILDING_CLASSES,
    tileSize: 32,
    options: {},
    backend: 'cpu',
    startedAt: '',
  });
  await saveCheckpoint(join(runDir, 'checkpoints'), {
    models: { model },
    optimizers: {},
    position: {
      epoch: 0,
      step: 0,
      batchesDone: 0,
      globalStep: 1,
      seed: 1,
      best: null,
      epochsWithoutImprovement: 0,
      schedule: { scale: 1, best: null, epochsWithoutImprovement: 0 },
      learningRate: 0,
      finished: true,
      running: { counts: [], lossSum: 0, images: 0 },
    },
  });
  model.dispose();
}
