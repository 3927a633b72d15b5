import * as tf from '@tensorflow/tfjs';
import { batchNormalization } from './layers/batchNormalization.js';
import {
  assertSizeDivisible,
  attachModelInfo,
  OUTPUT_ACTIVATIONS,
  type SegmentationModelOptions,
} from './modelInfo.js';
import { checkInteger, checkOneOf, checkRate, type InputSize } from './optionChecks.js';

/** Pix2Pix initialises every convolution from normal(0, 0.02) and batch-norm scales from normal(1, 0.02). */
const convInitializer = () => tf.initializers.randomNormal({ mean: 0, stddev: 0.02 });
const batchNorm = (name: string) =>
  batchNormalization({ gammaInitializer: tf.initializers.randomNormal({ mean: 1, stddev: 0.02 }), name });
const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) =>
  layer.apply(x) as tf.SymbolicTensor;

/** Options of {@link buildPix2PixGenerator}. Every option has a default. */
export interface Pix2PixGeneratorOptions extends SegmentationModelOptions {
  /** Stride-2 downsamplings; inputs must be multiples of 2^depth (8 turns 256x256 into 1x1, as Pix2Pix's unet_256). [depth=8] */
  depth?: number;
  /** Filters of the first encoder layer; doubled per layer up to `maxFilters`. [baseFilters=64] */
  baseFilters?: number;
  /** Largest number of filters of any layer. [maxFilters=512] */
  maxFilters?: number;
  /** Dropout rate in the decoder's first `dropoutLayers` layers. [dropout=0.5] */
  dropout?: number;
  /** Decoder layers (from the innermost) with dropout. [dropoutLayers=min(3, depth - 1)] */
  dropoutLayers?: number;
}

const GENERATOR = 'buildPix2PixGenerator';

/**
 * Builds Pix2Pix's U-Net generator producing class-map logits: an encoder of 4x4 stride-2 convolutions with
 * batch norm (not on the first and innermost layers) and LeakyReLU 0.2, a decoder of 4x4 stride-2 transposed
 * convolutions with batch norm, dropout in its first layers and ReLU, each concatenated with the encoder
 * output of the same size, and a last transposed convolution to `numClasses` logits (in place of Pix2Pix's
 * tanh image). With depth 8, 64 base filters, 3 input and 3 output channels it has the 54.4M parameters of
 * Pix2Pix's `unet_256`.
 *
 * @example
 * ```ts
 * const generator = buildPix2PixGenerator({ numClasses: 5 }); // 256x256 tiles
 * const logits = generator.predict(images) as tf.Tensor4D; // [B, 256, 256, 5]
 * ```
 * @param options - see {@link Pix2PixGeneratorOptions}.
 * @throws RangeError naming the option when an option is out of range.
 */
