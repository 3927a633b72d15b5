import * as tf from '@tensorflow/tfjs';

/**
 * An activation's gradient through segstream's fused kernel `kernelName` (inputs `dy`, `x`) where the active
 * backend has it and both are float32, else `stock()`, the stock formula.
 */
export function throughFusedKernel(
  kernelName: string,
  dy: tf.Tensor,
  x: tf.Tensor,
  stock: () => tf.Tensor,
  attrs: tf.NamedAttrMap = {},
): tf.Tensor {
  return tf.getKernel(kernelName, tf.getBackend()) && x.dtype === 'float32' && dy.dtype === 'float32'
    ? (tf.engine().runKernel(kernelName, { dy, x }, attrs) as tf.Tensor)
    : stock();
}
