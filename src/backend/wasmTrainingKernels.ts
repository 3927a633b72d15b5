import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * Training kernels for the wasm backend. As shipped it lacks `Conv2DBackpropFilter` (so no convolution can
 * train), its `MaxPoolGrad` gives gradients to batch 0 / channel 0 only, its float32 `OneHot` writes int32
 * bits, and its `Conv2DBackpropInput` (the backward pass of every conv and the forward pass of every
 * transposed conv) is a scalar loop. Each kernel here is built from fast XNNPACK convolutions plus data
 * movement, or is a plain loop where the stock one is wrong.
 */

type Attrs = Record<string, unknown>;
type Inputs = Record<string, tf.TensorInfo>;
interface KernelArgs {
  inputs: Inputs;
  backend: BackendWasm;
  attrs: Attrs;
}

/** Runs a registered wasm kernel directly (no tape, no engine bookkeeping); the caller disposes the result. */
function run(backend: BackendWasm, kernelName: string, inputs: Inputs, attrs: Attrs = {}): tf.TensorInfo {
  const kernel = tf.getKernel(kernelName, 'wasm');
  if (!kernel) throw new Error(`wasm backend has no ${kernelName} kernel`);
  return kernel.kernelFunc({ inputs, backend, attrs } as never) as tf.TensorInfo;
}

function dispose(backend: BackendWasm, ...infos: tf.TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/** Crops the trailing rows/columns of an NHWC tensor that negative padding would remove. */
function cropTrailing(backend: BackendWasm, x: tf.TensorInfo, rows: number, cols: number): tf.TensorInfo {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  return run(backend, 'Slice', { x }, { begin: [0, 0, 0, 0], size: [n, h - rows, w - cols, c] });
}

/**
 * dW[r, c, ci, co] = sum over n, i, j of x[n, i*sh + r - top, j*sw + c - left, ci] * dy[n, i, j, co]: a
 * forward convolution of x seen as a batch of its channels ([Ci, H, W, N]) with dy seen as a filter
 * ([OH, OW, N, Co]), where the forward stride becomes the dilation.
 */
function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const filterShape = attrs.filterShape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filterShape, attrs.strides as [number, number], 1,
    attrs.pad as 'same', attrs.dimRoundingMode as 'floor' | undefined,
  );
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, outHeight: oh, outWidth: ow } = info;
  const [, height, width] = x.shape as [number, number, number, number];
  const { top, left } = info.padInfo;
  // Padding after the last row/column that makes the output exactly kh x kw; negative means rows to drop.
  const bottom = kh - height - top + (oh - 1) * sh;
  const right = kw - width - left + (ow - 1) * sw;
  const channelsAsBatch = run(backend, 'Transpose', { x }, { perm: [3, 1, 2, 0] });
  const cropped = bottom < 0 || right < 0 ? cropTrailing(backend, channelsAsBatch, Math.max(0, -bottom), Math.max(0, -right)) : channelsAsBatch;
  const dyAsFilter = run(backend, 'Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
  const grad = run(backend, 'Conv2D', { x: cropped, filter: dyAsFilter }, {
    strides: [1, 1],
    pad: [[0, 0], [top, Math.max(0, bottom)], [left, Math.max(0, right)], [0, 0]],
    dataFormat: 'NHWC',
    dilations: [sh, sw],
  });
  const result = run(backend, 'Transpose', { x: grad }, { perm: [1, 2, 0, 3] });
  dispose(backend, channelsAsBatch, dyAsFilter, grad);
  if (cropped !== channelsAsBatch) dispose(backend, cropped);
  return result;
}

/**
 * dx from dy and the filter, split into stride phases: output row y = q*s + p receives dy[q - t] * W[t*s + p
 * + top] for every tap t in range, which for all phases at once is one stride-1 convolution of dy with a
 * rearranged filter whose output channels are (phase row, phase column, input channel), followed by
 * DepthToSpace. No zero-inserted input, so no multiplications by zero.
 */
