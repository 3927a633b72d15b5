import * as tf from '@tensorflow/tfjs';
import type { KernelFix, WebgpuBackendInternals } from '../kernelFix.js';

/**
 * AddN in groups: the stock kernel binds every input as a storage buffer in one program and fails (an invalid
 * pipeline, all zeros out) past the device's `maxStorageBuffersPerShaderStage` (8 by default, 16 on lavapipe),
 * as the gradient sum of a tensor used many times or the taps of an atrous convolution need. Groups of
 * inputs are summed first, their sums then, until one program takes them all.
 */
export const addNFix: KernelFix = {
  kernelName: tf.AddN,
  wrap:
    (stock) =>
    ({ inputs, backend, attrs }) => {
      const internals = backend as unknown as WebgpuBackendInternals;
      // One binding holds the output.
      const perProgram = internals.device.limits.maxStorageBuffersPerShaderStage! - 1;
      const original = new Set(inputs as unknown as tf.TensorInfo[]);
      let terms = [...original];
      while (terms.length > perProgram) {
        const sums: tf.TensorInfo[] = [];
        for (let start = 0; start < terms.length; start += perProgram) {
          const group = terms.slice(start, start + perProgram);
          sums.push(
            group.length === 1
              ? group[0]!
              : (stock({
                  inputs: group as unknown as tf.NamedTensorInfoMap,
                  backend,
                  attrs,
                }) as tf.TensorInfo),
          );
        }
        terms
          .filter((t) => !original.has(t) && !sums.includes(t))
          .forEach((t) => internals.disposeData(t.dataId));
        terms = sums;
      }
      const total = stock({
        inputs: terms as unknown as tf.NamedTensorInfoMap,
        backend,
        attrs,
      }) as tf.TensorInfo;
      terms.filter((t) => !original.has(t)).forEach((t) => internals.disposeData(t.dataId));
      return total;
    },
};
