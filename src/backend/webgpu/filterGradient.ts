import * as tf from '@tensorflow/tfjs';
import type { KernelFix } from './kernelFix.js';
import { columnSums, disposeIntermediate, reshape } from './programs.js';

/** The geometry of a convolution as TF.js's computeConv2DInfo gives it (the fields read here). */
export interface ConvolutionGeometry {
  batchSize: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padInfo: { top: number; left: number };
}

/**
 * The filter gradient of a channels-last convolution (or, with `depthwise`, a depthwise one with channel
 * multiplier outChannels / inChannels) as column sums: one column per filter element, one row per output
 * position (batch x height x width). Each thread sums one filter element over a block of about
 * sqrt(positions) positions, walking them with counters rather than divisions; a second program sums the
 * blocks. TF.js's webgpu programs give each filter element one thread that loops over every position: at
 * batch 64 of 256 px, the first UNet convolution is 432 threads of 4.2 million steps, a few hundredths of a
 * large GPU, where this runs 884,736 threads of 2,048 steps.
 */
function filterGradientBySums(
  backend: object,
  x: tf.TensorInfo,
  dy: tf.TensorInfo,
  filterShape: [number, number, number, number],
  geometry: ConvolutionGeometry,
  depthwise: boolean,
): tf.TensorInfo {
  const g = geometry;
  const dimensions = {
    inHeight: g.inHeight,
    inWidth: g.inWidth,
    inChannels: g.inChannels,
    outHeight: g.outHeight,
    outWidth: g.outWidth,
    outChannels: g.outChannels,
    filterWidth: g.filterWidth,
    // The filter's last axis: output channels, or the channel multiplier of a depthwise filter.
    filterChannels: filterShape[3],
    strideHeight: g.strideHeight,
    strideWidth: g.strideWidth,
    padTop: g.padInfo.top,
    padLeft: g.padInfo.left,
  };
  // Filter element (wR, wC, d1, m) reads x's channel d1 and dy's channel d2.
  const outputChannel = depthwise ? 'd1 * uniforms.filterChannels + m' : 'm';
  const sums = columnSums(
    backend,
    depthwise ? 'depthwiseFilterGradient' : 'conv2dFilterGradient',
    { x, dy },
    {
      rows: g.batchSize * g.outHeight * g.outWidth,
      channels: g.outChannels,
      columns: filterShape.reduce((a, b) => a * b, 1),
    },
    `fn blockSum(first : i32, last : i32, column : i32) -> f32 {
        let m = column % uniforms.filterChannels;
        let d1 = (column / uniforms.filterChannels) % uniforms.inChannels;
        let wC = (column / (uniforms.filterChannels * uniforms.inChannels)) % uniforms.filterWidth;
        let wR = column / (uniforms.filterChannels * uniforms.inChannels * uniforms.filterWidth);
        let d2 = ${outputChannel};
        var yC = first % uniforms.outWidth;
        var yR = (first / uniforms.outWidth) % uniforms.outHeight;
        var b = first / (uniforms.outWidth * uniforms.outHeight);
        var sum = 0.0;
        for (var row = first; row < last; row = row + 1) {
          let xR = wR + yR * uniforms.strideHeight - uniforms.padTop;
          let xC = wC + yC * uniforms.strideWidth - uniforms.padLeft;
          if (xR >= 0 && xR < uniforms.inHeight && xC >= 0 && xC < uniforms.inWidth) {
            sum = sum + x[((b * uniforms.inHeight + xR) * uniforms.inWidth + xC) * uniforms.inChannels + d1]
              * dy[row * uniforms.outChannels + d2];
          }
          yC = yC + 1;
          if (yC == uniforms.outWidth) {
            yC = 0;
            yR = yR + 1;
            if (yR == uniforms.outHeight) {
              yR = 0;
              b = b + 1;
            }
          }
        }
        return sum;
      }`,
    {
      uniforms: Object.entries(dimensions).map(([name, value]) => ({ name, value, type: 'int32' as const })),
    },
  );
  const gradient = reshape(backend, sums, filterShape);
  disposeIntermediate(backend, sums);
  return gradient;
}

/** The attributes of TF.js's Conv2DBackpropFilter and DepthwiseConv2dNativeBackpropFilter that are read here. */
interface FilterGradientAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
  /** Conv2DBackpropFilter's only. */
  dataFormat?: 'NHWC' | 'NCHW';
  /** DepthwiseConv2dNativeBackpropFilter's only. */
  dilations?: [number, number] | number;
}

/**
 * A filter-gradient kernel around the stock one: float32, channels-last and undilated cases by
 * {@link filterGradientBySums}, the others (which segstream's layers do not make) by the stock kernel.
 */
export function filterGradientFix(kernelName: string, depthwise: boolean): KernelFix {
  return {
    kernelName,
    wrap: (stock) => (args) => {
      const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const {
        strides,
        pad,
        dimRoundingMode,
        filterShape,
        dataFormat,
        dilations = 1,
      } = args.attrs as unknown as FilterGradientAttrs;
      const dilated = (Array.isArray(dilations) ? dilations : [dilations, dilations]).some((d) => d !== 1);
      if (dataFormat === 'NCHW' || dilated || x.dtype !== 'float32') return stock(args);
      const geometry = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number],
        filterShape,
        strides,
        1,
        pad,
        dimRoundingMode,
        depthwise,
      );
      return filterGradientBySums(args.backend, x, dy, filterShape, geometry, depthwise);
    },
  };
}
