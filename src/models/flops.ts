import type * as tf from '@tensorflow/tfjs';

/** Height x width of a [B, H, W, C] shape. */
function spatial(shape: tf.Shape, layer: string): number {
  const [, height, width] = shape;
  if (height == null || width == null) {
    throw new RangeError(
      `countForwardFlops: layer '${layer}' has no static size: build the model with options.inputSize`,
    );
  }
  return height * width;
}

/**
 * Floating-point operations of one forward pass for one image, counting each multiply-add of the
 * convolution and dense layers as two (the convention of GFLOP figures such as the 6.07 GFLOP of the
 * reference UNet at 256x256); batch norm, activations, pooling and resizing are left out (a few percent).
 * Use it to turn measured images/s into GFLOP/s.
 *
 * @example
 * ```ts
 * const flops = countForwardFlops(buildUNet({ inputSize: [256, 256] })); // 6.07e9
 * ```
 * @param model - a model built with a fixed `inputSize`, so every layer's size is known.
 * @throws RangeError when a layer's size is not static.
 */
export function countForwardFlops(model: tf.LayersModel): number {
  let flops = 0;
  for (const layer of model.layers) {
    const kernel = layer.weights[0]?.shape as number[] | undefined;
    if (kernel === undefined) continue;
    const taps = (kernel[0] ?? 1) * (kernel[1] ?? 1);
    switch (layer.getClassName()) {
      case 'Conv2D':
      case 'AtrousConv2D':
        // kernel [kh, kw, in, out], once per output pixel
        flops +=
          2 * taps * kernel[2]! * kernel[3]! * spatial((layer.output as tf.SymbolicTensor).shape, layer.name);
        break;
      case 'Conv2DTranspose':
        // kernel [kh, kw, out, in], once per input pixel
        flops +=
          2 * taps * kernel[2]! * kernel[3]! * spatial((layer.input as tf.SymbolicTensor).shape, layer.name);
        break;
      case 'DepthwiseConv2D':
      case 'AtrousDepthwiseConv2D':
        // kernel [kh, kw, in, multiplier]
        flops +=
          2 * taps * kernel[2]! * kernel[3]! * spatial((layer.output as tf.SymbolicTensor).shape, layer.name);
        break;
      case 'Dense':
        flops += 2 * kernel[0]! * kernel[1]!;
        break;
    }
  }
  return flops;
}
