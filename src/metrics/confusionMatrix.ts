import * as tf from '@tensorflow/tfjs';
import { CONFUSION_COUNTS } from '../backend/fusedKernels.js';

/** Metrics of one class, from the confusion matrix. */
export interface ClassMetrics {
  name: string;
  precision: number;
  recall: number;
  f1: number;
  iou: number;
  /** Labelled pixels of this class seen (the confusion matrix row sum). */
  support: number;
}

/** Metrics from a confusion matrix over one or more batches (ignored pixels excluded). */
export interface SegmentationMetrics {
  /** Correct pixels / counted pixels. */
  pixelAccuracy: number;
  /** Mean IoU over the classes present in labels or predictions. */
  meanIoU: number;
  /** Unweighted means over classes present in labels or predictions. */
  macro: { precision: number; recall: number; f1: number };
  /** Pooled over all pixels (for single-label segmentation all three equal pixel accuracy). */
  micro: { precision: number; recall: number; f1: number };
  perClass: ClassMetrics[];
  /** xView2 score parts, present when the class map is the xBD 5-class scheme. */
  xview2?: { localizationF1: number; damageF1: number; score: number };
  /** Pixels counted (not ignored). */
  pixels: number;
}

/**
 * Up to this many classes a GPU counts a batch's pairs itself (CONFUSION_COUNTS, whose work grows with the
 * square of the classes); beyond, reading every pixel back and counting here is about as fast.
 */
const MOST_CLASSES_COUNTED_ON_DEVICE = 32;

/**
 * A confusion matrix accumulated over batches: counts[label * C + predicted]. Only the C x C counts are
 * kept, never per-pixel arrays; pixels whose label is the ignore value are not counted.
 *
 * @example
 * ```ts
 * const matrix = new ConfusionMatrix(5);
 * await matrix.addLogits(logits, batch.labels);
 * const { meanIoU, perClass } = matrix.metrics(['background', ...]);
 * ```
 */
export class ConfusionMatrix {
  readonly numClasses: number;
  readonly ignoreValue: number;
  /** Row = true class, column = predicted class. Float64 so counts stay exact past 2^32 pixels. */
  readonly counts: Float64Array;

  /**
   * @param numClasses - classes 0..numClasses-1.
   * @param ignoreValue - [ignoreValue=255] label value not counted.
   */
  constructor(numClasses: number, ignoreValue = 255) {
    if (!Number.isInteger(numClasses) || numClasses < 1)
      throw new RangeError(`ConfusionMatrix: numClasses must be an integer >= 1, got ${String(numClasses)}`);
    this.numClasses = numClasses;
    this.ignoreValue = ignoreValue;
    this.counts = new Float64Array(numClasses * numClasses);
  }

  /**
   * Counts label/prediction pairs given as flat arrays of class ids.
   *
   * @throws RangeError when the lengths differ or a label or prediction is out of range (other than the ignore
   *   value); nothing of the batch is counted then.
   */
  add(labels: ArrayLike<number>, predictions: ArrayLike<number>): void {
    if (labels.length !== predictions.length) {
      throw new RangeError(
        `ConfusionMatrix.add: labels and predictions must have the same length, got ${labels.length} and ${predictions.length}`,
      );
    }
    const c = this.numClasses;
    // Counted apart and added at the end, so a refused batch adds nothing.
    const counts = new Float64Array(c * c);
    for (let i = 0; i < labels.length; i++) {
      const label = labels[i]!;
      if (label === this.ignoreValue) continue;
      const predicted = predictions[i]!;
      if (!(label >= 0 && label < c && predicted >= 0 && predicted < c)) {
        throw new RangeError(
          `ConfusionMatrix.add: class ids must be in [0, ${c - 1}] or ${this.ignoreValue}, got label ${label}, prediction ${predicted} at pixel ${i}`,
        );
      }
      counts[label * c + predicted]! += 1;
    }
    counts.forEach((count, i) => {
      this.counts[i]! += count;
    });
  }

  /**
   * Counts the arg-max of logits [B, H, W, C] against labels [B, H, W]. Disposes what it creates. Reads the
   * values asynchronously: a GPU backend (webgpu) cannot read them synchronously in Node. Where the backend
   * has CONFUSION_COUNTS (webgpu), the counts of up to 32 classes are made where the logits are and only they
   * are read back.
   *
   * @throws RangeError as {@link add}.
   */
  async addLogits(logits: tf.Tensor4D, labels: tf.Tensor3D): Promise<void> {
    const onDevice =
      this.numClasses <= MOST_CLASSES_COUNTED_ON_DEVICE &&
      tf.getKernel(CONFUSION_COUNTS, tf.getBackend()) !== undefined;
    const [predicted, counts] = tf.tidy(() => {
      const argMax = tf.argMax(logits, -1);
      if (!onDevice) return [argMax, undefined];
      const pairs = tf
        .engine()
        .runKernel(
          CONFUSION_COUNTS,
          { labels: labels.toInt(), predictions: argMax },
          { numClasses: this.numClasses, ignoreValue: this.ignoreValue },
        ) as tf.Tensor;
      return [argMax, pairs];
    });
    try {
      const pairs = counts ? await counts.data() : undefined;
      if (pairs && pairs[pairs.length - 1] === 0) {
        pairs.slice(0, -1).forEach((count, i) => {
          this.counts[i]! += count;
        });
        return;
      }
      // Counted here, also to name the first pixel out of range where the device found one.
      const [labelValues, predictedValues] = await Promise.all([labels.data(), predicted.data()]);
      (pairs ? new ConfusionMatrix(this.numClasses, this.ignoreValue) : this).add(
        labelValues,
        predictedValues,
      );
    } finally {
      tf.dispose([predicted, ...(counts ? [counts] : [])]);
    }
  }

