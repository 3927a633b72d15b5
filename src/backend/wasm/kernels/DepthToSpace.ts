import type * as tf from '@tensorflow/tfjs';
import { DepthToSpace } from '@tensorflow/tfjs';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { stockKernel } from '../stockKernels.js';

/**
 * DepthToSpace (NHWC) as block copies inside wasm memory: an input pixel's channels for one row of its output
 * block are blockSize * C consecutive floats, and they land consecutively. The stock kernel moves one value at
 * a time (about 40 ns a value here; it interleaves every stride-2 transposed convolution's output).
 */
function depthToSpace({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  const block = attrs.blockSize as number;
  if (attrs.dataFormat !== 'NHWC' || x.dtype !== 'float32')
    return stockKernel(DepthToSpace)({ inputs, backend, attrs }) as tf.TensorInfo;
  const [n, height, width, depth] = x.shape as [number, number, number, number];
  const channels = depth / (block * block);
  const out = backend.makeOutput([n, height * block, width * block, channels], 'float32');
  // Both views after the allocation (growing the heap detaches older ones); one view of the whole heap copies.
  const source = backend.typedArrayFromHeap(x) as Float32Array;
  const target = backend.typedArrayFromHeap(out) as Float32Array;
  const heap = new Float32Array(source.buffer);
  const [sourceStart, targetStart] = [source.byteOffset / 4, target.byteOffset / 4];
  const run = block * channels;
  for (let row = 0; row < n * height; row++) {
    for (let column = 0; column < width; column++) {
      const from = sourceStart + (row * width + column) * depth;
      for (let p = 0; p < block; p++) {
        const to = targetStart + ((row * block + p) * width + column) * run;
        heap.copyWithin(to, from + p * run, from + (p + 1) * run);
      }
    }
  }
  return out;
}

export const depthToSpaceConfig = wasmKernelConfig(DepthToSpace, depthToSpace);
