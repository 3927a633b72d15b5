import * as tf from '@tensorflow/tfjs';
import { batchNormalization } from './layers/batchNormalization.js';
import {
  assertSizeDivisible,
  attachModelInfo,
  OUTPUT_ACTIVATIONS,
  type SegmentationModelOptions,
} from './modelInfo.js';
import { checkBoolean, checkInteger, checkOneOf, checkRate } from './optionChecks.js';

/** Options of {@link buildUNet}. Every option has a default. */
export interface UNetOptions extends SegmentationModelOptions {
  /** Number of 2x2 max-pooling steps; the model has `depth + 1` levels and input sizes must be multiples of 2^depth. [depth=4] */
  depth?: number;
  /** Filters of the first level; each deeper level doubles them. [baseFilters=16] */
  baseFilters?: number;
  /** Batch normalization after every 3x3 convolution. [batchNorm=true] */
  batchNorm?: boolean;
  /** Dropout rate at the end of the contracting path (the bottleneck), as in the original U-Net; 0 disables it. [dropout=0] */
  dropout?: number;
}

const WHERE = 'buildUNet';

/**
 * Builds a U-Net: a contracting path of conv blocks (two 3x3 convolutions, each with optional batch norm and
 * ReLU) and 2x2 max pooling, then an expanding path of 2x2 stride-2 transposed convolutions whose output is
 * concatenated with the skip of the same level and passed through a conv block; a 1x1 convolution gives the
 * logits. Fully convolutional.
 *
 * With the defaults (depth 4, baseFilters 16, batchNorm, 5 classes) this is the UNet of
 * `shared/bench/ref_unet_torch.py`, layer for layer (convolutions with bias, as PyTorch's).
 *
 * @example
 * ```ts
 * const model = buildUNet({ depth: 4, baseFilters: 16, numClasses: 5 });
 * const logits = model.predict(images) as tf.Tensor4D; // [B, H, W, 5]
 * ```
 * @param options - see {@link UNetOptions}.
 * @returns a model from float32 [B, H, W, inputChannels] to logits [B, H, W, numClasses].
 * @throws RangeError naming the option when an option is out of range.
 */
export function buildUNet(options: UNetOptions = {}): tf.LayersModel {
  const {
    depth = 4,
    baseFilters = 16,
    batchNorm = true,
    dropout = 0,
    numClasses = 5,
    inputChannels = 3,
    outputActivation = 'softmax',
    inputSize = null,
    name = 'unet',
  } = options;
  checkInteger(WHERE, 'depth', depth, 1, 8);
  checkInteger(WHERE, 'baseFilters', baseFilters, 1);
  checkBoolean(WHERE, 'batchNorm', batchNorm);
  checkRate(WHERE, 'dropout', dropout);
  checkInteger(WHERE, 'numClasses', numClasses, 1);
  checkInteger(WHERE, 'inputChannels', inputChannels, 1);
  checkOneOf(WHERE, 'outputActivation', outputActivation, OUTPUT_ACTIVATIONS);
  const sizeDivisor = 2 ** depth;
  if (inputSize !== null)
    assertSizeDivisible(`${WHERE}: options.inputSize`, inputSize[0], inputSize[1], sizeDivisor);

  const convBlock = (x: tf.SymbolicTensor, filters: number, prefix: string): tf.SymbolicTensor => {
    for (const k of [1, 2]) {
      x = tf.layers
        .conv2d({
          filters,
          kernelSize: 3,
          padding: 'same',
          kernelInitializer: 'heNormal',
          name: `${prefix}_conv${k}`,
        })
        .apply(x) as tf.SymbolicTensor;
      // PyTorch's BatchNorm2d defaults, so that the model trains like the reference.
      if (batchNorm)
        x = batchNormalization({ momentum: 0.9, epsilon: 1e-5, name: `${prefix}_bn${k}` }).apply(
          x,
        ) as tf.SymbolicTensor;
      x = tf.layers.reLU({ name: `${prefix}_relu${k}` }).apply(x) as tf.SymbolicTensor;
    }
    return x;
  };

  const input = tf.input({
    shape: [inputSize?.[0] ?? null, inputSize?.[1] ?? null, inputChannels],
    name: `${name}_input`,
  });
  const skips: tf.SymbolicTensor[] = [];
  let x = input;
  for (let level = 0; level < depth; level++) {
    x = convBlock(x, baseFilters * 2 ** level, `down${level}`);
    skips.push(x);
    x = tf.layers
      .maxPooling2d({ poolSize: 2, strides: 2, name: `down${level}_pool` })
      .apply(x) as tf.SymbolicTensor;
  }
  x = convBlock(x, baseFilters * 2 ** depth, 'bottleneck');
  if (dropout > 0)
    x = tf.layers.dropout({ rate: dropout, name: 'bottleneck_dropout' }).apply(x) as tf.SymbolicTensor;
  for (let level = depth - 1; level >= 0; level--) {
    const filters = baseFilters * 2 ** level;
    const up = tf.layers
      .conv2dTranspose({
        filters,
        kernelSize: 2,
        strides: 2,
        padding: 'valid',
        kernelInitializer: 'heNormal',
        name: `up${level}_upconv`,
      })
      .apply(x) as tf.SymbolicTensor;
    // Upsampled features first, then the skip: the channel order of the reference's torch.cat([up, skip]).
    const merged = tf.layers
      .concatenate({ axis: -1, name: `up${level}_concat` })
      .apply([up, skips[level]!]) as tf.SymbolicTensor;
    x = convBlock(merged, filters, `up${level}`);
  }
  const logits = tf.layers
    .conv2d({ filters: numClasses, kernelSize: 1, name: 'logits' })
    .apply(x) as tf.SymbolicTensor;

  const model = tf.model({ inputs: input, outputs: logits, name });
  attachModelInfo(model, { architecture: 'unet', numClasses, outputActivation, sizeDivisor, inputChannels });
  return model;
}
