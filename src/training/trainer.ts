import * as tf from '@tensorflow/tfjs';
import { concatMap, count, lastValueFrom, type Observable } from 'rxjs';
import { l1OneHot, type SegmentationLoss } from '../losses/segmentationLosses.js';
import { ConfusionMatrix, type SegmentationMetrics } from '../metrics/confusionMatrix.js';
import type { TensorBatch } from '../types.js';
import { epochSeed, SeededRandom } from '../util/seededRandom.js';
import type { TrainingPosition } from './checkpoint.js';
import type { BatchMetricsEvent, EpochSummaryEvent, MemorySample, TrainingEvent } from './events.js';
import { CheckpointWriter } from './listeners/checkpointWriter.js';
import { LearningRateScheduleListener } from './listeners/learningRateSchedule.js';
import { RunMonitor } from './listeners/runMonitor.js';
import type { RunBoundary, TrainerListener } from './listeners/trainerListener.js';
import { buildOptimizer, optimizerSettings } from './optimizers.js';
import { createSchedule } from './schedules.js';
import { Pix2PixStep } from './steps/pix2pixStep.js';
import { SupervisedStep } from './steps/supervisedStep.js';
import type { StepResult, TrainingStep } from './steps/trainingStep.js';
import {
  checkTrainerOptions,
  GAN_ADAM,
  lossCommonOptions,
  modelOptimizerConfig,
  monitoredMetric,
  type TrainerOptions,
  trainerLoss,
} from './trainerOptions.js';

/** The step generators' stream of `epochSeed`, apart from the data streams' (which number from 0). */
const STEP_RANDOM_STREAM = 16;

interface RunningTotals {
  matrix: ConfusionMatrix;
  lossSum: number;
  images: number;
}

function memorySample(): MemorySample {
  const { rss, heapUsed } = process.memoryUsage();
  const sample: MemorySample = { rss, heapUsed, tensorBytes: tf.memory().numBytes };
  const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.buffer
    .byteLength;
  if (heap !== undefined) sample.wasmHeap = heap;
  return sample;
}

/**
 * Trains a segmentation model (or Pix2Pix) one incoming batch at a time, keeping the run's position and
 * running metrics. How batches become optimizer steps is its {@link TrainingStep} (supervised with
 * accumulation, or Pix2Pix); what watches the run is its listeners (the monitor of best epoch and early
 * stopping, the learning-rate schedule, the checkpoint writer). The `train` operator drives it; it is exposed
 * for callers that loop themselves.
 */
export class Trainer {
  readonly options: TrainerOptions;
  private readonly loss: SegmentationLoss;
  /** The optimizers by role, as checkpoints store them. */
  private readonly optimizers: Record<string, tf.Optimizer>;
  private readonly step: TrainingStep;
  private readonly monitor: RunMonitor;
  private readonly listeners: TrainerListener[];
  private readonly classNames: string[];
  private position: TrainingPosition;
  private running: RunningTotals;
  /** Confusion counts of the step in progress, booked into the running totals when the step completes. */
  private readonly stepCounts: ConfusionMatrix;
  /** When the step in progress took its first batch, or null when none is begun. */
  private stepStarted: number | null = null;
  /** The random source of the step in progress (its dropout masks), drawn from (seed, global step) alone. */
  private stepRandom: { globalStep: number; random: SeededRandom } | null = null;
  /** When the epoch in progress took its first batch (after a resume: its first batch since), or null before. */
  private epochStarted: number | null = null;
  private readyPromise: Promise<void> | null = null;

