import type * as tf from '@tensorflow/tfjs';
import { MaxPoolGrad } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { activeWasmHeap } from '../backendHeap.js';
import { forEachWindowMaximum, poolInfo } from '../pooling.js';
import { type WasmKernelArgs, wasmKernelConfig } from '../runKernel.js';
import { heapFunction } from '../simd/heapFunctions.js';
import { MAX_POOL_GRAD_2X2 } from '../simd/maxPoolGrad2x2.js';

/**
 * The 2x2, stride-2, unpadded case of maxPoolGrad (every U-Net pooling): windows do not overlap, so each
 * output gradient is written, not added, to the first maximum of its four values; with even sizes and
 * channels a multiple of 4 the windows cover dx and the SIMD function writes all of it.
 */
function maxPoolGrad2x2(
  info: tf.backend_util.Conv2DInfo,
  input: tf.TensorInfo,
  dy: tf.TensorInfo,
  out: tf.TensorInfo,
  backend: BackendWasm,
): void {
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth } = info;
  const [x, grad, dx] = [input, dy, out].map((t) => backend.typedArrayFromHeap(t) as Float32Array) as [
    Float32Array,
    Float32Array,
    Float32Array,
  ];
  const heap = activeWasmHeap();
  if (heap && channels % 4 === 0 && inHeight === 2 * outHeight && inWidth === 2 * outWidth) {
    heapFunction(heap.memory, MAX_POOL_GRAD_2X2)(
      x.byteOffset,
      grad.byteOffset,
      dx.byteOffset,
      batchSize * outHeight,
      outWidth,
      channels / 4,
      4 * inWidth * channels,
      4 * channels,
    );
    return;
  }
  dx.fill(0);
  const rowStep = inWidth * channels;
  let output = 0;
  for (let b = 0; b < batchSize; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      const rowStart = (b * inHeight + 2 * oy) * rowStep;
      for (let ox = 0; ox < outWidth; ox++) {
        const windowStart = rowStart + 2 * ox * channels;
        for (let c = 0; c < channels; c++, output++) {
          const topLeft = windowStart + c;
          const bottomLeft = topLeft + rowStep;
          let at = topLeft;
          if (x[topLeft + channels]! > x[at]!) at = topLeft + channels;
          if (x[bottomLeft]! > x[at]!) at = bottomLeft;
          if (x[bottomLeft + channels]! > x[at]!) at = bottomLeft + channels;
          dx[at] = grad[output]!;
        }
      }
    }
  }
}

/** Routes each output gradient to the first maximum of its window (row-major), as the cpu backend does. */
function maxPoolGrad({ inputs, backend, attrs }: WasmKernelArgs): tf.TensorInfo {
  const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const out = backend.makeOutput(input.shape, 'float32');
  const info = poolInfo(input.shape, attrs);
  const { filterHeight, filterWidth, strideHeight, strideWidth, padInfo } = info;
  if (
    filterHeight === 2 &&
    filterWidth === 2 &&
    strideHeight === 2 &&
    strideWidth === 2 &&
    padInfo.top === 0 &&
    padInfo.left === 0 &&
    padInfo.bottom <= 0 &&
    padInfo.right <= 0
  ) {
    maxPoolGrad2x2(info, input, dy, out, backend);
  } else {
    const x = backend.typedArrayFromHeap(input) as Float32Array;
    const grad = backend.typedArrayFromHeap(dy) as Float32Array;
    const dx = backend.typedArrayFromHeap(out) as Float32Array;
    dx.fill(0);
    forEachWindowMaximum(info, x, (output, at) => {
      if (at >= 0) dx[at]! += grad[output]!;
    });
  }
  return out;
}

export const maxPoolGradConfig = wasmKernelConfig(MaxPoolGrad, maxPoolGrad);
