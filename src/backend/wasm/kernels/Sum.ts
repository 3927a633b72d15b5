import { Sum } from '@tensorflow/tfjs';
import { reduceLeadingAxes } from '../channelArithmetic.js';
import { wasmKernelConfig } from '../runKernel.js';

/** Sum over leading axes in one float64 pass (see reduceLeadingAxes). */
export const sumConfig = wasmKernelConfig(Sum, reduceLeadingAxes(Sum));
