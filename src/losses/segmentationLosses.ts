import * as tf from '@tensorflow/tfjs';

/**
 * A segmentation loss: logits [B, H, W, C] and class ids [B, H, W] (int32, the ignore value on pixels to
 * leave out) to a scalar. Pixels holding the ignore value contribute nothing, to the value or the gradient.
 */
export type SegmentationLoss = (logits: tf.Tensor4D, labels: tf.Tensor3D) => tf.Scalar;

/** Options every loss takes. */
export interface LossCommonOptions {
  /** Classes in the logits' last axis. */
  numClasses: number;
  /** [ignoreValue=255] Label value of pixels to leave out. */
  ignoreValue?: number;
  /** [classWeights=all 1] One non-negative weight per class. */
  classWeights?: number[];
}

/** Options of the region losses (Dice, Tversky, focal Tversky). */
export interface RegionLossOptions extends LossCommonOptions {
  /** [smooth=1] Added to numerator and denominator, so that a class absent from a batch and predicted nowhere gives loss 0. */
  smooth?: number;
  /** [activation='softmax'] How logits become probabilities: softmax over classes, or sigmoid per channel. */
  activation?: 'softmax' | 'sigmoid';
  /**
   * [skipAbsentClasses=false] Average only over the classes that have labelled pixels in the batch. Counted,
   * a class absent from a batch scores 1/(alpha FP + s) and its loss is near its maximum unless its
   * probability is near zero on every pixel; so a rare class, absent from most batches, is trained towards
   * never being predicted. Skipped, its false positives still cost through the other classes' misses.
   */
  skipAbsentClasses?: boolean;
}

/** Options of the Tversky losses. */
export interface TverskyOptions extends RegionLossOptions {
  /**
   * [alpha=0.3] Weight of false positives. The defaults weigh a missed pixel more than a false alarm, as
   * Salehi et al. (2017) and Abraham & Khan (2019) do for rare classes: recall of small structures.
   */
  alpha?: number;
  /** [beta=0.7] Weight of false negatives. */
  beta?: number;
}

/** Options of focal Tversky: the Tversky loss per class raised to `gamma`. */
export interface FocalTverskyOptions extends TverskyOptions {
  /** [gamma=0.75] Exponent on (1 - Tversky index) (Abraham & Khan 2019 use 1/gamma with gamma 4/3). */
  gamma?: number;
}

/** Options of the focal loss (Lin et al. 2017). */
export interface FocalOptions extends LossCommonOptions {
  /** [gamma=2] Focusing exponent on (1 - p_true). */
  gamma?: number;
}

/** Options of categorical cross-entropy. */
export interface CategoricalCrossEntropyOptions extends LossCommonOptions {
  /** [labelSmoothing=0] Target = (1 - s) one-hot + s / C. */
  labelSmoothing?: number;
}

function checkCommon(
  where: string,
  options: LossCommonOptions,
): { numClasses: number; ignoreValue: number; classWeights: number[] } {
  const { numClasses, ignoreValue = 255, classWeights } = options;
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new RangeError(`${where}: numClasses must be an integer >= 1, got ${String(numClasses)}`);
  }
  if (!Number.isInteger(ignoreValue))
    throw new RangeError(`${where}: ignoreValue must be an integer, got ${String(ignoreValue)}`);
  if (classWeights !== undefined) {
    if (!Array.isArray(classWeights) || classWeights.length !== numClasses) {
      throw new RangeError(
        `${where}: classWeights must have ${numClasses} entries (one per class), got ${JSON.stringify(classWeights)}`,
      );
    }
    if (classWeights.some((w) => !Number.isFinite(w) || w < 0)) {
      throw new RangeError(
        `${where}: classWeights must be finite and >= 0, got ${JSON.stringify(classWeights)}`,
      );
    }
  }
  return { numClasses, ignoreValue, classWeights: classWeights ?? new Array<number>(numClasses).fill(1) };
}

