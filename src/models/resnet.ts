import * as tf from '@tensorflow/tfjs';
import { AtrousConv2D } from './layers/atrousConv2d.js';
import { batchNormalization } from './layers/batchNormalization.js';

/** The ResNet variants segstream builds: 18 and 34 with basic blocks, 50 with bottleneck blocks. */
export type ResNetDepth = 18 | 34 | 50;
export const RESNET_DEPTHS: readonly ResNetDepth[] = [18, 34, 50];

/** Options of {@link resnetBackbone}. */
export interface ResNetBackboneOptions {
  /** [depth=50] */
  depth?: ResNetDepth;
  /** Stride of the deepest features: 32 as in classification, 16 (conv5 dilated by 2) or 8 (conv4 by 2, conv5 by 4). [outputStride=16] */
  outputStride?: 8 | 16 | 32;
  /** Multipliers of conv5's dilation rate, one per block (DeepLabv3's multi-grid, e.g. [1, 2, 4]). [multiGrid=[1, 1, 1]] */
  multiGrid?: [number, number, number];
  /** Filters of the stem; stage widths are 1, 2, 4, 8 times this (ResNet-50 outputs 4x more). [width=64] */
  width?: number;
}

/** Backbone outputs for DeepLabv3+. */
export interface ResNetFeatures {
  /** Output of conv2 (stride 4): the decoder's low-level features. */
  lowLevel: tf.SymbolicTensor;
  /** Output of conv5 (stride `outputStride`). */
  features: tf.SymbolicTensor;
}

const BLOCKS: Record<ResNetDepth, [number, number, number, number]> = {
  18: [2, 2, 2, 2],
  34: [3, 4, 6, 3],
  50: [3, 4, 6, 3],
};

type Apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => tf.SymbolicTensor;
const apply: Apply = (layer, x) => layer.apply(x) as tf.SymbolicTensor;

/** Conv (atrous when rate > 1) + batch norm (+ ReLU), named `<name>_conv`, `<name>_bn`, `<name>_relu` as in Keras. */
function convBn(
  x: tf.SymbolicTensor,
  name: string,
  filters: number,
  kernelSize: number,
  stride: number,
  rate: number,
  relu: boolean,
) {
  const padding = kernelSize === 1 ? 'valid' : 'same';
  const kernelInitializer = tf.initializers.heNormal({});
  const conv =
    rate > 1
      ? new AtrousConv2D({
          filters,
          kernelSize,
          dilationRate: rate,
          padding,
          kernelInitializer,
          name: `${name}_conv`,
        })
      : tf.layers.conv2d({
          filters,
          kernelSize,
          strides: stride,
          padding,
          kernelInitializer,
          name: `${name}_conv`,
        });
  // Keras' ResNet50 batch-norm settings, so ImageNet statistics behave as they were trained.
  x = apply(batchNormalization({ axis: 3, epsilon: 1.001e-5, name: `${name}_bn` }), apply(conv, x));
  return relu ? apply(tf.layers.reLU({ name: `${name}_relu` }), x) : x;
}

/** Keras' ResNet50 bottleneck block: 1x1 (carries the stride), 3x3, 1x1 to 4x filters, plus the shortcut. */
function bottleneckBlock(
  x: tf.SymbolicTensor,
  name: string,
  filters: number,
  stride: number,
  rate: number,
  projectShortcut: boolean,
) {
  const shortcut = projectShortcut ? convBn(x, `${name}_0`, 4 * filters, 1, stride, 1, false) : x;
  let y = convBn(x, `${name}_1`, filters, 1, stride, 1, true);
  y = convBn(y, `${name}_2`, filters, 3, 1, rate, true);
  y = convBn(y, `${name}_3`, 4 * filters, 1, 1, 1, false);
  return apply(
    tf.layers.reLU({ name: `${name}_out` }),
    apply(tf.layers.add({ name: `${name}_add` }), [shortcut, y]),
  );
}

/** ResNet-18/34 basic block: two 3x3 convolutions (the first carries the stride), plus the shortcut. */
function basicBlock(
  x: tf.SymbolicTensor,
  name: string,
  filters: number,
  stride: number,
  rate: number,
  projectShortcut: boolean,
) {
  const shortcut = projectShortcut ? convBn(x, `${name}_0`, filters, 1, stride, 1, false) : x;
  let y = convBn(x, `${name}_1`, filters, 3, stride, rate, true);
  y = convBn(y, `${name}_2`, filters, 3, 1, rate, true);
  return apply(
    tf.layers.reLU({ name: `${name}_out` }),
    apply(tf.layers.add({ name: `${name}_add` }), [shortcut, y]),
  );
}

/**
 * Builds a ResNet backbone on `input`: 7x7 stride-2 stem, 3x3 stride-2 max pooling, then stages conv2 to
 * conv5; below the requested output stride, stages keep their resolution and dilate their 3x3 convolutions
 * instead (atrous, trainable on every backend). Layers are named as in Keras' `ResNet50`
 * (`conv1_conv`, `conv2_block1_1_conv`, ...), so ImageNet weights converted from Keras load by name.
 *
 * @example
 * ```ts
 * const input = tf.input({ shape: [null, null, 3] });
 * const { lowLevel, features } = resnetBackbone(input, { depth: 50, outputStride: 16 });
 * ```
 * @param input - symbolic [B, H, W, C] input.
 * @param options - see {@link ResNetBackboneOptions}; validated by the model builders.
 */
export function resnetBackbone(
  input: tf.SymbolicTensor,
  options: ResNetBackboneOptions = {},
): ResNetFeatures {
  const { depth = 50, outputStride = 16, multiGrid = [1, 1, 1], width = 64 } = options;
  const bottleneck = depth === 50;
  let x = apply(tf.layers.zeroPadding2d({ padding: 3, name: 'conv1_pad' }), input);
  x = apply(
    tf.layers.conv2d({
      filters: width,
      kernelSize: 7,
      strides: 2,
      kernelInitializer: 'heNormal',
      name: 'conv1_conv',
    }),
    x,
  );
  x = apply(batchNormalization({ axis: 3, epsilon: 1.001e-5, name: 'conv1_bn' }), x);
  x = apply(tf.layers.reLU({ name: 'conv1_relu' }), x);
  x = apply(tf.layers.zeroPadding2d({ padding: 1, name: 'pool1_pad' }), x);
  x = apply(tf.layers.maxPooling2d({ poolSize: 3, strides: 2, name: 'pool1_pool' }), x);

  let stride = 4;
  let rate = 1;
  let lowLevel = x;
  BLOCKS[depth].forEach((blocks, stage) => {
    const filters = width * 2 ** stage;
    let firstStride = stage === 0 ? 1 : 2;
    // Past the output stride, trade the stride for dilation so the receptive field still grows.
    if (firstStride === 2 && stride === outputStride) {
      firstStride = 1;
      rate *= 2;
    } else stride *= firstStride;
    const isLast = stage === 3;
    for (let b = 0; b < blocks; b++) {
      const name = `conv${stage + 2}_block${b + 1}`;
      const blockRate = isLast && rate > 1 ? rate * (multiGrid[b] ?? 1) : rate;
      const blockStride = b === 0 ? firstStride : 1;
      // Keras' ResNet50 projects the shortcut of every stage's first block; basic blocks only where shapes change.
      const project = b === 0 && (bottleneck || stage > 0);
      x = (bottleneck ? bottleneckBlock : basicBlock)(x, name, filters, blockStride, blockRate, project);
    }
    if (stage === 0) lowLevel = x;
  });
  return { lowLevel, features: x };
}