function conv2DBackpropInput({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const inputShape = attrs.inputShape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(
    inputShape, filter.shape as [number, number, number, number], attrs.strides as [number, number], 1,
    attrs.pad as 'same', attrs.dimRoundingMode as 'floor' | undefined,
  );
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, inChannels: ci, outChannels: co } = info;
  if (sh !== sw) return stockConv2DBackpropInput!({ inputs, backend, attrs } as never) as tf.TensorInfo;
  const s = sh;
  const [n, height, width] = inputShape;
  const [, oh, ow] = dy.shape as [number, number, number, number];
  const { top, left } = info.padInfo;
  // Taps t with r = t*s + p + top in [0, k) for some phase p in [0, s).
  const tapRange = (k: number, pad: number) => ({ min: Math.ceil((-(s - 1) - pad) / s), max: Math.floor((k - 1 - pad) / s) });
  const rows = tapRange(kh, top);
  const cols = tapRange(kw, left);
  const th = rows.max - rows.min + 1;
  const tw = cols.max - cols.min + 1;
  const outChannels = s * s * ci;
  const phased = backend.makeOutput([th, tw, co, outChannels], 'float32');
  // Views into wasm memory are taken after the allocation: growing the heap detaches older views.
  const weights = backend.typedArrayFromHeap(filter) as Float32Array;
  const phasedData = backend.typedArrayFromHeap(phased) as Float32Array;
  phasedData.fill(0);
  for (let u = 0; u < th; u++) {
    for (let v = 0; v < tw; v++) {
      for (let py = 0; py < s; py++) {
        const r = (rows.max - u) * s + py + top;
        if (r < 0 || r >= kh) continue;
        for (let px = 0; px < s; px++) {
          const c = (cols.max - v) * s + px + left;
          if (c < 0 || c >= kw) continue;
          for (let cin = 0; cin < ci; cin++) {
            const channel = (py * s + px) * ci + cin;
            const from = ((r * kw + c) * ci + cin) * co;
            for (let cout = 0; cout < co; cout++) phasedData[((u * tw + v) * co + cout) * outChannels + channel] = weights[from + cout]!;
          }
        }
      }
    }
  }
  const phaseRows = Math.ceil(height / s);
  const phaseCols = Math.ceil(width / s);
  const bottom = phaseRows - oh - rows.min;
  const right = phaseCols - ow - cols.min;
  const source = bottom < 0 || right < 0 ? cropTrailing(backend, dy, Math.max(0, -bottom), Math.max(0, -right)) : dy;
  const phases = run(backend, 'Conv2D', { x: source, filter: phased }, {
    strides: [1, 1],
    pad: [[0, 0], [rows.max, Math.max(0, bottom)], [cols.max, Math.max(0, right)], [0, 0]],
    dataFormat: 'NHWC',
    dilations: [1, 1],
  });
  dispose(backend, phased);
  if (source !== dy) dispose(backend, source);
  if (s === 1) return phases;
  const interleaved = run(backend, 'DepthToSpace', { x: phases }, { blockSize: s, dataFormat: 'NHWC' });
  dispose(backend, phases);
  if (phaseRows * s === height && phaseCols * s === width) return interleaved;
  const result = run(backend, 'Slice', { x: interleaved }, { begin: [0, 0, 0, 0], size: [n, height, width, ci] });
  dispose(backend, interleaved);
  return result;
}

/** Routes each output gradient to the first maximum of its window (row-major), as the cpu backend does. */
function maxPoolGrad({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number], attrs.filterSize as [number, number], attrs.strides as [number, number], 1,
    attrs.pad as 'same', attrs.dimRoundingMode as 'floor' | undefined,
  );
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const { top, left } = info.padInfo;
  const out = backend.makeOutput(input.shape, 'float32');
  const x = backend.typedArrayFromHeap(input) as Float32Array;
  const grad = backend.typedArrayFromHeap(dy) as Float32Array;
  const dx = backend.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  for (let b = 0; b < batchSize; b++) {
    for (let oy = 0; oy < outHeight; oy++) {
      const y0 = oy * strideHeight - top;
      for (let ox = 0; ox < outWidth; ox++) {
        const x0 = ox * strideWidth - left;
        for (let c = 0; c < channels; c++) {
          let best = -Infinity;
          let at = -1;
          for (let fy = 0; fy < filterHeight; fy++) {
            const y = y0 + fy;
            if (y < 0 || y >= inHeight) continue;
            for (let fx = 0; fx < filterWidth; fx++) {
              const xx = x0 + fx;
              if (xx < 0 || xx >= inWidth) continue;
              const index = ((b * inHeight + y) * inWidth + xx) * channels + c;
              if (x[index]! > best) {
                best = x[index]!;
                at = index;
              }
            }
          }
          if (at >= 0) dx[at]! += grad[((b * outHeight + oy) * outWidth + ox) * channels + c]!;
        }
      }
    }
  }
  return out;
}