function checkNonNegative(where: string, name: string, value: number): void {
  if (!Number.isFinite(value) || value < 0)
    throw new RangeError(`${where}: ${name} must be a finite number >= 0, got ${String(value)}`);
}

/**
 * The pieces every loss needs: a float mask of counted pixels [B, H, W, 1] and one-hot targets
 * [B, H, W, C] that are all zero on ignored pixels.
 */
export function maskedOneHot(
  labels: tf.Tensor3D,
  numClasses: number,
  ignoreValue: number,
): { valid: tf.Tensor4D; oneHot: tf.Tensor4D } {
  return tf.tidy(() => {
    const ints = labels.toInt();
    const validBool = tf.notEqual(ints, tf.scalar(ignoreValue, 'int32'));
    const safe = tf.where(validBool, ints, tf.zerosLike(ints));
    const valid = validBool.toFloat().expandDims(-1) as tf.Tensor4D;
    // Int one-hot then cast: the wasm float32 OneHot kernel writes int bits into floats.
    const oneHot = tf
      .oneHot(safe as tf.Tensor3D, numClasses)
      .toFloat()
      .mul(valid) as tf.Tensor4D;
    return { valid, oneHot };
  });
}

function checkShapes(where: string, logits: tf.Tensor4D, labels: tf.Tensor3D, numClasses: number): void {
  const [b, h, w, c] = logits.shape;
  const [lb, lh, lw] = labels.shape;
  if (logits.rank !== 4 || labels.rank !== 3 || b !== lb || h !== lh || w !== lw || c !== numClasses) {
    throw new RangeError(
      `${where}: expected logits [B, H, W, ${numClasses}] and labels [B, H, W] of the same B, H, W, got logits [${logits.shape}] and labels [${labels.shape}]`,
    );
  }
}

/** Weighted mean of per-pixel losses [B, H, W] with per-pixel weights; 0 when no pixel counts. */
function weightedPixelMean(perPixel: tf.Tensor, pixelWeight: tf.Tensor): tf.Scalar {
  const total = pixelWeight.sum();
  return perPixel.mul(pixelWeight).sum().div(tf.maximum(total, 1e-12)) as tf.Scalar;
}

/**
 * Sparse categorical cross-entropy on softmax(logits): the mean over counted pixels of
 * -w[y] log p_y, normalised by the sum of the pixels' class weights (as PyTorch's weighted mean).
 *
 * @example
 * ```ts
 * const loss = sparseCrossEntropy({ numClasses: 5, classWeights: [0.2, 1, 4, 4, 1] });
 * const value = loss(logits, labels);
 * ```
 * @param options - see {@link LossCommonOptions}.
 */
export function sparseCrossEntropy(options: LossCommonOptions): SegmentationLoss {
  const { numClasses, ignoreValue, classWeights } = checkCommon('sparseCrossEntropy', options);
  return (logits, labels) => {
    checkShapes('sparseCrossEntropy', logits, labels, numClasses);
    return tf.tidy(() => {
      const { oneHot } = maskedOneHot(labels, numClasses, ignoreValue);
      const perPixel = oneHot.mul(tf.logSoftmax(logits)).sum(-1).neg();
      const pixelWeight = oneHot.mul(tf.tensor1d(classWeights)).sum(-1);
      return weightedPixelMean(perPixel, pixelWeight);
    });
  };
}

/**
 * Categorical cross-entropy against (optionally smoothed) one-hot targets:
 * -sum_c t_c log p_c, weighted by the true class's weight, averaged over counted pixels. With no
 * smoothing it equals {@link sparseCrossEntropy}.
 *
 * @example
 * ```ts
 * const loss = categoricalCrossEntropy({ numClasses: 5, labelSmoothing: 0.1 });
 * ```
 * @param options - see {@link CategoricalCrossEntropyOptions}.
 */