export function buildPix2PixGenerator(options: Pix2PixGeneratorOptions = {}): tf.LayersModel {
  const {
    depth = 8,
    baseFilters = 64,
    maxFilters = 512,
    dropout = 0.5,
    dropoutLayers = Math.min(3, depth - 1),
    numClasses = 5,
    inputChannels = 3,
    outputActivation = 'softmax',
    inputSize = null,
    name = 'pix2pix_generator',
  } = options;
  checkInteger(GENERATOR, 'depth', depth, 2, 12);
  checkInteger(GENERATOR, 'baseFilters', baseFilters, 1);
  checkInteger(GENERATOR, 'maxFilters', maxFilters, baseFilters);
  checkRate(GENERATOR, 'dropout', dropout);
  checkInteger(GENERATOR, 'dropoutLayers', dropoutLayers, 0, depth - 1);
  checkInteger(GENERATOR, 'numClasses', numClasses, 1);
  checkInteger(GENERATOR, 'inputChannels', inputChannels, 1);
  checkOneOf(GENERATOR, 'outputActivation', outputActivation, OUTPUT_ACTIVATIONS);
  const sizeDivisor = 2 ** depth;
  if (inputSize !== null)
    assertSizeDivisible(`${GENERATOR}: options.inputSize`, inputSize[0], inputSize[1], sizeDivisor);

  const filtersAt = (level: number) => Math.min(baseFilters * 2 ** level, maxFilters);
  const input = tf.input({
    shape: [inputSize?.[0] ?? null, inputSize?.[1] ?? null, inputChannels],
    name: `${name}_input`,
  });
  const skips: tf.SymbolicTensor[] = [];
  let x = input;
  for (let level = 0; level < depth; level++) {
    const conv = tf.layers.conv2d({
      filters: filtersAt(level),
      kernelSize: 4,
      strides: 2,
      padding: 'same',
      useBias: false,
      kernelInitializer: convInitializer(),
      name: `encoder${level}_conv`,
    });
    x = apply(conv, x);
    // As in Pix2Pix: no batch norm on the raw image's layer, nor on the 1x1 bottleneck (its batch statistics are degenerate).
    if (level > 0 && level < depth - 1) x = apply(batchNorm(`encoder${level}_bn`), x);
    x = apply(tf.layers.leakyReLU({ alpha: 0.2, name: `encoder${level}_lrelu` }), x);
    skips.push(x);
  }
  for (let level = depth - 2; level >= 0; level--) {
    const upconv = tf.layers.conv2dTranspose({
      filters: filtersAt(level),
      kernelSize: 4,
      strides: 2,
      padding: 'same',
      useBias: false,
      kernelInitializer: convInitializer(),
      name: `decoder${level}_upconv`,
    });
    x = apply(batchNorm(`decoder${level}_bn`), apply(upconv, x));
    if (depth - 2 - level < dropoutLayers && dropout > 0)
      x = apply(tf.layers.dropout({ rate: dropout, name: `decoder${level}_dropout` }), x);
    x = apply(tf.layers.reLU({ name: `decoder${level}_relu` }), x);
    x = apply(tf.layers.concatenate({ name: `decoder${level}_concat` }), [x, skips[level]!]);
  }
  const logits = apply(
    tf.layers.conv2dTranspose({
      filters: numClasses,
      kernelSize: 4,
      strides: 2,
      padding: 'same',
      kernelInitializer: convInitializer(),
      name: 'logits',
    }),
    x,
  );
  const model = tf.model({ inputs: input, outputs: logits, name });
  attachModelInfo(model, {
    architecture: 'pix2pix-generator',
    numClasses,
    outputActivation,
    sizeDivisor,
    inputChannels,
  });
  return model;
}

/** Options of {@link buildPatchGANDiscriminator}. Every option has a default. */
export interface PatchGANOptions {
  /** Stride-2 convolutions; 3 gives Pix2Pix's 70x70 receptive field (see `patchGANReceptiveField`). [stridedLayers=3] */
  stridedLayers?: number;
  /** Filters of the first layer; doubled per layer up to `maxFilters`. [baseFilters=64] */
  baseFilters?: number;
  /** Largest number of filters of any layer. [maxFilters=512] */
  maxFilters?: number;
  /** Channels of the class map it judges (one-hot labels or the generator's softmax). [numClasses=5] */
  numClasses?: number;
  /** Channels of the image. [inputChannels=3] */
  inputChannels?: number;
  /** Fixed input [height, width], or null for any size divisible by 2^stridedLayers. [inputSize=null] */
  inputSize?: InputSize;
  /** [name='patchgan_discriminator'] */
  name?: string;
}

const DISCRIMINATOR = 'buildPatchGANDiscriminator';

/** Side of the input window that one patch logit of a PatchGAN with `stridedLayers` stride-2 layers sees. */
export function patchGANReceptiveField(stridedLayers: number): number {
  // Walk back from one output: a 4x4 layer of stride s widens the window from f to (f - 1) * s + 4.
  let field = 1 + 3 + 3; // the two stride-1 layers
  for (let i = 0; i < stridedLayers; i++) field = (field - 1) * 2 + 4;
  return field;
}

