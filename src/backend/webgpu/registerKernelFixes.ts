import * as tf from '@tensorflow/tfjs';
import type { KernelFix } from './kernelFix.js';
import { addNFix } from './kernels/AddN.js';
import { resizeBilinearGradFix } from './kernels/ResizeBilinearGrad.js';

/** The stock webgpu kernels (tfjs-backend-webgpu 4.22) that give wrong results for what segstream's models do. */
const KERNEL_FIXES: KernelFix[] = [addNFix, resizeBilinearGradFix];

/** Replaces each stock webgpu kernel that has a fix by the fix around it. Call once, after the package registered its kernels. */
export function registerWebgpuKernelFixes(): void {
  for (const fix of KERNEL_FIXES) {
    const stock = tf.getKernel(fix.kernelName, 'webgpu');
    if (!stock) throw new Error(`the webgpu backend has no ${fix.kernelName} kernel to fix`);
    tf.unregisterKernel(fix.kernelName, 'webgpu');
    tf.registerKernel({ ...stock, kernelFunc: fix.wrap(stock.kernelFunc) });
  }
}