export function categoricalCrossEntropy(options: CategoricalCrossEntropyOptions): SegmentationLoss {
  const { numClasses, ignoreValue, classWeights } = checkCommon('categoricalCrossEntropy', options);
  const smoothing = options.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing < 1))
    throw new RangeError(
      `categoricalCrossEntropy: labelSmoothing must be in [0, 1), got ${String(smoothing)}`,
    );
  return (logits, labels) => {
    checkShapes('categoricalCrossEntropy', logits, labels, numClasses);
    return tf.tidy(() => {
      const { oneHot, valid } = maskedOneHot(labels, numClasses, ignoreValue);
      const targets = oneHot.mul(1 - smoothing).add(valid.mul(smoothing / numClasses));
      const perPixel = targets.mul(tf.logSoftmax(logits)).sum(-1).neg();
      const pixelWeight = oneHot.mul(tf.tensor1d(classWeights)).sum(-1);
      return weightedPixelMean(perPixel, pixelWeight);
    });
  };
}

/**
 * Binary cross-entropy per channel on sigmoid(logits) against one-hot targets (one independent
 * "is it class c" decision per channel, as the original 4-channel BCE setup), averaged over counted
 * pixels and channels with channel c weighted by classWeights[c].
 *
 * @example
 * ```ts
 * const loss = binaryCrossEntropy({ numClasses: 4 });
 * ```
 * @param options - see {@link LossCommonOptions}.
 */
export function binaryCrossEntropy(options: LossCommonOptions): SegmentationLoss {
  const { numClasses, ignoreValue, classWeights } = checkCommon('binaryCrossEntropy', options);
  return (logits, labels) => {
    checkShapes('binaryCrossEntropy', logits, labels, numClasses);
    return tf.tidy(() => {
      const { oneHot, valid } = maskedOneHot(labels, numClasses, ignoreValue);
      // Stable form of -z log s(x) - (1 - z) log(1 - s(x)) = max(x, 0) - x z + log(1 + exp(-|x|)).
      const perChannel = tf
        .relu(logits)
        .sub(logits.mul(oneHot))
        .add(tf.log1p(tf.exp(tf.abs(logits).neg())));
      const weights = valid.mul(tf.tensor1d(classWeights));
      return weightedPixelMean(perChannel, weights);
    });
  };
}

/**
 * Mean absolute difference between softmax(logits) and one-hot targets over counted pixels and classes
 * (Pix2Pix's L1 term on class maps), channel c weighted by classWeights[c].
 *
 * @example
 * ```ts
 * const loss = l1OneHot({ numClasses: 5 });
 * ```
 * @param options - see {@link LossCommonOptions}.
 */
export function l1OneHot(options: LossCommonOptions): SegmentationLoss {
  const { numClasses, ignoreValue, classWeights } = checkCommon('l1OneHot', options);
  return (logits, labels) => {
    checkShapes('l1OneHot', logits, labels, numClasses);
    return tf.tidy(() => {
      const { oneHot, valid } = maskedOneHot(labels, numClasses, ignoreValue);
      const perChannel = tf.abs(tf.softmax(logits).sub(oneHot));
      return weightedPixelMean(perChannel, valid.mul(tf.tensor1d(classWeights)));
    });
  };
}

/**
 * Focal loss: -w[y] (1 - p_y)^gamma log p_y, averaged over counted pixels weighted by w[y]. Down-weights
 * pixels that are already right, so rare classes and hard pixels drive training.
 *
 * @example
 * ```ts
 * const loss = focalLoss({ numClasses: 5, gamma: 2 });
 * ```
 * @param options - see {@link FocalOptions}.
 */
export function focalLoss(options: FocalOptions): SegmentationLoss {
  const { numClasses, ignoreValue, classWeights } = checkCommon('focalLoss', options);
  const gamma = options.gamma ?? 2;
  checkNonNegative('focalLoss', 'gamma', gamma);
  return (logits, labels) => {
    checkShapes('focalLoss', logits, labels, numClasses);
    return tf.tidy(() => {
      const { oneHot } = maskedOneHot(labels, numClasses, ignoreValue);
      const logPTrue = oneHot.mul(tf.logSoftmax(logits)).sum(-1);
      const pTrue = tf.exp(logPTrue);
      const perPixel = tf.pow(tf.sub(1, pTrue), gamma).mul(logPTrue).neg();
      return weightedPixelMean(perPixel, oneHot.mul(tf.tensor1d(classWeights)).sum(-1));
    });
  };
}

