import * as tf from '@tensorflow/tfjs';
import type { KernelFix } from '../kernelFix.js';
import { columnSums, disposeIntermediate, reshape } from '../programs.js';

/**
 * The filter gradient of a channels-last convolution as column sums: one column per filter element, one row
 * per output position (batch x height x width), summed in blocks by many threads and then across blocks.
 * The stock program runs one thread per filter element, each looping over every output position: at batch
 * 64 of 256 px the first UNet convolution is 432 threads of 4.2 million steps each, a few hundredths of a
 * large GPU. Channels-first convolutions go to the stock kernel.
 */
export const conv2DBackpropFilterFix: KernelFix = {
  kernelName: tf.Conv2DBackpropFilter,
  wrap: (stock) => (args) => {
    const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as {
      strides: [number, number] | number;
      pad: 'valid' | 'same' | number;
      dataFormat: 'NHWC' | 'NCHW';
      dimRoundingMode?: 'floor' | 'round' | 'ceil';
      filterShape: [number, number, number, number];
    };
    if (dataFormat === 'NCHW' || x.dtype !== 'float32') return stock(args);
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filterShape,
      strides,
      1,
      pad,
      dimRoundingMode,
    );
    const dimensions = {
      inHeight: info.inHeight,
      inWidth: info.inWidth,
      inChannels: info.inChannels,
      outHeight: info.outHeight,
      outWidth: info.outWidth,
      outChannels: info.outChannels,
      filterWidth: info.filterWidth,
      strideHeight: info.strideHeight,
      strideWidth: info.strideWidth,
      padTop: info.padInfo.top,
      padLeft: info.padInfo.left,
    };
    const sums = columnSums(
      args.backend,
      'conv2dFilterGradient',
      { x, dy },
      {
        rows: info.batchSize * info.outHeight * info.outWidth,
        channels: info.outChannels,
        columns: tf.util.sizeFromShape(filterShape),
      },
      // Filter element (wR, wC, d1, d2) over output positions (b, yR, yC), walked in order with counters
      // (no divisions a step): x at the input pixel each saw, times dy there.
      `fn blockSum(first : i32, last : i32, column : i32) -> f32 {
        let d2 = column % uniforms.outChannels;
        let d1 = (column / uniforms.outChannels) % uniforms.inChannels;
        let wC = (column / (uniforms.outChannels * uniforms.inChannels)) % uniforms.filterWidth;
        let wR = column / (uniforms.outChannels * uniforms.inChannels * uniforms.filterWidth);
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
        uniforms: Object.entries(dimensions).map(([name, value]) => ({
          name,
          value,
          type: 'int32' as const,
        })),
      },
    );
    const gradient = reshape(args.backend, sums, filterShape);
    disposeIntermediate(args.backend, sums);
    return gradient;
  },
};