  /** @throws as {@link checkTrainerOptions}. */
  constructor(options: TrainerOptions) {
    checkTrainerOptions(options);
    const { model, discriminator, numClasses, ignoreValue = 255 } = options;
    this.options = options;
    this.classNames = options.classNames ?? Array.from({ length: numClasses }, (_, i) => `class ${i}`);
    this.loss = trainerLoss(options);
    const optimizerConfig = modelOptimizerConfig(options);
    const optimizer = buildOptimizer(optimizerConfig);
    const baseRate = optimizerSettings(optimizerConfig).learningRate;
    const schedule = createSchedule(options.schedule, baseRate);
    const discriminatorConfig = options.discriminatorOptimizer ?? GAN_ADAM;
    const discriminatorOptimizer = discriminator ? buildOptimizer(discriminatorConfig) : undefined;
    this.optimizers = {
      model: optimizer,
      ...(discriminatorOptimizer ? { discriminator: discriminatorOptimizer } : {}),
    };
    this.step =
      discriminator && discriminatorOptimizer
        ? new Pix2PixStep(
            {
              generator: model,
              discriminator,
              generatorOptimizer: optimizer,
              discriminatorOptimizer,
              segmentation:
                (options.gan?.segmentationLoss ?? 'l1') === 'l1'
                  ? l1OneHot(lossCommonOptions(options))
                  : this.loss,
              numClasses,
              ignoreValue,
            },
            options.gan,
          )
        : new SupervisedStep(model, this.loss, optimizer, options.microBatchesPerStep ?? 1);
    const metric = monitoredMetric(options);
    this.monitor = new RunMonitor(
      metric,
      options.earlyStopping?.minDelta ?? 0,
      options.earlyStopping?.patience,
    );
    // The discriminator's rate follows the schedule in proportion; the GAN default when its config names none.
    const scheduled = discriminatorOptimizer
      ? [{ optimizer: discriminatorOptimizer, baseRate: discriminatorConfig.learningRate ?? 2e-4 }]
      : [];
    this.listeners = [
      this.monitor,
      new LearningRateScheduleListener(schedule, optimizer, baseRate, scheduled, metric),
    ];
    if (options.checkpoint) {
      const models = { model, ...(discriminator ? { discriminator } : {}) };
      this.listeners.push(new CheckpointWriter(options.checkpoint, models, this.optimizers));
    }
    this.position = {
      epoch: 0,
      step: 0,
      batchesDone: 0,
      globalStep: 0,
      seed: options.seed ?? 0,
      best: null,
      epochsWithoutImprovement: 0,
      schedule: schedule.state(),
      learningRate: baseRate,
      finished: false,
      running: { counts: [], lossSum: 0, images: 0 },
    };
    this.running = { matrix: new ConfusionMatrix(numClasses, ignoreValue), lossSum: 0, images: 0 };
    this.stepCounts = new ConfusionMatrix(numClasses, ignoreValue);
  }

  /** Where the run stands (a copy). */
  get state(): TrainingPosition {
    return structuredClone(this.position);
  }

  /** True when the epochs are done or early stopping ended the run. */
  get done(): boolean {
    return this.position.finished;
  }

  /** Restores a checkpoint's optimizer state and position, then starts the listeners (the checkpoint folder is checked). Idempotent. */
  ready(): Promise<void> {
    this.readyPromise ??= (async () => {
      const checkpoint = this.options.resumeFrom;
      if (checkpoint) {
        for (const [role, optimizer] of Object.entries(this.optimizers)) {
          const weights = checkpoint.optimizerWeights[role];
          if (!weights) continue;
          await optimizer.setWeights(weights);
          tf.dispose(weights.map((w) => w.tensor));
        }
        this.position = structuredClone(checkpoint.position);
        // A completed run's checkpoint goes on when this run asks for more epochs than it had.
        this.position.finished =
          this.position.epoch >= (this.options.epochs ?? 1) || this.monitor.patienceExhausted(this.position);
        this.running.matrix.counts.set(
          this.position.running.counts.length
            ? this.position.running.counts
            : new Array(this.running.matrix.counts.length).fill(0),
        );
        this.running.lossSum = this.position.running.lossSum;
        this.running.images = this.position.running.images;
      }
      for (const listener of this.listeners) await listener.start?.(this.position, checkpoint !== undefined);
    })();
    return this.readyPromise;
  }

