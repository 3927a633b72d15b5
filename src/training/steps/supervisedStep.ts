import * as tf from '@tensorflow/tfjs';
import type { SegmentationLoss } from '../../losses/segmentationLosses.js';
import type { ConfusionMatrix } from '../../metrics/confusionMatrix.js';
import type { TensorBatch } from '../../types.js';
import { type SeededRandom, withMathRandomFrom } from '../../util/seededRandom.js';
import { gradients, type StepResult, type TrainingStep, trainableVariables } from './trainingStep.js';

/**
 * Supervised training (UNet, DeepLabV3+) with gradient accumulation: the gradients of `microBatchesPerStep`
 * incoming batches, each scaled by its image count, are summed and applied as one optimizer step on their
 * image-weighted mean (a step of one batch applies its gradients as they are).
 */
export class SupervisedStep implements TrainingStep {
  /** Summed micro-batch gradients (each scaled by its image count; one batch's as they are) of the step in progress, by variable name. */
  private accumulated: Map<string, tf.Tensor> | null = null;
  private pending = { batches: 0, images: 0, lossSum: 0 };
  /**
   * The model's non-trainable weights (batch-norm moving statistics) as the step in progress found them.
   * Each micro-batch updates them at once, so a step dropped part-way restores them: a resumed run then
   * trains those micro-batches again without counting them twice.
   */
  private statisticsAtStepStart: tf.Tensor[] | null = null;

  constructor(
    private readonly model: tf.LayersModel,
    private readonly loss: SegmentationLoss,
    private readonly optimizer: tf.Optimizer,
    private readonly microBatchesPerStep: number,
  ) {}

  async consume(
    batch: TensorBatch,
    _globalStep: number,
    counts: ConfusionMatrix,
    random: SeededRandom,
  ): Promise<StepResult | null> {
    const { logits, value } = this.accumulate(batch, random);
    const completes = this.pending.batches >= this.microBatchesPerStep;
    if (completes) this.applyAccumulated();
    // Read back once the step is encoded, optimizer update included, counts and loss in one wait: a GPU runs
    // the step while this waits.
    try {
      const [, loss] = await Promise.all([counts.addLogits(logits, batch.labels), value.data()]);
      this.pending.lossSum += loss[0]! * batch.images.shape[0];
    } finally {
      tf.dispose([logits, value]);
    }
    return completes ? this.complete() : null;
  }

  flush(): StepResult | null {
    if (this.pending.batches === 0) return null;
    this.applyAccumulated();
    return this.complete();
  }

  drop(): void {
    if (this.statisticsAtStepStart)
      this.model.nonTrainableWeights.forEach((w, i) => w.write(this.statisticsAtStepStart![i]!));
    this.clear();
  }

  dispose(): void {
    this.clear();
  }

  private clear(): void {
    if (this.accumulated) tf.dispose([...this.accumulated.values()]);
    this.accumulated = null;
    if (this.statisticsAtStepStart) tf.dispose(this.statisticsAtStepStart);
    this.statisticsAtStepStart = null;
    this.pending = { batches: 0, images: 0, lossSum: 0 };
  }

  /** Encodes the gradients of one micro-batch and adds them, scaled by its images, to the step's sums. */
  private accumulate(batch: TensorBatch, random: SeededRandom): { logits: tf.Tensor4D; value: tf.Scalar } {
    // Only a step of several micro-batches can be dropped part-way.
    if (this.microBatchesPerStep > 1 && this.pending.batches === 0) {
      this.statisticsAtStepStart = this.model.nonTrainableWeights.map((w) => w.read().clone());
    }
    const variables = trainableVariables(this.model);
    const images = batch.images.shape[0];
    let logits: tf.Tensor4D | undefined;
    const { value, grads } = withMathRandomFrom(random, () =>
      gradients(variables, () => {
        const output = this.model.apply(batch.images, { training: true }) as tf.Tensor4D;
        logits = tf.keep(output);
        return this.loss(output, batch.labels);
      }),
    );
    const previous = this.accumulated;
    if (this.microBatchesPerStep === 1) {
      // A step of one batch applies its gradients as they are: two programs a variable fewer on a GPU.
      this.accumulated = new Map(variables.map((v, i) => [v.name, grads[i]!]));
    } else {
      this.accumulated = new Map(
        variables.map((v, i) => {
          const scaled = tf.tidy(() =>
            previous ? previous.get(v.name)!.add(grads[i]!.mul(images)) : grads[i]!.mul(images),
          );
          return [v.name, scaled];
        }),
      );
      tf.dispose(grads);
    }
    if (previous) tf.dispose([...previous.values()]);
    this.pending.batches += 1;
    this.pending.images += images;
    return { logits: logits!, value };
  }

  /** Encodes the optimizer step on the image-weighted mean of the accumulated gradients. */
  private applyAccumulated(): void {
    const { images } = this.pending;
    const unscaled = this.microBatchesPerStep === 1;
    const named = [...this.accumulated!.entries()].map(([name, sum]) => ({
      name,
      tensor: unscaled ? sum : sum.div(images),
    }));
    this.optimizer.applyGradients(named);
    if (!unscaled) tf.dispose(named.map((n) => n.tensor));
  }

  /** The result of the step whose update is applied and whose losses are read; starts the next step. */
  private complete(): StepResult {
    const { batches, images, lossSum } = this.pending;
    this.clear();
    return { losses: { total: lossSum / images }, images, batches };
  }
}
