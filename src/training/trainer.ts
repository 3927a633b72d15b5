import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, type Observable, concatMap, count } from 'rxjs';
import type { TensorBatch } from '../types.js';
import { buildLoss, type LossConfig } from '../losses/buildLoss.js';
import { maskedOneHot, sparseCrossEntropy, l1OneHot, type SegmentationLoss } from '../losses/segmentationLosses.js';
import { ConfusionMatrix, type SegmentationMetrics } from '../metrics/confusionMatrix.js';
import { buildOptimizer, setLearningRate, type OptimizerConfig } from './optimizers.js';
import { createSchedule, type LearningRateSchedule, type ScheduleConfig } from './schedules.js';
import { assertCheckpointDirWritable, saveCheckpoint, type LoadedCheckpoint, type TrainingPosition } from './checkpoint.js';
import type { BatchMetricsEvent, CheckpointEvent, EpochSummaryEvent, MemorySample, StepLosses, TrainingEvent } from './events.js';

/** Metrics early stopping and reduce-on-plateau can watch. Losses are minimised, the others maximised. */
export type MonitoredMetric = 'validation.meanIoU' | 'validation.xview2' | 'validationLoss' | 'train.meanIoU' | 'trainLoss';

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

interface RunningTotals {
  matrix: ConfusionMatrix;
  lossSum: number;
  images: number;
}

function checkPositiveInteger(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 1)) throw new RangeError(`train: ${name} must be an integer >= 1, got ${String(value)}`);
}

function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  // LayerVariable.read() returns the backing tf.Variable itself.
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

function memorySample(): MemorySample {
  const { rss, heapUsed } = process.memoryUsage();
  const sample: MemorySample = { rss, heapUsed, tensorBytes: tf.memory().numBytes };
  const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.buffer.byteLength;
  if (heap !== undefined) sample.wasmHeap = heap;
  return sample;
}

/**
 * Trains a segmentation model (or Pix2Pix) one incoming batch at a time, keeping the run's position, running
 * metrics, schedule and early-stopping state. The `train` operator drives it; it is exposed for callers that
 * loop themselves.
 */
export class Trainer {
  readonly options: TrainerOptions;
  private readonly loss: SegmentationLoss;
  private readonly optimizer: tf.Optimizer;
  private readonly discriminatorOptimizer?: tf.Optimizer;
  private readonly schedule: LearningRateSchedule;
  private readonly baseRate: number;
  private readonly baseDiscriminatorRate: number;
  private readonly microBatchesPerStep: number;
  private readonly classNames: string[];
  private position: TrainingPosition;
  private running: RunningTotals;
  /** Summed micro-batch gradients (each scaled by its image count) of the step in progress. */
  private accumulated: Map<string, tf.Tensor> | null = null;
  private pending = { micro: 0, images: 0, lossSum: 0, started: 0 };
  /** When the epoch in progress took its first batch (after a resume: its first batch since), or null before. */
  private epochStarted: number | null = null;
  /** Confusion counts of the step in progress, booked into the running totals when the step completes. */
  private pendingMatrix: ConfusionMatrix;
  private lastCheckpointStep = -1;
  private lastCheckpointFinished = false;
  private readyPromise: Promise<void> | null = null;