  /**
   * Trains on one incoming batch (a micro-batch when accumulating). Does not release it: the caller does.
   * @returns the events this batch completed: a batch event when an optimizer step was taken, and the epoch
   *   summary and checkpoints that followed.
   */
  async consume(batch: TensorBatch): Promise<TrainingEvent[]> {
    await this.ready();
    if (this.done) return [];
    // Epochs follow the data: a batch of a later epoch ends the current one, also when it had fewer batches
    // than stepsPerEpoch because bad input was skipped.
    const events: TrainingEvent[] = [];
    while (batch.epoch !== undefined && batch.epoch > this.position.epoch && !this.done) {
      events.push(...(await this.flushStep()));
      events.push(...(await this.endEpoch()));
    }
    if (this.done) return events;
    this.stepStarted ??= performance.now();
    this.epochStarted ??= this.stepStarted;
    this.stepStarting();
    const result = await this.step.consume(
      batch,
      this.position.globalStep,
      this.stepCounts,
      this.randomOfStep(),
    );
    return result ? [...events, ...(await this.afterStep(result))] : events;
  }

  /** Ends the run when the input is exhausted: a partial step and epoch are completed, and a final checkpoint written. */
  async finish(): Promise<TrainingEvent[]> {
    await this.ready();
    const events = await this.flushStep();
    if (!this.done && (this.position.step > 0 || this.running.images > 0))
      events.push(...(await this.endEpoch()));
    this.position.finished = true;
    events.push(...(await this.boundary('end')));
    return events;
  }

  /** Stops at a batch boundary: drops a partial step and writes a checkpoint of the last complete step. */
  async abort(): Promise<{ events: TrainingEvent[]; checkpoint?: string }> {
    await this.ready();
    this.step.drop();
    this.stepRandom = null;
    this.stepCounts.reset();
    this.stepStarted = null;
    const events = await this.boundary('abort');
    const saved = events.find((event) => event.type === 'checkpoint');
    return saved ? { events, checkpoint: saved.path } : { events };
  }

  /** Frees the optimizers' state and a partial step's. */
  dispose(): void {
    this.step.dispose();
    for (const optimizer of Object.values(this.optimizers)) optimizer.dispose();
  }

  /**
   * Dropout draws its masks from Math.random, so a step runs under a generator seeded by the run's seed and
   * the step's index: the same seed trains the same weights, and a resumed run redraws its steps exactly.
   * The micro-batches of one step share the generator and draw from it in turn.
   */
  private randomOfStep(): SeededRandom {
    const { globalStep, seed } = this.position;
    if (this.stepRandom?.globalStep !== globalStep) {
      this.stepRandom = {
        globalStep,
        random: new SeededRandom(epochSeed(seed, globalStep, STEP_RANDOM_STREAM)),
      };
    }
    return this.stepRandom.random;
  }

  private stepStarting(): void {
    for (const listener of this.listeners) listener.stepStarting?.(this.position);
  }

  /** Completes a step begun on fewer batches than a full one. */
  private async flushStep(): Promise<TrainingEvent[]> {
    if (this.stepStarted === null) return [];
    this.stepStarting();
    const result = this.step.flush();
    return result ? this.afterStep(result, true) : [];
  }

  /** Books a finished optimizer step, then ends the epoch or passes the step boundary to the listeners. */
  private async afterStep(
    { losses, images, batches }: StepResult,
    flushing = false,
  ): Promise<TrainingEvent[]> {
    const seconds = (performance.now() - this.stepStarted!) / 1000;
    this.stepStarted = null;
    this.running.lossSum += losses.total * images;
    this.running.images += images;
    this.running.matrix.merge(this.stepCounts);
    this.stepCounts.reset();
    this.position.batchesDone += batches;
    this.position.step += 1;
    this.position.globalStep += 1;
    const metrics = this.running.matrix.metrics(this.classNames);
    const event: BatchMetricsEvent = {
      type: 'batch',
      epoch: this.position.epoch,
      step: this.position.step - 1,
      globalStep: this.position.globalStep,
      losses,
      learningRate: this.position.learningRate,
      running: {
        loss: this.running.lossSum / this.running.images,
        pixelAccuracy: metrics.pixelAccuracy,
        meanIoU: metrics.meanIoU,
        perClassIoU: metrics.perClass.map((c) => c.iou),
      },
      imagesPerSecond: seconds > 0 ? images / seconds : 0,
      tensorsAlive: tf.memory().numTensors,
      memory: memorySample(),
    };
    const events: TrainingEvent[] = [event];
    if (flushing) return events;
    const { stepsPerEpoch } = this.options;
    if (stepsPerEpoch !== undefined && this.position.step >= stepsPerEpoch)
      events.push(...(await this.endEpoch()));
    else events.push(...(await this.boundary('step')));
    return events;
  }

