import type * as tf from '@tensorflow/tfjs';
import type { InputSize } from './optionChecks.js';

/**
 * How a model's logits become class scores, which the trainer's loss and the predictor must agree on:
 * `softmax` over the class axis (one class per pixel, sparse or categorical cross-entropy), or `sigmoid`
 * per channel (independent channels trained with binary cross-entropy, as the original 4-channel BCE setup).
 */
export type OutputActivation = 'softmax' | 'sigmoid';

export const OUTPUT_ACTIVATIONS: readonly OutputActivation[] = ['softmax', 'sigmoid'];

/** The options every segmentation builder (UNet, DeepLabV3+, Pix2Pix generator) takes. */
export interface SegmentationModelOptions {
  /** Output channels, one logit map per class. [numClasses=5] */
  numClasses?: number;
  /** Input channels (3 for ImageNet weights). [inputChannels=3] */
  inputChannels?: number;
  /** Activation the loss applies to the logits; stored in the model's metadata (see `getModelInfo`). [outputActivation='softmax'] */
  outputActivation?: OutputActivation;
  /** Fixed input [height, width], or null to accept any size the model's total stride divides. [inputSize=null] */
  inputSize?: InputSize;
  /** Model name. [name: the architecture's] */
  name?: string;
}

/** The architectures segstream builds. */
export type Architecture = 'unet' | 'deeplabv3plus' | 'pix2pix-generator' | 'pix2pix-discriminator';

/**
 * What a consumer of a segstream model needs to know beyond its weights. Stored as the model's user-defined
 * metadata, so it is saved and loaded with the model.
 */
export interface SegmentationModelInfo {
  architecture: Architecture;
  /** Output channels: one per class (logits, no activation applied in the model). */
  numClasses: number;
  /** The activation the loss and predictions apply to the logits. */
  outputActivation: OutputActivation;
  /** Input height and width must be multiples of this. */
  sizeDivisor: number;
  /** Smallest input height and width, where more than `sizeDivisor` is needed (PatchGAN: 3 x divisor). */
  minInputSize?: number;
  /** Input channels. */
  inputChannels: number;
}

const METADATA_KEY = 'segstream';

/** Stores `info` as the model's user-defined metadata (saved with the model). */
export function attachModelInfo(model: tf.LayersModel, info: SegmentationModelInfo): void {
  model.setUserDefinedMetadata({ [METADATA_KEY]: info });
}

/**
 * Reads the segstream metadata of a model built by a segstream builder (also after save and load).
 *
 * @example
 * ```ts
 * const { outputActivation } = getModelInfo(buildUNet({ numClasses: 5 }));
 * const scores = outputActivation === 'softmax' ? tf.softmax(logits) : tf.sigmoid(logits);
 * ```
 * @throws Error when the model carries no segstream metadata.
 */
export function getModelInfo(model: tf.LayersModel): SegmentationModelInfo {
  const metadata = model.getUserDefinedMetadata() as Record<string, unknown> | undefined;
  const info = metadata?.[METADATA_KEY] as SegmentationModelInfo | undefined;
  if (info === undefined)
    throw new Error(`model '${model.name}' has no segstream metadata: was it built by a segstream builder?`);
  return info;
}

/**
 * Checks that an input of `height` x `width` fits a model whose size divisor is `sizeDivisor`.
 *
 * @param what - names the value in the error, e.g. `options.inputSize` or a tile's file.
 * @param minSize - smallest accepted side. [minSize=sizeDivisor]
 * @throws RangeError naming `what`, the size and the divisor.
 */
export function assertSizeDivisible(
  what: string,
  height: number,
  width: number,
  sizeDivisor: number,
  minSize = sizeDivisor,
): void {
  for (const [axis, size] of [
    ['height', height],
    ['width', width],
  ] as const) {
    if (!Number.isInteger(size) || size % sizeDivisor !== 0 || size < minSize) {
      const atLeast = minSize > sizeDivisor ? ` of at least ${minSize}` : '';
      throw new RangeError(
        `${what}: ${axis} must be a positive multiple of ${sizeDivisor} (the model's total stride)${atLeast}, got ${height}x${width}`,
      );
    }
  }
}

/**
 * Checks, before a forward pass, that a segstream model accepts an input of `height` x `width`: models with
 * free input sizes would otherwise fail deep inside TF.js (skip concatenations of mismatched sizes).
 *
 * @example
 * ```ts
 * assertModelAcceptsSize(model, tile.height, tile.width, tilePath);
 * ```
 * @param what - names the input in the error (a file, or the option that set the tile size).
 * @throws RangeError naming `what`, the model, the size and the divisor.
 */
export function assertModelAcceptsSize(
  model: tf.LayersModel,
  height: number,
  width: number,
  what = 'input',
): void {
  const { sizeDivisor, minInputSize } = getModelInfo(model);
  assertSizeDivisible(`${what} (model '${model.name}')`, height, width, sizeDivisor, minInputSize);
}