  constructor(options: TrainerOptions) {
    const { model, discriminator, numClasses, ignoreValue = 255, epochs = 1 } = options;
    if (!(model instanceof tf.LayersModel)) throw new TypeError('train: options.model must be a tf.LayersModel');
    if (!Number.isInteger(numClasses) || numClasses < 1) throw new RangeError(`train: numClasses must be an integer >= 1, got ${String(numClasses)}`);
    checkPositiveInteger('epochs', epochs);
    checkPositiveInteger('stepsPerEpoch', options.stepsPerEpoch);
    checkPositiveInteger('microBatchesPerStep', options.microBatchesPerStep);
    checkPositiveInteger('gan.discriminatorEvery', options.gan?.discriminatorEvery);
    checkPositiveInteger('checkpoint.everySteps', options.checkpoint?.everySteps);
    if (options.earlyStopping) checkPositiveInteger('earlyStopping.patience', options.earlyStopping.patience);
    this.microBatchesPerStep = options.microBatchesPerStep ?? 1;
    if (discriminator && this.microBatchesPerStep > 1) throw new RangeError('train: microBatchesPerStep > 1 is not supported with a discriminator (Pix2Pix)');
    if (options.monitor?.startsWith('validation') && !options.validation) throw new RangeError(`train: monitor ${options.monitor} needs options.validation`);
    this.options = options;
    this.classNames = options.classNames ?? Array.from({ length: numClasses }, (_, i) => `class ${i}`);
    const common = { numClasses, ignoreValue, ...(options.classWeights ? { classWeights: options.classWeights } : {}) };
    this.loss = typeof options.loss === 'function' ? options.loss : options.loss ? buildLoss(options.loss, common) : sparseCrossEntropy(common);
    const ganAdam: OptimizerConfig = { name: 'adam', learningRate: 2e-4, beta1: 0.5 };
    const optimizerConfig = options.optimizer ?? (discriminator ? ganAdam : { name: 'adam', learningRate: 1e-3 });
    this.optimizer = buildOptimizer(optimizerConfig);
    this.baseRate = optimizerConfig.learningRate ?? (optimizerConfig.name === 'adam' ? 1e-3 : 0.01);
    const discriminatorConfig = options.discriminatorOptimizer ?? ganAdam;
    this.baseDiscriminatorRate = discriminatorConfig.learningRate ?? 2e-4;
    if (discriminator) this.discriminatorOptimizer = buildOptimizer(discriminatorConfig);
    this.schedule = createSchedule(options.schedule, this.baseRate);
    this.position = {
      epoch: 0,
      step: 0,
      batchesDone: 0,
      globalStep: 0,
      seed: options.seed ?? 0,
      best: null,
      epochsWithoutImprovement: 0,
      schedule: this.schedule.state(),
      learningRate: this.baseRate,
      finished: false,
      running: { counts: [], lossSum: 0, images: 0 },
    };
    this.running = { matrix: new ConfusionMatrix(numClasses, ignoreValue), lossSum: 0, images: 0 };
    this.pendingMatrix = new ConfusionMatrix(numClasses, ignoreValue);
  }

  /** Where the run stands (a copy). */
  get state(): TrainingPosition {
    return structuredClone(this.position);
  }

  /** True when the epochs are done or early stopping ended the run. */
  get done(): boolean {
    return this.position.finished;
  }