/**
 * Per-class soft counts over the batch, ignored pixels excluded: true positives sum(p g), false positives
 * sum(p (1 - g)), false negatives sum((1 - p) g), each [C].
 */
function softCounts(
  logits: tf.Tensor4D,
  labels: tf.Tensor3D,
  numClasses: number,
  ignoreValue: number,
  activation: 'softmax' | 'sigmoid',
) {
  const { oneHot, valid } = maskedOneHot(labels, numClasses, ignoreValue);
  const probabilities = (activation === 'softmax' ? tf.softmax(logits) : tf.sigmoid(logits)).mul(valid);
  const axes = [0, 1, 2];
  const labelled = oneHot.sum(axes);
  const truePositive = probabilities.mul(oneHot).sum(axes);
  const falsePositive = probabilities.sum(axes).sub(truePositive);
  const falseNegative = labelled.sub(truePositive);
  return { truePositive, falsePositive, falseNegative, labelled };
}

/**
 * Class-weighted mean of per-class losses [C]; with `labelled` given (pixels per class), classes without
 * labelled pixels get weight 0, and a batch without any labelled pixel gives 0.
 */
function classWeightedMean(perClass: tf.Tensor1D, classWeights: number[], labelled?: tf.Tensor): tf.Scalar {
  const weights =
    labelled === undefined ? tf.tensor1d(classWeights) : tf.tensor1d(classWeights).mul(tf.sign(labelled));
  return perClass.mul(weights).sum().div(tf.maximum(weights.sum(), 1e-12)) as tf.Scalar;
}

function regionSettings(where: string, options: RegionLossOptions) {
  const smooth = options.smooth ?? 1;
  checkNonNegative(where, 'smooth', smooth);
  const activation = options.activation ?? 'softmax';
  if (activation !== 'softmax' && activation !== 'sigmoid')
    throw new RangeError(`${where}: activation must be softmax or sigmoid, got ${String(activation)}`);
  const skipAbsentClasses = options.skipAbsentClasses ?? false;
  if (typeof skipAbsentClasses !== 'boolean')
    throw new RangeError(
      `${where}: skipAbsentClasses must be true or false, got ${String(skipAbsentClasses)}`,
    );
  return { smooth, activation, skipAbsentClasses };
}

/**
 * Soft Dice loss: per class 1 - (2 TP + s) / (2 TP + FP + FN + s) over the whole batch, then the
 * class-weighted mean.
 *
 * @example
 * ```ts
 * const loss = diceLoss({ numClasses: 5, smooth: 1 });
 * ```
 * @param options - see {@link RegionLossOptions}.
 */
export function diceLoss(options: RegionLossOptions): SegmentationLoss {
  const { numClasses, ignoreValue, classWeights } = checkCommon('diceLoss', options);
  const { smooth, activation, skipAbsentClasses } = regionSettings('diceLoss', options);
  return (logits, labels) => {
    checkShapes('diceLoss', logits, labels, numClasses);
    return tf.tidy(() => {
      const {
        truePositive: tp,
        falsePositive: fp,
        falseNegative: fn,
        labelled,
      } = softCounts(logits, labels, numClasses, ignoreValue, activation);
      const dice = tp.mul(2).add(smooth).div(tp.mul(2).add(fp).add(fn).add(smooth));
      return classWeightedMean(
        tf.sub(1, dice) as tf.Tensor1D,
        classWeights,
        skipAbsentClasses ? labelled : undefined,
      );
    });
  };
}