  /** Adds another matrix's counts (same class count). */
  merge(other: ConfusionMatrix): void {
    if (other.numClasses !== this.numClasses)
      throw new RangeError(
        `ConfusionMatrix.merge: class counts differ (${this.numClasses} vs ${other.numClasses})`,
      );
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += other.counts[i]!;
  }

  reset(): void {
    this.counts.fill(0);
  }

  /** Count of pixels with true class `label` predicted as `predicted`. */
  at(label: number, predicted: number): number {
    return this.counts[label * this.numClasses + predicted]!;
  }

  /** Pixels counted. */
  get total(): number {
    return this.counts.reduce((a, b) => a + b, 0);
  }

  /**
   * All metrics. Ratios with a zero denominator are 0; means (mIoU, macro) are over the classes that occur
   * in labels or predictions, so a class absent from both does not pull the mean down.
   *
   * @param classNames - names per class id; defaults to "class i". When they are the five xBD classes
   *   (background + four damage levels), the xView2 score is included.
   */
  metrics(classNames?: string[]): SegmentationMetrics {
    const c = this.numClasses;
    const names = classNames ?? Array.from({ length: c }, (_, i) => `class ${i}`);
    const perClass: ClassMetrics[] = [];
    const present: boolean[] = [];
    let correct = 0;
    for (let k = 0; k < c; k++) {
      const truePositive = this.at(k, k);
      let rowSum = 0;
      let columnSum = 0;
      for (let j = 0; j < c; j++) {
        rowSum += this.at(k, j);
        columnSum += this.at(j, k);
      }
      correct += truePositive;
      present.push(rowSum + columnSum > 0);
      const precision = ratio(truePositive, columnSum);
      const recall = ratio(truePositive, rowSum);
      perClass.push({
        name: names[k] ?? `class ${k}`,
        precision,
        recall,
        f1: ratio(2 * truePositive, rowSum + columnSum),
        iou: ratio(truePositive, rowSum + columnSum - truePositive),
        support: rowSum,
      });
    }
    const pixels = this.total;
    const pixelAccuracy = ratio(correct, pixels);
    const presentClasses = perClass.filter((_, k) => present[k]);
    const mean = (pick: (m: ClassMetrics) => number) =>
      presentClasses.length ? presentClasses.reduce((s, m) => s + pick(m), 0) / presentClasses.length : 0;
    const result: SegmentationMetrics = {
      pixelAccuracy,
      meanIoU: mean((m) => m.iou),
      macro: { precision: mean((m) => m.precision), recall: mean((m) => m.recall), f1: mean((m) => m.f1) },
      // Each pixel has one label and one prediction: pooled FP = pooled FN = wrong pixels.
      micro: { precision: pixelAccuracy, recall: pixelAccuracy, f1: pixelAccuracy },
      perClass,
      pixels,
    };
    if (c === 5 && classNames !== undefined && isXbdScheme(classNames)) result.xview2 = this.xview2Score();
    return result;
  }

  /**
   * The xView2 challenge score for the 5-class scheme (0 background, 1-4 damage levels): localization F1
   * of building (any of 1-4) vs background over all pixels; damage F1 = harmonic mean of the per-class F1 of
   * classes 1-4 computed on the pixels whose true class is a building (a building pixel predicted as
   * background counts as a false negative of its class); score = 0.3 localization + 0.7 damage.
   */
  xview2Score(): { localizationF1: number; damageF1: number; score: number } {
    if (this.numClasses !== 5)
      throw new RangeError(
        `xview2Score needs the 5-class xBD scheme, this matrix has ${this.numClasses} classes`,
      );
    let buildingTP = 0;
    let buildingFP = 0;
    let buildingFN = 0;
    for (let label = 0; label < 5; label++) {
      for (let predicted = 0; predicted < 5; predicted++) {
        const n = this.at(label, predicted);
        if (label > 0 && predicted > 0) buildingTP += n;
        else if (label === 0 && predicted > 0) buildingFP += n;
        else if (label > 0 && predicted === 0) buildingFN += n;
      }
    }
    const localizationF1 = ratio(2 * buildingTP, 2 * buildingTP + buildingFP + buildingFN);
    const damageF1s: number[] = [];
    for (let k = 1; k < 5; k++) {
      const truePositive = this.at(k, k);
      let falsePositive = 0;
      let falseNegative = 0;
      for (let j = 0; j < 5; j++) {
        if (j !== k) falseNegative += this.at(k, j);
        if (j !== k && j > 0) falsePositive += this.at(j, k);
      }
      damageF1s.push(ratio(2 * truePositive, 2 * truePositive + falsePositive + falseNegative));
    }
    // The official scorer adds 1e-6 to each F1 so that a zero F1 gives a near-zero, finite harmonic mean.
    const damageF1 = 4 / damageF1s.reduce((s, f1) => s + 1 / (f1 + 1e-6), 0);
    return { localizationF1, damageF1, score: 0.3 * localizationF1 + 0.7 * damageF1 };
  }
}

function ratio(numerator: number, denominator: number): number {
  return denominator > 0 ? numerator / denominator : 0;
}

function isXbdScheme(names: string[]): boolean {
  return names[0] === 'background' && names.slice(1).every((n) => /damage|destroyed/.test(n));
}