  /** Checks the checkpoint folder and restores a checkpoint's optimizer state and position. Idempotent. */
  ready(): Promise<void> {
    this.readyPromise ??= (async () => {
      if (this.options.checkpoint) await assertCheckpointDirWritable(this.options.checkpoint.dir);
      const checkpoint = this.options.resumeFrom;
      if (!checkpoint) return;
      const restore = async (optimizer: tf.Optimizer | undefined, role: string) => {
        const weights = checkpoint.optimizerWeights[role];
        if (!optimizer || !weights) return;
        await optimizer.setWeights(weights);
        tf.dispose(weights.map((w) => w.tensor));
      };
      await restore(this.optimizer, 'model');
      await restore(this.discriminatorOptimizer, 'discriminator');
      this.position = structuredClone(checkpoint.position);
      // A completed run's checkpoint goes on when this run asks for more epochs than it had.
      this.position.finished = this.position.epoch >= (this.options.epochs ?? 1) || this.patienceExhausted();
      this.schedule.restore(this.position.schedule);
      this.running.matrix.counts.set(this.position.running.counts.length ? this.position.running.counts : new Array(this.running.matrix.counts.length).fill(0));
      this.running.lossSum = this.position.running.lossSum;
      this.running.images = this.position.running.images;
      this.lastCheckpointStep = this.position.globalStep;
      this.lastCheckpointFinished = this.position.finished;
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
      if (this.pending.micro > 0) events.push(...(await this.afterStep(this.applyAccumulated(), this.pending.images, true)));
      events.push(...(await this.endEpoch()));
    }
    if (this.done) return events;
    return [...events, ...(await this.consumeInEpoch(batch))];
  }

  private async consumeInEpoch(batch: TensorBatch): Promise<TrainingEvent[]> {
    if (this.pending.micro === 0) this.pending.started = performance.now();
    this.epochStarted ??= this.pending.started;
    const images = batch.images.shape[0];
    if (this.options.discriminator) return this.afterStep(await this.ganStep(batch), images);
    await this.accumulate(batch);
    if (this.pending.micro < this.microBatchesPerStep) return [];
    return this.afterStep(this.applyAccumulated(), this.pending.images);
  }

  /** Ends the run when the input is exhausted: a partial step and epoch are completed, and a final checkpoint written. */
  async finish(): Promise<TrainingEvent[]> {
    await this.ready();
    const events: TrainingEvent[] = [];
    if (this.pending.micro > 0) events.push(...(await this.afterStep(this.applyAccumulated(), this.pending.images, true)));
    if (!this.done && (this.position.step > 0 || this.running.images > 0)) events.push(...(await this.endEpoch()));
    this.position.finished = true;
    const saved = await this.writeCheckpoint('end');
    if (saved) events.push(saved);
    return events;
  }

  /** Stops at a batch boundary: drops a partial accumulation and writes a checkpoint of the last complete step. */
  async abort(): Promise<{ events: TrainingEvent[]; checkpoint?: string }> {
    await this.ready();
    this.disposeAccumulated();
    this.pendingMatrix.reset();
    const saved = await this.writeCheckpoint('abort');
    return saved ? { events: [saved], checkpoint: saved.path } : { events: [] };
  }

  /** Frees the optimizers' state. */
  dispose(): void {
    this.disposeAccumulated();
    this.optimizer.dispose();
    this.discriminatorOptimizer?.dispose();
  }

  private setRates(): number {
    const rate = this.schedule.rateAt(this.position.epoch, this.position.globalStep);
    setLearningRate(this.optimizer, rate);
    if (this.discriminatorOptimizer) setLearningRate(this.discriminatorOptimizer, (this.baseDiscriminatorRate * rate) / this.baseRate);
    this.position.learningRate = rate;
    return rate;
  }

  /** Gradients of `lossFn` for every variable in order, zeros where a variable does not reach the loss. */
  private gradients(variables: tf.Variable[], lossFn: () => tf.Scalar): { value: tf.Scalar; grads: tf.Tensor[] } {
    const { value, grads } = tf.variableGrads(lossFn, variables);
    // Optimizers match slot variables to gradients by position, so every variable must have one.
    return { value, grads: variables.map((v) => grads[v.name] ?? tf.zerosLike(v)) };
  }

  // Values are read with data(), not dataSync(): the webgpu backend cannot read a GPU buffer synchronously in Node.
  private async accumulate(batch: TensorBatch): Promise<void> {
    const variables = trainableVariables(this.options.model);
    const images = batch.images.shape[0];
    let logits: tf.Tensor4D | undefined;
    const { value, grads } = this.gradients(variables, () => {
      const output = this.options.model.apply(batch.images, { training: true }) as tf.Tensor4D;
      logits = tf.keep(output);
      return this.loss(output, batch.labels);
    });
    await this.pendingMatrix.addLogits(logits!, batch.labels);
    logits!.dispose();
    const lossValue = (await value.data())[0]!;
    value.dispose();
    const previous = this.accumulated;
    this.accumulated = new Map(
      variables.map((v, i) => {
        const scaled = tf.tidy(() => (previous ? previous.get(v.name)!.add(grads[i]!.mul(images)) : grads[i]!.mul(images)));
        return [v.name, scaled];
      }),
    );
    tf.dispose(grads);
    if (previous) tf.dispose([...previous.values()]);
    this.pending.micro += 1;
    this.pending.images += images;
    this.pending.lossSum += lossValue * images;
  }

  private applyAccumulated(): StepLosses {
    const accumulated = this.accumulated!;
    const total = this.pending.images;
    this.setRates();
    const named = [...accumulated.entries()].map(([name, sum]) => ({ name, tensor: sum.div(total) }));
    this.optimizer.applyGradients(named);
    tf.dispose(named.map((n) => n.tensor));
    this.disposeAccumulated();
    return { total: this.pending.lossSum / total };
  }

  private disposeAccumulated(): void {
    if (this.accumulated) tf.dispose([...this.accumulated.values()]);
    this.accumulated = null;
  }

  /** Pix2Pix: a discriminator update on every k-th step, then a generator update. */
  private async ganStep(batch: TensorBatch): Promise<StepLosses> {
    const { model: generator, discriminator, numClasses, ignoreValue = 255, gan = {} } = this.options;
    const { adversarialLoss = 'mse', segmentationLoss = 'l1', segmentationWeight = 100, discriminatorEvery = 4 } = gan;
    const segmentation = segmentationLoss === 'l1' ? l1OneHot({ numClasses, ignoreValue, ...(this.options.classWeights ? { classWeights: this.options.classWeights } : {}) }) : this.loss;
    const adversarial = (patchLogits: tf.Tensor, real: boolean): tf.Scalar => {
      const target = real ? tf.onesLike(patchLogits) : tf.zerosLike(patchLogits);
      return adversarialLoss === 'bce' ? tf.losses.sigmoidCrossEntropy(target, patchLogits) : tf.losses.meanSquaredError(target, patchLogits);
    };
    const { oneHot: realMap, valid } = maskedOneHot(batch.labels, numClasses, ignoreValue);
    // The fake map is blanked where labels are ignored too, so the discriminator cannot tell by the blanks.
    const fakeMap = (logits: tf.Tensor4D) => tf.softmax(logits).mul(valid) as tf.Tensor4D;
    this.setRates();
    const losses: StepLosses = { total: 0 };
    if (this.position.globalStep % discriminatorEvery === 0) {
      const fake = tf.tidy(() => fakeMap(generator.apply(batch.images, { training: true }) as tf.Tensor4D));
      const variables = trainableVariables(discriminator!);
      const { value, grads } = this.gradients(variables, () => {
        const realLoss = adversarial(discriminator!.apply([batch.images, realMap], { training: true }) as tf.Tensor, true);
        const fakeLoss = adversarial(discriminator!.apply([batch.images, fake], { training: true }) as tf.Tensor, false);
        return realLoss.add(fakeLoss).mul(0.5) as tf.Scalar;
      });
      this.discriminatorOptimizer!.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: grads[i]! })));
      losses.discriminator = (await value.data())[0]!;
      tf.dispose([fake, value, ...grads]);
    }
    const variables = trainableVariables(generator);
    let logits: tf.Tensor4D | undefined;
    let parts: tf.Scalar[] = [];
    const { value, grads } = this.gradients(variables, () => {
      const output = generator.apply(batch.images, { training: true }) as tf.Tensor4D;
      logits = tf.keep(output);
      const adversarialPart = adversarial(discriminator!.apply([batch.images, fakeMap(output)], { training: true }) as tf.Tensor, true);
      const segmentationPart = segmentation(output, batch.labels);
      parts = [tf.keep(adversarialPart), tf.keep(segmentationPart)];
      return adversarialPart.add(segmentationPart.mul(segmentationWeight)) as tf.Scalar;
    });
    this.optimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: grads[i]! })));
    await this.pendingMatrix.addLogits(logits!, batch.labels);
    [losses.total, losses.adversarial, losses.segmentation] = await Promise.all([value, ...parts].map(async (t) => (await t.data())[0]!));
    tf.dispose([logits!, value, ...grads, ...parts, realMap, valid]);
    this.pending.micro = 1;
    this.pending.images = batch.images.shape[0];
    this.pending.lossSum = losses.total * this.pending.images;
    return losses;
  }

  /** Books a finished optimizer step, then ends the epoch or writes a step checkpoint when due. */
  private async afterStep(losses: StepLosses, images: number, flushing = false): Promise<TrainingEvent[]> {
    const seconds = (performance.now() - this.pending.started) / 1000;
    this.running.lossSum += losses.total * images;
    this.running.images += images;
    this.running.matrix.merge(this.pendingMatrix);
    this.pendingMatrix.reset();
    this.position.batchesDone += this.pending.micro;
    this.position.step += 1;
    this.position.globalStep += 1;
    this.pending = { micro: 0, images: 0, lossSum: 0, started: 0 };
    const metrics = this.running.matrix.metrics(this.classNames);
    const event: BatchMetricsEvent = {
      type: 'batch',
      epoch: this.position.epoch,
      step: this.position.step - 1,
      globalStep: this.position.globalStep,
      losses,
      learningRate: this.position.learningRate,
      running: { loss: this.running.lossSum / this.running.images, pixelAccuracy: metrics.pixelAccuracy, meanIoU: metrics.meanIoU, perClassIoU: metrics.perClass.map((c) => c.iou) },
      imagesPerSecond: seconds > 0 ? images / seconds : 0,
      tensorsAlive: tf.memory().numTensors,
      memory: memorySample(),
    };
    const events: TrainingEvent[] = [event];
    const { stepsPerEpoch } = this.options;
    if (!flushing && stepsPerEpoch !== undefined && this.position.step >= stepsPerEpoch) {
      events.push(...(await this.endEpoch()));
    } else if (!flushing && this.options.checkpoint?.everySteps && this.position.globalStep % this.options.checkpoint.everySteps === 0) {
      const saved = await this.writeCheckpoint('step');
      if (saved) events.push(saved);
    }
    return events;
  }

  private monitorName(): MonitoredMetric {
    return this.options.earlyStopping?.monitor ?? this.options.monitor ?? (this.options.validation ? 'validation.meanIoU' : 'train.meanIoU');
  }

  /** Early stopping is on and the monitored metric has not improved for `patience` epochs. */
  private patienceExhausted(): boolean {
    const patience = this.options.earlyStopping?.patience;
    return patience !== undefined && this.position.epochsWithoutImprovement >= patience;
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
    const monitor = this.monitorName();
    const value = monitoredValue(monitor, summary);
    let improved = false;
    if (value !== undefined) {
      const minDelta = this.options.earlyStopping?.minDelta ?? 0;
      if (this.position.best === null || value > this.position.best.value + minDelta) {
        this.position.best = { value, epoch: this.position.epoch };
        improved = true;
        this.position.epochsWithoutImprovement = 0;
      } else {
        this.position.epochsWithoutImprovement += 1;
      }
      summary.best = { metric: monitor, value: this.position.best.value, epoch: this.position.best.epoch };
    }
    this.schedule.epochEnded(value);
    this.position.schedule = this.schedule.state();
    if (this.patienceExhausted()) summary.earlyStopped = true;
    this.position.epoch += 1;
    this.position.step = 0;
    this.position.batchesDone = 0;
    this.running = { matrix: new ConfusionMatrix(this.options.numClasses, this.options.ignoreValue ?? 255), lossSum: 0, images: 0 };
    if (summary.earlyStopped || this.position.epoch >= (this.options.epochs ?? 1)) this.position.finished = true;
    summary.seconds = (performance.now() - started) / 1000;
    this.epochStarted = null;
    const events: TrainingEvent[] = [summary];
    const saved = await this.writeCheckpoint('epoch', improved);
    if (saved) events.push(saved);
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
            const logits = tf.tidy(() => this.options.model.apply(batch.images, { training: false }) as tf.Tensor4D);
            const loss = this.loss(logits, batch.labels);
            lossSum += (await loss.data())[0]! * batch.images.shape[0];
            images += batch.images.shape[0];
            await matrix.addLogits(logits, batch.labels);
            tf.dispose([logits, loss]);
          } finally {
            batch.release();
          }
        }),
        count(),
      ),
    );
    return { loss: images ? lossSum / images : 0, metrics: matrix.metrics(this.classNames) };
  }

  /** Writes a checkpoint unless this step's is written already; `best` marks it as the run's best. */
  private async writeCheckpoint(reason: CheckpointEvent['reason'], best = false): Promise<CheckpointEvent | null> {
    const config = this.options.checkpoint;
    const unchanged = this.lastCheckpointStep === this.position.globalStep && this.lastCheckpointFinished === this.position.finished;
    if (!config || unchanged) return null;
    this.position.running = { counts: [...this.running.matrix.counts], lossSum: this.running.lossSum, images: this.running.images };
    const models: Record<string, tf.LayersModel> = { model: this.options.model };
    const optimizers: Record<string, tf.Optimizer> = { model: this.optimizer };
    if (this.options.discriminator) {
      models.discriminator = this.options.discriminator;
      optimizers.discriminator = this.discriminatorOptimizer!;
    }
    const path = await saveCheckpoint(config.dir, { models, optimizers, position: this.position }, { ...(config.keep !== undefined ? { keep: config.keep } : {}), best });
    this.lastCheckpointStep = this.position.globalStep;
    this.lastCheckpointFinished = this.position.finished;
    return { type: 'checkpoint', path, epoch: this.position.epoch, step: this.position.step, globalStep: this.position.globalStep, reason };
  }
}

function monitoredValue(monitor: MonitoredMetric, summary: EpochSummaryEvent): number | undefined {
  switch (monitor) {
    case 'train.meanIoU':
      return summary.train.meanIoU;
    case 'trainLoss':
      return -summary.trainLoss;
    case 'validation.meanIoU':
      return summary.validation?.meanIoU;
    case 'validation.xview2':
      return summary.validation?.xview2?.score;
    case 'validationLoss':
      return summary.validationLoss === undefined ? undefined : -summary.validationLoss;
  }
}