/** Per-class Tversky index [C] and the labelled pixels per class [C]. */
function tverskyIndex(
  logits: tf.Tensor4D,
  labels: tf.Tensor3D,
  settings: ReturnType<typeof tverskySettings>,
) {
  const {
    truePositive: tp,
    falsePositive: fp,
    falseNegative: fn,
    labelled,
  } = softCounts(logits, labels, settings.numClasses, settings.ignoreValue, settings.activation);
  const index = tp
    .add(settings.smooth)
    .div(tp.add(fp.mul(settings.alpha)).add(fn.mul(settings.beta)).add(settings.smooth)) as tf.Tensor1D;
  return { index, labelled };
}

function tverskySettings(where: string, options: TverskyOptions) {
  const common = checkCommon(where, options);
  const alpha = options.alpha ?? 0.3;
  const beta = options.beta ?? 0.7;
  checkNonNegative(where, 'alpha', alpha);
  checkNonNegative(where, 'beta', beta);
  return { ...common, ...regionSettings(where, options), alpha, beta };
}

/**
 * Tversky loss: per class 1 - (TP + s) / (TP + alpha FP + beta FN + s), class-weighted mean. alpha =
 * beta = 0.5 is the Dice loss.
 *
 * @example
 * ```ts
 * const loss = tverskyLoss({ numClasses: 5, alpha: 0.3, beta: 0.7 });
 * ```
 * @param options - see {@link TverskyOptions}.
 */
export function tverskyLoss(options: TverskyOptions): SegmentationLoss {
  const settings = tverskySettings('tverskyLoss', options);
  return (logits, labels) => {
    checkShapes('tverskyLoss', logits, labels, settings.numClasses);
    return tf.tidy(() => {
      const { index, labelled } = tverskyIndex(logits, labels, settings);
      return classWeightedMean(
        tf.sub(1, index) as tf.Tensor1D,
        settings.classWeights,
        settings.skipAbsentClasses ? labelled : undefined,
      );
    });
  };
}

/**
 * Focal Tversky loss: per class (1 - TverskyIndex)^gamma, class-weighted mean.
 *
 * @example
 * ```ts
 * const loss = focalTverskyLoss({ numClasses: 5, alpha: 0.3, beta: 0.7, gamma: 0.75 });
 * ```
 * @param options - see {@link FocalTverskyOptions}.
 */
export function focalTverskyLoss(options: FocalTverskyOptions): SegmentationLoss {
  const settings = tverskySettings('focalTverskyLoss', options);
  const gamma = options.gamma ?? 0.75;
  if (!(gamma > 0) || !Number.isFinite(gamma))
    throw new RangeError(`focalTverskyLoss: gamma must be a finite number > 0, got ${String(gamma)}`);
  return (logits, labels) => {
    checkShapes('focalTverskyLoss', logits, labels, settings.numClasses);
    return tf.tidy(() => {
      // Clamp at 0: with float error 1 - TI can be a hair below zero, and pow of a negative base is NaN.
      const { index, labelled } = tverskyIndex(logits, labels, settings);
      const remainder = tf.relu(tf.sub(1, index));
      return classWeightedMean(
        tf.pow(remainder, gamma) as tf.Tensor1D,
        settings.classWeights,
        settings.skipAbsentClasses ? labelled : undefined,
      );
    });
  };
}

/**
 * A weighted sum of losses, e.g. cross-entropy plus Dice.
 *
 * @example
 * ```ts
 * const loss = weightedSum([{ weight: 1, loss: sparseCrossEntropy(o) }, { weight: 0.5, loss: diceLoss(o) }]);
 * ```
 * @param terms - losses and their weights (at least one).
 */
export function weightedSum(terms: Array<{ weight: number; loss: SegmentationLoss }>): SegmentationLoss {
  if (!Array.isArray(terms) || terms.length === 0)
    throw new RangeError('weightedSum: terms must be a non-empty array');
  for (const { weight } of terms) checkNonNegative('weightedSum', 'weight', weight);
  return (logits, labels) =>
    tf.tidy(
      () =>
        terms
          .map(({ weight, loss }) => loss(logits, labels).mul(weight))
          .reduce((a, b) => a.add(b)) as tf.Scalar,
    );
}
