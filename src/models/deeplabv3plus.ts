import * as tf from '@tensorflow/tfjs';
import { AtrousConv2D, AtrousDepthwiseConv2D } from './layers/atrousConv2d.js';
import { batchNormalization } from './layers/batchNormalization.js';
import { ResizeBilinearLike } from './layers/resizeBilinearLike.js';
import {
  assertSizeDivisible,
  attachModelInfo,
  OUTPUT_ACTIVATIONS,
  type SegmentationModelOptions,
} from './modelInfo.js';
import { checkBoolean, checkInteger, checkOneOf, checkRate } from './optionChecks.js';
import { RESNET_DEPTHS, type ResNetDepth, resnetBackbone } from './resnet.js';

/** Options of {@link buildDeepLabV3Plus}. Every option has a default. */
export interface DeepLabV3PlusOptions extends SegmentationModelOptions {
  /** ResNet depth of the backbone: 50 (bottleneck blocks), or the lighter 18 / 34 (basic blocks). [backbone=50] */
  backbone?: ResNetDepth;
  /** Stem filters of the backbone; 64 is the standard ResNet and the only width ImageNet weights fit. [backboneWidth=64] */
  backboneWidth?: number;
  /** Input size over the size of the backbone's features; input sizes must be multiples of it. [outputStride=16] */
  outputStride?: 8 | 16;
  /** Multipliers of the dilation rate of conv5's three blocks (multi-grid), e.g. [1, 2, 4]. [multiGrid=[1, 1, 1]] */
  multiGrid?: [number, number, number];
  /** Filters of every ASPP branch and of its projection. [asppFilters=256] */
  asppFilters?: number;
  /** Rates of ASPP's three atrous 3x3 branches at output stride 16; doubled at output stride 8. [asppRates=[6, 12, 18]] */
  asppRates?: [number, number, number];
  /** Filters of the 1x1 projection of the stride-4 low-level features. [lowLevelFilters=48] */
  lowLevelFilters?: number;
  /** Filters of the decoder's two 3x3 convolutions. [decoderFilters=256] */
  decoderFilters?: number;
  /**
   * Atrous separable convolutions (depthwise 3x3 + batch norm + ReLU, then pointwise 1x1) in ASPP and the
   * decoder, as in the DeepLabv3+ paper: about 26.7M instead of 40.4M parameters with ResNet-50. [separable=false]
   */
  separable?: boolean;
  /** Dropout after the ASPP projection; 0 disables it. [dropout=0.1] */
  dropout?: number;
}

const WHERE = 'buildDeepLabV3Plus';

/**
 * Builds DeepLabv3+ on a ResNet backbone: atrous convolutions in the last stages keep the features at
 * 1/outputStride of the input; ASPP (a 1x1 branch, three atrous 3x3 branches, image pooling) is concatenated
 * and projected; the decoder upsamples that bilinearly to the stride-4 low-level features, concatenates their
 * 48-channel 1x1 projection, refines with two 3x3 convolutions, and upsamples the logits bilinearly to the
 * input size. Batch norm follows every convolution but the last.
 *
 * Backbone layers carry Keras' ResNet50 names; see `loadBackboneWeights` for ImageNet weights.
 *
 * @example
 * ```ts
 * const model = buildDeepLabV3Plus({ backbone: 50, outputStride: 16, numClasses: 5 });
 * await loadBackboneWeights(model, 'models/resnet50-imagenet/model.json');
 * ```
 * @param options - see {@link DeepLabV3PlusOptions}.
 * @returns a model from float32 [B, H, W, inputChannels] to logits [B, H, W, numClasses].
 * @throws RangeError naming the option when an option is out of range.
 */
