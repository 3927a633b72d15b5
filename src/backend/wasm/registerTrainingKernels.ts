import * as tf from '@tensorflow/tfjs';
import { reluGradConfig } from '../gradients/Relu.js';
import { fusedBatchNormGradConfig } from './gradients/FusedBatchNorm.js';
import { addConfig } from './kernels/Add.js';
import { batchToSpaceNDConfig } from './kernels/BatchToSpaceND.js';
import { castConfig } from './kernels/Cast.js';
import { concatConfig } from './kernels/Concat.js';
import { conv2DConfig } from './kernels/Conv2D.js';
import { conv2DBackpropFilterConfig } from './kernels/Conv2DBackpropFilter.js';
import { conv2DBackpropInputConfig } from './kernels/Conv2DBackpropInput.js';
import { depthToSpaceConfig } from './kernels/DepthToSpace.js';
import { depthwiseConv2dBackpropFilterConfig } from './kernels/DepthwiseConv2dNativeBackpropFilter.js';
import { depthwiseConv2dBackpropInputConfig } from './kernels/DepthwiseConv2dNativeBackpropInput.js';
import { expConfig } from './kernels/Exp.js';
import { fusedBatchNormConfig } from './kernels/FusedBatchNorm.js';
import { fusedConv2DConfig } from './kernels/FusedConv2D.js';
import { identityConfig } from './kernels/Identity.js';
import { maxPoolGradConfig } from './kernels/MaxPoolGrad.js';
import { maxPoolWithArgmaxConfig } from './kernels/MaxPoolWithArgmax.js';
import { meanConfig } from './kernels/Mean.js';
import { multiplyConfig } from './kernels/Multiply.js';
import { oneHotConfig } from './kernels/OneHot.js';
import { padV2Config } from './kernels/PadV2.js';
import { adamUpdateConfig } from './kernels/SegstreamAdamUpdate.js';
import { batchMomentsConfig } from './kernels/SegstreamBatchMoments.js';
import { batchNormTrainingGradientConfig } from './kernels/SegstreamBatchNormTrainingGradient.js';
import { reluGradientConfig } from './kernels/SegstreamReluGradient.js';
import { sliceConfig } from './kernels/Slice.js';
import { spaceToBatchNDConfig } from './kernels/SpaceToBatchND.js';
import { splitVConfig } from './kernels/SplitV.js';
import { subConfig } from './kernels/Sub.js';
import { sumConfig } from './kernels/Sum.js';
import { transposeConfig } from './kernels/Transpose.js';
import { unsortedSegmentSumConfig } from './kernels/UnsortedSegmentSum.js';
import { keepStockKernel } from './stockKernels.js';

/**
 * Training kernels for the wasm backend. As shipped it lacks `Conv2DBackpropFilter` (so no convolution can
 * train), the depthwise-convolution gradients (so no separable convolution can train) and
 * `UnsortedSegmentSum` (the gradient of gather); its `MaxPoolGrad` gives gradients to batch 0 / channel 0
 * only, its float32 `OneHot` writes int32 bits, its `MaxPoolWithArgmax` is wrong for windows of values
 * <= 0; its `Conv2DBackpropInput` (the backward pass of every conv and the forward pass of every transposed
 * conv) is a scalar loop, its `Slice`/`SplitV`, `Sum` and `Mean` copy or transpose whole tensors first, and
 * its `Identity` copies. Each kernel (one a file in `kernels/`) is built from fast XNNPACK convolutions or
 * matrix products plus data movement, or is a plain loop or SIMD function (`simd/`) over wasm memory where
 * the stock one is wrong or wasteful.
 */
const TRAINING_KERNELS: readonly tf.KernelConfig[] = [
  conv2DConfig,
  fusedConv2DConfig,
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  maxPoolGradConfig,
  maxPoolWithArgmaxConfig,
  oneHotConfig,
  sliceConfig,
  padV2Config,
  depthToSpaceConfig,
  splitVConfig,
  concatConfig,
  spaceToBatchNDConfig,
  batchToSpaceNDConfig,
  transposeConfig,
  fusedBatchNormConfig,
  addConfig,
  subConfig,
  multiplyConfig,
  sumConfig,
  meanConfig,
  unsortedSegmentSumConfig,
  identityConfig,
  castConfig,
  depthwiseConv2dBackpropFilterConfig,
  depthwiseConv2dBackpropInputConfig,
  batchNormTrainingGradientConfig,
  batchMomentsConfig,
  reluGradientConfig,
  adamUpdateConfig,
  expConfig,
];

let registered = false;

/**
 * Registers the training kernels for the wasm backend (once per process). Called by `selectBackend`
 * whenever wasm is chosen; call it yourself only when you set the wasm backend by other means.
 */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient(fusedBatchNormGradConfig);
  tf.registerGradient(reluGradConfig);
  for (const kernel of TRAINING_KERNELS) {
    const stock = tf.getKernel(kernel.kernelName, 'wasm');
    if (stock) {
      keepStockKernel(stock);
      tf.unregisterKernel(kernel.kernelName, 'wasm');
    }
    // The stock setup binds the wasm function that the kernels still call through stockKernel.
    const setupFunc = stock?.setupFunc;
    tf.registerKernel({ ...kernel, ...(setupFunc ? { setupFunc } : {}) });
  }
}