/**
 * Builds Pix2Pix's PatchGAN discriminator: the image and a class map, concatenated on channels, pass through
 * 4x4 convolutions (stride 2, then two of stride 1; padding 1 as in Pix2Pix) with batch norm (not on the
 * first) and LeakyReLU 0.2, ending in one logit per patch: for 256x256 inputs a 30x30 grid of logits whose
 * receptive fields are 70x70. Whether each patch is real is judged by the trainer's BCE (sigmoid) or
 * least-squares loss on these logits.
 *
 * @example
 * ```ts
 * const discriminator = buildPatchGANDiscriminator({ numClasses: 5 });
 * const patches = discriminator.predict([images, tf.oneHot(labels, 5)]) as tf.Tensor4D; // [B, H/8 - 2, W/8 - 2, 1]
 * ```
 * @param options - see {@link PatchGANOptions}.
 * @returns a model with inputs [image [B, H, W, inputChannels], class map [B, H, W, numClasses]].
 * @throws RangeError naming the option when an option is out of range.
 */
export function buildPatchGANDiscriminator(options: PatchGANOptions = {}): tf.LayersModel {
  const {
    stridedLayers = 3,
    baseFilters = 64,
    maxFilters = 512,
    numClasses = 5,
    inputChannels = 3,
    inputSize = null,
    name = 'patchgan_discriminator',
  } = options;
  checkInteger(DISCRIMINATOR, 'stridedLayers', stridedLayers, 1, 8);
  checkInteger(DISCRIMINATOR, 'baseFilters', baseFilters, 1);
  checkInteger(DISCRIMINATOR, 'maxFilters', maxFilters, baseFilters);
  checkInteger(DISCRIMINATOR, 'numClasses', numClasses, 1);
  checkInteger(DISCRIMINATOR, 'inputChannels', inputChannels, 1);
  const sizeDivisor = 2 ** stridedLayers;
  // The two stride-1 layers each take one pixel off: at least a 1x1 grid of patches must remain.
  const minInputSize = 3 * sizeDivisor;
  if (inputSize !== null)
    assertSizeDivisible(
      `${DISCRIMINATOR}: options.inputSize`,
      inputSize[0],
      inputSize[1],
      sizeDivisor,
      minInputSize,
    );

  const shape = (channels: number) => [inputSize?.[0] ?? null, inputSize?.[1] ?? null, channels];
  const image = tf.input({ shape: shape(inputChannels), name: `${name}_image` });
  const classMap = tf.input({ shape: shape(numClasses), name: `${name}_class_map` });
  let x = apply(tf.layers.concatenate({ name: 'pair_concat' }), [image, classMap]);
  const layers = stridedLayers + 1;
  for (let i = 0; i <= layers; i++) {
    const last = i === layers;
    x = apply(tf.layers.zeroPadding2d({ padding: 1, name: `layer${i}_pad` }), x);
    const conv = tf.layers.conv2d({
      filters: last ? 1 : Math.min(baseFilters * 2 ** i, maxFilters),
      kernelSize: 4,
      strides: i < stridedLayers ? 2 : 1,
      // Bias only where no batch norm follows: the first layer and the patch logits.
      useBias: i === 0 || last,
      kernelInitializer: convInitializer(),
      name: last ? 'patch_logits' : `layer${i}_conv`,
    });
    x = apply(conv, x);
    if (last) break;
    if (i > 0) x = apply(batchNorm(`layer${i}_bn`), x);
    x = apply(tf.layers.leakyReLU({ alpha: 0.2, name: `layer${i}_lrelu` }), x);
  }
  const model = tf.model({ inputs: [image, classMap], outputs: x, name });
  attachModelInfo(model, {
    architecture: 'pix2pix-discriminator',
    numClasses,
    outputActivation: 'sigmoid',
    sizeDivisor,
    minInputSize,
    inputChannels,
  });
  return model;
}