export function buildDeepLabV3Plus(options: DeepLabV3PlusOptions = {}): tf.LayersModel {
  const {
    backbone = 50,
    backboneWidth = 64,
    outputStride = 16,
    multiGrid = [1, 1, 1],
    asppFilters = 256,
    asppRates = [6, 12, 18],
    lowLevelFilters = 48,
    decoderFilters = 256,
    separable = false,
    dropout = 0.1,
    numClasses = 5,
    inputChannels = 3,
    outputActivation = 'softmax',
    inputSize = null,
    name = 'deeplabv3plus',
  } = options;
  checkOneOf(WHERE, 'backbone', backbone, RESNET_DEPTHS);
  checkInteger(WHERE, 'backboneWidth', backboneWidth, 1);
  checkOneOf(WHERE, 'outputStride', outputStride, [8, 16]);
  multiGrid.forEach((m, i) => checkInteger(WHERE, `multiGrid[${i}]`, m, 1));
  asppRates.forEach((r, i) => checkInteger(WHERE, `asppRates[${i}]`, r, 1));
  for (const [key, value] of Object.entries({
    asppFilters,
    lowLevelFilters,
    decoderFilters,
    numClasses,
    inputChannels,
  })) {
    checkInteger(WHERE, key, value, 1);
  }
  checkBoolean(WHERE, 'separable', separable);
  checkRate(WHERE, 'dropout', dropout);
  checkOneOf(WHERE, 'outputActivation', outputActivation, OUTPUT_ACTIVATIONS);
  if (inputSize !== null)
    assertSizeDivisible(`${WHERE}: options.inputSize`, inputSize[0], inputSize[1], outputStride);

  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) =>
    layer.apply(x) as tf.SymbolicTensor;
  const bnRelu = (x: tf.SymbolicTensor, layerName: string) =>
    apply(
      tf.layers.reLU({ name: `${layerName}_relu` }),
      apply(batchNormalization({ name: `${layerName}_bn` }), x),
    );
  /**
   * Conv + batch norm + ReLU; no bias, since batch norm follows. A 3x3 conv is atrous when rate > 1 and, with
   * `separable`, split into depthwise (+ batch norm + ReLU) and pointwise parts.
   */
  const convBnRelu = (
    x: tf.SymbolicTensor,
    layerName: string,
    filters: number,
    kernelSize: number,
    rate = 1,
  ) => {
    const common = {
      kernelSize,
      padding: 'same' as const,
      useBias: false,
      kernelInitializer: tf.initializers.heNormal({}),
    };
    if (separable && kernelSize > 1) {
      const depthwiseName = `${layerName}_depthwise`;
      const depthwise =
        rate > 1
          ? new AtrousDepthwiseConv2D({ ...common, dilationRate: rate, name: depthwiseName })
          : tf.layers.depthwiseConv2d({
              ...common,
              depthwiseInitializer: common.kernelInitializer,
              name: depthwiseName,
            });
      x = bnRelu(apply(depthwise, x), depthwiseName);
      return convBnRelu(x, `${layerName}_pointwise`, filters, 1);
    }
    const args = { ...common, filters, name: layerName };
    const conv = rate > 1 ? new AtrousConv2D({ ...args, dilationRate: rate }) : tf.layers.conv2d(args);
    return bnRelu(apply(conv, x), layerName);
  };

  const input = tf.input({
    shape: [inputSize?.[0] ?? null, inputSize?.[1] ?? null, inputChannels],
    name: `${name}_input`,
  });
  const { lowLevel, features } = resnetBackbone(input, {
    depth: backbone,
    outputStride,
    multiGrid,
    width: backboneWidth,
  });

  const rateScale = 16 / outputStride;
  const pooled = apply(
    tf.layers.reshape({ targetShape: [1, 1, features.shape[3]!], name: 'aspp_pool_reshape' }),
    apply(tf.layers.globalAveragePooling2d({ name: 'aspp_pool' }), features),
  );
  const branches = [
    convBnRelu(features, 'aspp0', asppFilters, 1),
    ...asppRates.map((rate, i) => convBnRelu(features, `aspp${i + 1}`, asppFilters, 3, rate * rateScale)),
    apply(new ResizeBilinearLike({ name: 'aspp_pool_upsample' }), [
      convBnRelu(pooled, 'aspp_pool_conv', asppFilters, 1),
      features,
    ]),
  ];
  let x = convBnRelu(
    apply(tf.layers.concatenate({ name: 'aspp_concat' }), branches),
    'aspp_projection',
    asppFilters,
    1,
  );
  if (dropout > 0) x = apply(tf.layers.dropout({ rate: dropout, name: 'aspp_dropout' }), x);

  x = apply(new ResizeBilinearLike({ name: 'decoder_upsample' }), [x, lowLevel]);
  const projected = convBnRelu(lowLevel, 'decoder_low_level', lowLevelFilters, 1);
  x = apply(tf.layers.concatenate({ name: 'decoder_concat' }), [x, projected]);
  x = convBnRelu(x, 'decoder_conv1', decoderFilters, 3);
  x = convBnRelu(x, 'decoder_conv2', decoderFilters, 3);
  x = apply(tf.layers.conv2d({ filters: numClasses, kernelSize: 1, name: 'logits' }), x);
  const logits = apply(new ResizeBilinearLike({ name: 'logits_upsample' }), [x, input]);

  const model = tf.model({ inputs: input, outputs: logits, name });
  attachModelInfo(model, {
    architecture: 'deeplabv3plus',
    numClasses,
    outputActivation,
    sizeDivisor: outputStride,
    inputChannels,
  });
  return model;
}
