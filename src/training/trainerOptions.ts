import * as tf from '@tensorflow/tfjs';
import type { Observable } from 'rxjs';
import { buildLoss, type LossConfig } from '../losses/buildLoss.js';
import {
  type LossCommonOptions,
  type SegmentationLoss,
  sparseCrossEntropy,
} from '../losses/segmentationLosses.js';
import type { TensorBatch } from '../types.js';
import type { LoadedCheckpoint } from './checkpoint.js';
import { type OptimizerConfig, optimizerSettings } from './optimizers.js';
import { createSchedule, type ScheduleConfig } from './schedules.js';

/** Metrics early stopping and reduce-on-plateau can watch. Losses are minimised, the others maximised. */
export type MonitoredMetric =
  | 'validation.meanIoU'
  | 'validation.xview2'
  | 'validationLoss'
  | 'train.meanIoU'
  | 'trainLoss';

/** Pix2Pix (conditional GAN) settings, used when a discriminator is given. */
export interface GanOptions {
  /** [adversarialLoss='mse'] 'bce' (sigmoid cross-entropy on patch logits) or 'mse' (least squares, as the original). */
  adversarialLoss?: 'bce' | 'mse';
  /** [segmentationLoss='l1'] 'l1' on softmax vs one-hot (Pix2Pix's L1), or the run's `loss` ('loss'). */
  segmentationLoss?: 'l1' | 'loss';
  /** [segmentationWeight=100] Weight of the segmentation term against the adversarial one (Pix2Pix's lambda). */
  segmentationWeight?: number;
  /** [discriminatorEvery=4] Update the discriminator on every k-th optimizer step (global steps 0, k, 2k, ...). */
  discriminatorEvery?: number;
}

/** Options of the trainer (and of the `train` operator). */
export interface TrainerOptions {
  /** The segmentation model (Pix2Pix: the generator): images [B, H, W, 3] -> logits [B, H, W, C]. */
  model: tf.LayersModel;
  /** Pix2Pix's discriminator over [image, class map]; when given, the run is a conditional GAN. */
  discriminator?: tf.LayersModel;
  numClasses: number;
  /** Class names for per-class metrics; the five xBD names add the xView2 score. */
  classNames?: string[];
  /** [ignoreValue=255] */
  ignoreValue?: number;
  /** [loss={name:'sparseCrossEntropy'}] A loss config or function. */
  loss?: LossConfig | SegmentationLoss;
  /** Class weights for the loss (a config's own `classWeights` wins). */
  classWeights?: number[];
  /** [optimizer=Adam 1e-3; Pix2Pix: Adam(2e-4, beta1 0.5)] */
  optimizer?: OptimizerConfig;
  /** [discriminatorOptimizer=Adam(2e-4, beta1 0.5)] */
  discriminatorOptimizer?: OptimizerConfig;
  /** [schedule={name:'constant'}] Scales both optimizers' rates. */
  schedule?: ScheduleConfig;
  /** [epochs=1] */
  epochs?: number;
  /**
   * Optimizer steps per epoch. The input carries the batches of all epochs one after another; this is where
   * one epoch ends. Absent: the whole input is one epoch (ended by its completion).
   */
  stepsPerEpoch?: number;
  /**
   * [microBatchesPerStep=1] Gradient accumulation: incoming batches summed into one optimizer step, each
   * weighted by its image count (effective batch = micro-batch size x this). Equal to one large batch for
   * models without batch norm and pixel-mean losses when every micro-batch has the same count of ignored
   * pixels; batch norm sees micro-batch statistics. Not with a discriminator.
   */
  microBatchesPerStep?: number;
  /** Stop when `monitor` has not improved by `minDelta` for `patience` epochs. */
  earlyStopping?: { monitor?: MonitoredMetric; patience: number; minDelta?: number };
  /** [monitor='validation.meanIoU' with a validation source, else 'train.meanIoU'] For best-epoch, plateau and early stopping. */
  monitor?: MonitoredMetric;
  gan?: GanOptions;
  /** A fresh stream of the validation batches, subscribed once per epoch end (given the epoch, from 0). */
  validation?: (epoch: number) => Observable<TensorBatch>;
  /** Write checkpoints to `dir` every `everySteps` steps (if set), at each epoch end, on abort and at the end. */
  checkpoint?: { dir: string; everySteps?: number; keep?: number };
  /** Continue the run a checkpoint stopped at: its optimizer state and position are restored. `model` (and
   * `discriminator`) must hold its weights: pass `checkpoint.models.model`. */
  resumeFrom?: LoadedCheckpoint;
  /** [seed=0] Recorded in checkpoints; the source's shuffling must derive from it. */
  seed?: number;
}

