import * as tf from '@tensorflow/tfjs';
import { leakyReluGradConfig } from '../gradients/LeakyRelu.js';
import { reluGradConfig } from '../gradients/Relu.js';
import type { KernelFix } from './kernelFix.js';
import { addNFix } from './kernels/AddN.js';
import { conv2DBackpropFilterFix } from './kernels/Conv2DBackpropFilter.js';
import { depthwiseConv2dBackpropFilterFix } from './kernels/DepthwiseConv2dNativeBackpropFilter.js';
import { meanFix } from './kernels/Mean.js';
import { resizeBilinearGradFix } from './kernels/ResizeBilinearGrad.js';
import { adamUpdatePackedConfig } from './kernels/SegstreamAdamUpdatePacked.js';
import { batchMomentsConfig } from './kernels/SegstreamBatchMoments.js';
import { batchNormTrainingGradientConfig } from './kernels/SegstreamBatchNormTrainingGradient.js';
import { confusionCountsConfig } from './kernels/SegstreamConfusionCounts.js';
import { leakyReluGradientConfig } from './kernels/SegstreamLeakyReluGradient.js';
import { movingAverageConfig } from './kernels/SegstreamMovingAverage.js';
import { reluGradientConfig } from './kernels/SegstreamReluGradient.js';
import { widenBytesConfig } from './kernels/SegstreamWidenBytes.js';
import { sumFix } from './kernels/Sum.js';

/**
 * The stock webgpu kernels (tfjs-backend-webgpu 4.22) that give wrong results for what segstream's models do
 * (AddN, ResizeBilinearGrad), or run some of their cases slowly (Sum and Mean over leading axes, the
 * convolution and depthwise filter gradients).
 */
const KERNEL_FIXES: KernelFix[] = [
  addNFix,
  resizeBilinearGradFix,
  sumFix,
  meanFix,
  conv2DBackpropFilterFix,
  depthwiseConv2dBackpropFilterFix,
];

/** segstream's own kernels (fusedKernels.ts) on webgpu: fewer programs a training step, each dispatched from JavaScript, and a batch's bytes widened on the GPU. */
const FUSED_KERNELS: tf.KernelConfig[] = [
  adamUpdatePackedConfig,
  batchMomentsConfig,
  batchNormTrainingGradientConfig,
  confusionCountsConfig,
  leakyReluGradientConfig,
  movingAverageConfig,
  reluGradientConfig,
  widenBytesConfig,
];

/**
 * Replaces each stock webgpu kernel that has a fix by the fix around it, and registers segstream's fused
 * kernels and the Relu and LeakyRelu gradients that call them. Call once, after the package registered its kernels.
 */
export function registerWebgpuKernels(): void {
  for (const fix of KERNEL_FIXES) {
    const stock = tf.getKernel(fix.kernelName, 'webgpu');
    if (!stock) throw new Error(`the webgpu backend has no ${fix.kernelName} kernel to fix`);
    tf.unregisterKernel(fix.kernelName, 'webgpu');
    tf.registerKernel({ ...stock, kernelFunc: fix.wrap(stock.kernelFunc) });
  }
  for (const kernel of FUSED_KERNELS) tf.registerKernel(kernel);
  tf.registerGradient(reluGradConfig);
  tf.registerGradient(leakyReluGradConfig);
}
