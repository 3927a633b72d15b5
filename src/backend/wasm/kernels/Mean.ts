import { Mean } from '@tensorflow/tfjs';
import { reduceLeadingAxes } from '../channelArithmetic.js';
import { wasmKernelConfig } from '../runKernel.js';

/** Mean over leading axes in one float64 pass (see reduceLeadingAxes). */
export const meanConfig = wasmKernelConfig(Mean, reduceLeadingAxes(Mean));