  private async endEpoch(): Promise<TrainingEvent[]> {
    // An epoch resumed at its end (no batch since) counts from here.
    const started = this.epochStarted ?? performance.now();
    const train = this.running.matrix.metrics(this.classNames);
    const trainLoss = this.running.images ? this.running.lossSum / this.running.images : 0;
    const summary: EpochSummaryEvent = {
      type: 'epoch',
      epoch: this.position.epoch,
      steps: this.position.step,
      globalStep: this.position.globalStep,
      trainLoss,
      train,
      learningRate: this.position.learningRate,
      seconds: 0,
    };
    if (this.options.validation) {
      const validationStarted = performance.now();
      const { loss, metrics } = await this.evaluate(this.options.validation(summary.epoch));
      summary.validationLoss = loss;
      summary.validation = metrics;
      summary.validationSeconds = (performance.now() - validationStarted) / 1000;
    }
    for (const listener of this.listeners) listener.epochEnding?.(summary, this.position);
    this.position.epoch += 1;
    this.position.step = 0;
    this.position.batchesDone = 0;
    this.running = {
      matrix: new ConfusionMatrix(this.options.numClasses, this.options.ignoreValue ?? 255),
      lossSum: 0,
      images: 0,
    };
    if (summary.earlyStopped || this.position.epoch >= (this.options.epochs ?? 1))
      this.position.finished = true;
    summary.seconds = (performance.now() - started) / 1000;
    this.epochStarted = null;
    return [summary, ...(await this.boundary('epoch'))];
  }

  /** Passes a boundary to the listeners, with the epoch's running totals in the position (checkpoints keep them). */
  private async boundary(reason: RunBoundary): Promise<TrainingEvent[]> {
    this.position.running = {
      counts: [...this.running.matrix.counts],
      lossSum: this.running.lossSum,
      images: this.running.images,
    };
    const events: TrainingEvent[] = [];
    for (const listener of this.listeners)
      events.push(...((await listener.boundary?.(reason, this.position)) ?? []));
    return events;
  }

  /**
   * Runs the model in inference mode over a stream of batches, releasing each after use.
   * @returns the mean loss (weighted by images) and the metrics.
   */
  async evaluate(batches: Observable<TensorBatch>): Promise<{ loss: number; metrics: SegmentationMetrics }> {
    const matrix = new ConfusionMatrix(this.options.numClasses, this.options.ignoreValue ?? 255);
    let lossSum = 0;
    let images = 0;
    await lastValueFrom(
      batches.pipe(
        concatMap(async (batch) => {
          try {
            const logits = tf.tidy(
              () => this.options.model.apply(batch.images, { training: false }) as tf.Tensor4D,
            );
            const loss = this.loss(logits, batch.labels);
            try {
              // Both read back together: one wait for a GPU, not two.
              const [lossValue] = await Promise.all([loss.data(), matrix.addLogits(logits, batch.labels)]);
              lossSum += lossValue[0]! * batch.images.shape[0];
              images += batch.images.shape[0];
            } finally {
              tf.dispose([logits, loss]);
            }
          } finally {
            batch.release();
          }
        }),
        count(),
      ),
    );
    return { loss: images ? lossSum / images : 0, metrics: matrix.metrics(this.classNames) };
  }
}