/** One-hot with the requested dtype's own representation of on and off values. */
function oneHot({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { indices } = inputs as { indices: tf.TensorInfo };
  const depth = attrs.depth as number;
  const onValue = (attrs.onValue as number) ?? 1;
  const offValue = (attrs.offValue as number) ?? 0;
  const dtype = (attrs.dtype as tf.DataType) ?? 'int32';
  const out = backend.makeOutput([...indices.shape, depth], dtype);
  const ids = backend.typedArrayFromHeap(indices);
  const data = backend.typedArrayFromHeap(out) as Float32Array | Int32Array;
  data.fill(offValue);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as number;
    if (id >= 0 && id < depth) data[i * depth + id] = onValue;
  }
  return out;
}

/**
 * The stock wasm Conv2D computes 'same' padding wrongly when the stride exceeds the kernel (k2 s3 gives
 * other numbers than the cpu backend); the same convolution with the padding spelled out is right.
 */
function conv2DExplicitPadding({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  if (attrs.pad !== 'same') return stockConv2D!({ inputs, backend, attrs } as never) as tf.TensorInfo;
  const { x, filter } = inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filter.shape as [number, number, number, number],
    attrs.strides as [number, number], attrs.dilations as [number, number], 'same',
  );
  const { top, bottom, left, right } = info.padInfo;
  return stockConv2D!({ inputs, backend, attrs: { ...attrs, pad: [[0, 0], [top, bottom], [left, right], [0, 0]] } } as never) as tf.TensorInfo;
}

/**
 * Gradient of FusedBatchNorm with the per-channel factors broadcast. The stock gradient tiles
 * 1/sqrt(variance + epsilon) to the full size of x first, which on wasm is a single-threaded copy that cost
 * more than all convolutions of a UNet step together.
 */
const fusedBatchNormGradient: tf.GradConfig = {
  kernelName: 'FusedBatchNorm',
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy, saved, attrs) => {
    const [x, mean, variance, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const epsilon = (attrs as { varianceEpsilon: number }).varianceEpsilon;
    const gradient = dy as tf.Tensor;
    const reductionAxes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
    const perChannel = (t: tf.Tensor) => (mean.rank === 1 ? tf.sum(t, reductionAxes) : t).reshape(mean.shape);
    const scaleValue = scale ?? tf.scalar(1);
    const inverseStd = tf.rsqrt(tf.add(variance, tf.scalar(epsilon)));
    return {
      x: () => tf.mul(gradient, tf.mul(inverseStd, scaleValue)).reshape(x.shape),
      mean: () => perChannel(tf.mul(gradient, tf.mul(inverseStd, scaleValue).neg())),
      variance: () => perChannel(tf.mul(tf.mul(gradient, tf.sub(x, mean)), tf.mul(tf.mul(scaleValue, tf.pow(inverseStd, 3)), -0.5))),
      scale: () => perChannel(tf.mul(gradient, tf.mul(tf.sub(x, mean), inverseStd))),
      offset: () => perChannel(gradient),
    };
  },
};

let stockConv2D: tf.KernelFunc | undefined;
let stockConv2DBackpropInput: tf.KernelFunc | undefined;
let registered = false;

/**
 * Registers the training kernels for the wasm backend (once per process). Called by `selectBackend`
 * whenever wasm is chosen; call it yourself only when you set the wasm backend by other means.
 */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  registered = true;
  stockConv2D = tf.getKernel('Conv2D', 'wasm')?.kernelFunc;
  stockConv2DBackpropInput = tf.getKernel('Conv2DBackpropInput', 'wasm')?.kernelFunc;
  const kernels: Array<[string, (args: KernelArgs) => tf.TensorInfo]> = [
    ['Conv2D', conv2DExplicitPadding],
    ['Conv2DBackpropFilter', conv2DBackpropFilter],
    ['Conv2DBackpropInput', conv2DBackpropInput],
    ['MaxPoolGrad', maxPoolGrad],
    ['OneHot', oneHot],
  ];
  tf.registerGradient(fusedBatchNormGradient);
  for (const [kernelName, kernelFunc] of kernels) {
    const stock = tf.getKernel(kernelName, 'wasm');
    if (stock) tf.unregisterKernel(kernelName, 'wasm');
    // The stock setup binds the wasm function that the wrappers still call.
    const setupFunc = stock?.setupFunc;
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc, ...(setupFunc ? { setupFunc } : {}) });
  }
}
