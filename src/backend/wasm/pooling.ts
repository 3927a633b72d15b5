import * as tf from '@tensorflow/tfjs';

/** The pooling windows that MaxPoolGrad and MaxPoolWithArgmax walk. */

export function poolInfo(shape: number[], attrs: tf.NamedAttrMap): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computePool2DInfo(
    shape as [number, number, number, number],
    attrs.filterSize as [number, number],
    attrs.strides as [number, number],
    1,
    attrs.pad as 'same',
    attrs.dimRoundingMode as 'floor' | undefined,
  );
}

/**
 * Visits every pooling window with the flat input index of its first maximum (row-major; -1 for a window
 * entirely in the padding) and the window's flat output index.
 */
export function forEachWindowMaximum(
  info: tf.backend_util.Conv2DInfo,
  x: Float32Array,
  visit: (output: number, maximumAt: number) => void,
): void {
  const {
    batchSize,
    inHeight,
    inWidth,
    inChannels: channels,
    outHeight,
    outWidth,
    strideHeight,
    strideWidth,
    filterHeight,
    filterWidth,
  } = info;
  const { top, left } = info.padInfo;
  for (let b = 0; b < batchSize; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      const y0 = oy * strideHeight - top;
      for (let ox = 0; ox < outWidth; ox++) {
        const x0 = ox * strideWidth - left;
        for (let c = 0; c < channels; c++) {
          let best = -Infinity;
          let at = -1;
          for (let fy = 0; fy < filterHeight; fy++) {
            const y = y0 + fy;
            if (y < 0 || y >= inHeight) continue;
            for (let fx = 0; fx < filterWidth; fx++) {
              const xx = x0 + fx;
              if (xx < 0 || xx >= inWidth) continue;
              const index = ((b * inHeight + y) * inWidth + xx) * channels + c;
              if (x[index]! > best || at < 0) {
                best = x[index]!;
                at = index;
              }
            }
          }
          visit(((b * outHeight + oy) * outWidth + ox) * channels + c, at);
        }
      }
    }
  }
}