function checkPositiveInteger(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 1))
    throw new RangeError(`train: ${name} must be an integer >= 1, got ${String(value)}`);
}

/** What every loss of the run is built with: classes, ignored value, class weights. */
export function lossCommonOptions(options: TrainerOptions): LossCommonOptions {
  return {
    numClasses: options.numClasses,
    ignoreValue: options.ignoreValue ?? 255,
    ...(options.classWeights ? { classWeights: options.classWeights } : {}),
  };
}

/** The run's loss: the function given, the one its config names, or sparse cross-entropy. */
export function trainerLoss(options: TrainerOptions): SegmentationLoss {
  const common = lossCommonOptions(options);
  return typeof options.loss === 'function'
    ? options.loss
    : options.loss
      ? buildLoss(options.loss, common)
      : sparseCrossEntropy(common);
}

/** The optimizer Pix2Pix's networks get when no config is given: Adam(2e-4, beta1 0.5). */
export const GAN_ADAM: OptimizerConfig = { name: 'adam', learningRate: 2e-4, beta1: 0.5 };

/** The optimizer config of the segmentation model (the Pix2Pix generator). */
export function modelOptimizerConfig(options: TrainerOptions): OptimizerConfig {
  return options.optimizer ?? (options.discriminator ? GAN_ADAM : { name: 'adam', learningRate: 1e-3 });
}

/**
 * Checks a trainer's options without building a trainer, networks or tensors: the `train` operator calls
 * it where it is written, the {@link Trainer} when it is constructed.
 *
 * @example
 * ```ts
 * checkTrainerOptions({ model, numClasses: 5, microBatchesPerStep: 4 });
 * ```
 * @throws TypeError when `model` is not a tf.LayersModel; RangeError naming the option that is out of range
 *   or that contradicts another; InputError for a loss config that names no loss or a parameter it lacks.
 */
export function checkTrainerOptions(options: TrainerOptions): void {
  const { numClasses } = options;
  if (!(options.model instanceof tf.LayersModel))
    throw new TypeError('train: options.model must be a tf.LayersModel');
  if (!Number.isInteger(numClasses) || numClasses < 1)
    throw new RangeError(`train: numClasses must be an integer >= 1, got ${String(numClasses)}`);
  checkPositiveInteger('epochs', options.epochs);
  checkPositiveInteger('stepsPerEpoch', options.stepsPerEpoch);
  checkPositiveInteger('microBatchesPerStep', options.microBatchesPerStep);
  checkPositiveInteger('gan.discriminatorEvery', options.gan?.discriminatorEvery);
  checkPositiveInteger('checkpoint.everySteps', options.checkpoint?.everySteps);
  if (options.earlyStopping) checkPositiveInteger('earlyStopping.patience', options.earlyStopping.patience);
  if (options.discriminator && (options.microBatchesPerStep ?? 1) > 1)
    throw new RangeError('train: microBatchesPerStep > 1 is not supported with a discriminator (Pix2Pix)');
  if (options.monitor?.startsWith('validation') && !options.validation)
    throw new RangeError(`train: monitor ${options.monitor} needs options.validation`);
  trainerLoss(options);
  const { learningRate } = optimizerSettings(modelOptimizerConfig(options));
  if (options.discriminator) optimizerSettings(options.discriminatorOptimizer ?? GAN_ADAM);
  createSchedule(options.schedule, learningRate);
}

/** The metric a run's best epoch, plateau and early stopping watch. */
export function monitoredMetric(options: TrainerOptions): MonitoredMetric {
  return (
    options.earlyStopping?.monitor ??
    options.monitor ??
    (options.validation ? 'validation.meanIoU' : 'train.meanIoU')
  );
}
