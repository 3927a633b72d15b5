import { Multiply } from '@tensorflow/tfjs';
import { channelBroadcast } from '../channelArithmetic.js';
import { wasmKernelConfig } from '../runKernel.js';

/** Multiply of a tensor and a per-channel vector or a single value in one SIMD pass (see channelBroadcast). */
export const multiplyConfig = wasmKernelConfig(Multiply, channelBroadcast(Multiply));
