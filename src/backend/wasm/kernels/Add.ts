import { Add } from '@tensorflow/tfjs';
import { channelBroadcast } from '../channelArithmetic.js';
import { wasmKernelConfig } from '../runKernel.js';

/** Add of a tensor and a per-channel vector or a single value in one SIMD pass (see channelBroadcast). */
export const addConfig = wasmKernelConfig(Add, channelBroadcast(Add));
