import * as tf from '@tensorflow/tfjs';

/** The taps of a depthwise convolution, which both of its gradients walk. */

/** The geometry of a depthwise convolution (dilation 1: TF.js has no gradients for dilated ones). */
export function depthwiseInfo(
  inputShape: number[],
  filterShape: number[],
  attrs: tf.NamedAttrMap,
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    inputShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number],
    1,
    attrs.pad as 'same',
    attrs.dimRoundingMode as 'floor' | undefined,
    true,
  );
}

/**
 * Calls `visit(outputOffset, inputOffset, tapOffset)` for every output position and every filter tap that
 * falls inside the input: offsets of the first channel of dy, of x and of the filter's [r, c] slice.
 */
export function forEachDepthwiseTap(
  info: tf.backend_util.Conv2DInfo,
  visit: (output: number, input: number, tap: number) => void,
): void {
  const {
    batchSize,
    inHeight,
    inWidth,
    inChannels,
    outHeight,
    outWidth,
    outChannels,
    strideHeight,
    strideWidth,
    filterHeight,
    filterWidth,
  } = info;
  const { top, left } = info.padInfo;
  for (let b = 0; b < batchSize; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ox = 0; ox < outWidth; ox++) {
        const output = ((b * outHeight + oy) * outWidth + ox) * outChannels;
        for (let r = 0; r < filterHeight; r++) {
          const y = oy * strideHeight + r - top;
          if (y < 0 || y >= inHeight) continue;
          for (let c = 0; c < filterWidth; c++) {
            const xx = ox * strideWidth + c - left;
            if (xx < 0 || xx >= inWidth) continue;
            visit(
              output,
              ((b * inHeight + y) * inWidth + xx) * inChannels,
              (r * filterWidth + c) * outChannels,
            );
          }
        }
      }
    }
  }
}
