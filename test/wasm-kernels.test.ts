import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { tilesInsideRow, WINOGRAD_BLOCK_SIZES } from '../src/backend/wasm/simd/winogradTiles.js';
import { valuesOn as on, relativeError, seededTensor as seeded } from './helpers/compare.js';

async function compareOnBackends(name: string, compute: () => tf.Tensor[]): Promise<void> {
  const cpu = await on('cpu', compute);
  const wasm = await on('wasm', compute);
  cpu.forEach((reference, i) => {
    assert.is(wasm[i]!.length, reference.length, `${name}: output ${i} size`);
    const error = relativeError(wasm[i]!, reference);
    assert.ok(error < 1e-4, `${name}: output ${i} relative error ${error}`);
  });
}

const convCases: Array<{
  input: [number, number, number, number];
  kernel: number;
  outChannels: number;
  stride: number;
  pad: 'same' | 'valid' | number;
}> = [];
for (const stride of [1, 2, 3]) {
  for (const kernel of [1, 2, 3, 4, 5, 7]) {
    for (const pad of ['same', 'valid', 1] as const) {
      if (pad === 1 && kernel < 2) continue;
      convCases.push({ input: [2, 9 + stride, 8 + kernel, 3], kernel, outChannels: 2, stride, pad });
    }
  }
}
// Channel counts that are multiples of 4 take the SIMD paths (the input gradient's filter rearrangement).
convCases.push(
  { input: [2, 8, 9, 4], kernel: 4, outChannels: 8, stride: 2, pad: 'same' },
  { input: [1, 7, 7, 8], kernel: 3, outChannels: 4, stride: 1, pad: 'same' },
);

test('conv2d gradients (input and filter) on wasm equal the cpu backend: strides 1-3, kernels 1-7, same/valid/explicit', async () => {
  for (const [index, c] of convCases.entries()) {
    const name = `conv k${c.kernel} s${c.stride} ${c.pad} ${c.input}`;
    await compareOnBackends(name, () => {
      const x = seeded(c.input, 11 + index) as tf.Tensor4D;
      const w = seeded([c.kernel, c.kernel, c.input[3], c.outChannels], 97 + index) as tf.Tensor4D;
      const pad =
        typeof c.pad === 'number'
          ? ([
              [0, 0],
              [c.pad, c.pad],
              [c.pad, c.pad],
              [0, 0],
            ] as tf.backend_util.ExplicitPadding)
          : c.pad;
      const loss = (a: tf.Tensor, b: tf.Tensor) =>
        tf
          .conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, pad)
          .square()
          .sum();
      const [dx, dw] = tf.grads(loss)([x, w]);
      return [tf.conv2d(x, w, c.stride, pad), dx!, dw!];
    });
  }
});

test('3x3 stride-1 convolutions and filter gradients by Winograd F(2x2, 3x3) and F(4x4, 3x3) on wasm equal cpu: bias, same / valid / uneven explicit padding, 1 to 11 channel vectors, several blocks on both threads', async () => {
  const cases: Array<{
    input: [number, number, number, number];
    outChannels: number;
    pad: 'same' | 'valid' | tf.backend_util.ExplicitPadding;
  }> = [
    { input: [2, 8, 12, 4], outChannels: 8, pad: 'same' },
    { input: [1, 10, 10, 8], outChannels: 20, pad: 'valid' },
    {
      input: [2, 6, 6, 12],
      outChannels: 12,
      pad: [
        [0, 0],
        [2, 0],
        [1, 3],
        [0, 0],
      ],
    },
    // At 512 channel pairs and more the filter gradient takes F(2x2, 3x3) too: 3 and 1 vectors in the last group.
    { input: [2, 6, 8, 12], outChannels: 44, pad: 'same' },
    { input: [1, 6, 6, 36], outChannels: 20, pad: 'valid' },
    // Windows that start three rows above x and end four columns right of it.
    {
      input: [1, 6, 10, 8],
      outChannels: 64,
      pad: [
        [0, 0],
        [3, 1],
        [0, 4],
        [0, 0],
      ],
    },
    // Outputs at least 32 wide whose height is a multiple of 4 and width of 8 take F(4x4, 3x3), filter gradients at any channel count.
    {
      input: [1, 6, 30, 8],
      outChannels: 64,
      pad: [
        [0, 0],
        [3, 1],
        [0, 4],
        [0, 0],
      ],
    },
    { input: [2, 12, 32, 16], outChannels: 36, pad: 'same' },
    { input: [1, 8, 32, 8], outChannels: 8, pad: 'same' },
    // Outputs that are not whole tiles: computed on whole tiles (10x12, 32x40) and cropped, dy padded for the filter gradient.
    { input: [2, 10, 10, 8], outChannels: 64, pad: 'same' },
    { input: [1, 31, 40, 8], outChannels: 8, pad: 'same' },
    // 17 tile rows of 64 tiles (F(2x2, 3x3)), 2 rows a block at these channels, and 9 rows of 16 tiles
    // (F(4x4, 3x3)), 4 rows a block: blocks on both threads and partial blocks.
    { input: [1, 34, 128, 32], outChannels: 32, pad: 'same' },
    { input: [1, 36, 64, 32], outChannels: 32, pad: 'same' },
    // Padded by more than the kernel less one: the input gradient is a convolution that crops dy (negative padding).
    {
      input: [1, 8, 12, 8],
      outChannels: 8,
      pad: [
        [0, 0],
        [4, 3],
        [5, 4],
        [0, 0],
      ],
    },
  ];
  for (const [index, c] of cases.entries()) {
    await compareOnBackends(`winograd ${JSON.stringify(c)}`, () => {
      const x = seeded(c.input, 5 + index) as tf.Tensor4D;
      const w = seeded([3, 3, c.input[3], c.outChannels], 50 + index) as tf.Tensor4D;
      const bias = seeded([c.outChannels], 70 + index) as tf.Tensor1D;
      const convolve = (a: tf.Tensor, b: tf.Tensor) =>
        tf.fused.conv2d({ x: a as tf.Tensor4D, filter: b as tf.Tensor4D, bias, strides: 1, pad: c.pad });
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => convolve(a, b).square().sum())([x, w]);
      return [convolve(x, w), tf.conv2d(x, w, 1, c.pad), dx!, dw!];
    });
  }
});

test('Winograd reads in place only windows inside x, from tile 0 on, whatever the padding (negative where a convolution crops x)', () => {
  for (const m of WINOGRAD_BLOCK_SIZES) {
    for (const width of [4, 7, 12, 33]) {
      for (let padLeft = -5; padLeft <= 6; padLeft++) {
        const tilesPerRow = Math.ceil((width + 2 * Math.max(padLeft, 0)) / (2 * m)) * 2;
        const [inside, endInside] = tilesInsideRow(m, padLeft, width, tilesPerRow);
        const where = `m ${m} width ${width} padLeft ${padLeft}`;
        assert.ok(
          0 <= inside && inside <= endInside && endInside <= tilesPerRow,
          `${where}: [${inside}, ${endInside})`,
        );
        for (let t = inside; t < endInside; t++) {
          const fits = m * t - padLeft >= 0 && m * t - padLeft + m + 2 <= width;
          assert.ok(fits, `${where}: tile ${t} read in place reaches outside x`);
        }
      }
    }
  }
});

test("fused conv2d that Winograd does not take (stride above the kernel, 'same' padding, activation) on wasm equals cpu", async () => {
  await compareOnBackends('fused k2 s3 same relu', () => {
    const x = seeded([2, 11, 10, 4], 3) as tf.Tensor4D;
    const w = seeded([2, 2, 4, 8], 4) as tf.Tensor4D;
    const bias = seeded([8], 5) as tf.Tensor1D;
    return [tf.fused.conv2d({ x, filter: w, bias, strides: 3, pad: 'same', activation: 'relu' })];
  });
});

test("conv2d filter gradient of a batch equals the sum of its images' gradients (shifted rows wrap into the next image)", async () => {
  await selectBackend({ backend: 'wasm' });
  // Each filter row reads its operand at an offset in one buffer of all images: the cells that wrap meet zeros of dy.
  const x = seeded([8, 40, 36, 16], 3) as tf.Tensor4D;
  const dy = seeded([8, 40, 36, 4], 4) as tf.Tensor4D;
  const attrs = {
    strides: [1, 1],
    pad: 'same',
    dataFormat: 'NHWC',
    dimRoundingMode: undefined,
    filterShape: [3, 3, 16, 4],
  };
  const filterGradient = (images: tf.Tensor4D, gradient: tf.Tensor4D) =>
    tf.engine().runKernel('Conv2DBackpropFilter', { x: images, dy: gradient }, attrs as never) as tf.Tensor;
  const [whole, perImage] = tf.tidy(() => [
    filterGradient(x, dy),
    tf.addN(Array.from({ length: 8 }, (_, n) => filterGradient(x.slice(n, 1), dy.slice(n, 1)))),
  ]);
  const error = relativeError(whole!.dataSync() as Float32Array, perImage!.dataSync() as Float32Array);
  assert.ok(error < 1e-4, `relative error ${error}`);
  tf.dispose([x, dy, whole!, perImage!]);
});

test('conv2d filter gradient over blocks of cells equals cpu: strides 1-3, kernels 1-7, odd input channels, x read in place, output channels in partial and several vectors', async () => {
  // Grids of hundreds of cells span several blocks; 3 and 5 input channels get a zero channel, 5/20/36 output channels zero lanes and a second or third group of 16.
  // Stride 1 with even input channels reads x unpadded: rows of 70 cross blocks of 64, a 4x4 'same' kernel pads unevenly, 1x1 spans rows.
  const cases: Array<{
    input: [number, number, number, number];
    kernel: number;
    stride: number;
    outChannels: number;
  }> = [
    { input: [2, 13, 11, 3], kernel: 3, stride: 1, outChannels: 5 },
    { input: [1, 6, 70, 6], kernel: 3, stride: 1, outChannels: 8 },
    { input: [2, 9, 10, 4], kernel: 4, stride: 1, outChannels: 4 },
    { input: [2, 5, 6, 2], kernel: 1, stride: 1, outChannels: 5 },
    { input: [2, 12, 12, 4], kernel: 4, stride: 2, outChannels: 20 },
    { input: [3, 15, 14, 5], kernel: 7, stride: 2, outChannels: 8 },
    { input: [2, 12, 13, 3], kernel: 2, stride: 3, outChannels: 36 },
    { input: [1, 17, 9, 18], kernel: 5, stride: 1, outChannels: 33 },
  ];
  for (const [index, c] of cases.entries()) {
    for (const pad of ['same', 'valid'] as const) {
      await compareOnBackends(
        `filter gradient k${c.kernel} s${c.stride} ${pad} ${c.input} to ${c.outChannels} channels`,
        () => {
          const x = seeded(c.input, 5 + index) as tf.Tensor4D;
          const filterShape: [number, number, number, number] = [
            c.kernel,
            c.kernel,
            c.input[3],
            c.outChannels,
          ];
          const dy = seeded(tf.conv2d(x, tf.zeros(filterShape), c.stride, pad).shape, 50 + index);
          const attrs = { strides: [c.stride, c.stride], pad, dataFormat: 'NHWC', filterShape };
          return [tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as never) as tf.Tensor];
        },
      );
    }
  }
});

test('conv2dTranspose forward and gradients on wasm equal cpu (U-Net 2x2/2 and Pix2Pix 4x4/2 decoders)', async () => {
  const cases = [
    { kernel: 2, stride: 2, pad: 'same' as const, input: [2, 5, 6, 4] },
    { kernel: 4, stride: 2, pad: 'same' as const, input: [1, 4, 4, 3] },
    { kernel: 3, stride: 1, pad: 'same' as const, input: [2, 5, 5, 2] },
    { kernel: 3, stride: 2, pad: 'valid' as const, input: [1, 4, 3, 2] },
  ];
  for (const c of cases) {
    await compareOnBackends(`transpose k${c.kernel} s${c.stride} ${c.pad}`, () => {
      const x = seeded(c.input, 5) as tf.Tensor4D;
      const w = seeded([c.kernel, c.kernel, 3, c.input[3]!], 6) as tf.Tensor4D;
      const [n, h, wd] = c.input as [number, number, number];
      const outH = c.pad === 'same' ? h * c.stride : (h - 1) * c.stride + c.kernel;
      const outW = c.pad === 'same' ? wd * c.stride : (wd - 1) * c.stride + c.kernel;
      const f = (a: tf.Tensor4D, b: tf.Tensor4D) =>
        tf.conv2dTranspose(a, b, [n, outH, outW, 3], c.stride, c.pad);
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        f(a as tf.Tensor4D, b as tf.Tensor4D)
          .square()
          .sum(),
      )([x, w]);
      return [f(x, w), dx!, dw!];
    });
  }
});

test('max pooling gradient on wasm equals cpu for every batch item and channel, with ties', async () => {
  // [2, 8, 6, 8]: 2x2/2 windows cover the input and channels fill vectors (the SIMD function); the others the loops.
  const windows = [
    [2, 2, 'valid'],
    [2, 2, 'same'],
    [3, 2, 'same'],
    [3, 1, 'same'],
  ] as const;
  for (const [[pool, stride, pad], shape] of windows.flatMap((w) =>
    [
      [3, 7, 6, 4],
      [2, 8, 6, 8],
      [2, 4, 6, 6],
    ].map((s) => [w, s] as const),
  )) {
    await compareOnBackends(`maxPool ${pool}/${stride} ${pad} ${shape.join('x')}`, () => {
      // Values on a coarse integer grid make ties in most windows.
      const x = seeded(shape, 3, 4) as tf.Tensor4D;
      const dx = tf.grad((a: tf.Tensor) => {
        const pooled = tf.maxPool(a as tf.Tensor4D, pool, stride, pad);
        return pooled.mul(seeded(pooled.shape, 9)).sum();
      })(x);
      return [dx];
    });
  }
});

test('oneHot float32 on wasm holds ones and zeros', async () => {
  await compareOnBackends('oneHot', () => [
    tf.oneHot(tf.tensor1d([0, 3, 1, 4, 2], 'int32'), 5, 1, 0, 'float32'),
    tf.oneHot(tf.tensor1d([2, 0, 7], 'int32'), 3, 2, -1, 'float32'),
  ]);
});

test('depthwise conv gradients (input and filter) on wasm equal cpu: strides 1-3, kernels 1-7, multipliers 1 and 2', async () => {
  for (const stride of [1, 2, 3]) {
    for (const kernel of [1, 3, 4, 7]) {
      for (const pad of ['same', 'valid'] as const) {
        for (const multiplier of [1, 2]) {
          const name = `depthwise k${kernel} s${stride} ${pad} x${multiplier}`;
          await compareOnBackends(name, () => {
            const x = seeded([2, 8 + stride, 7 + kernel, 3], kernel * 7 + stride) as tf.Tensor4D;
            const w = seeded([kernel, kernel, 3, multiplier], kernel + 11) as tf.Tensor4D;
            const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => {
              const y = tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad);
              return y.mul(seeded(y.shape, 5)).sum();
            })([x, w]);
            return [dx!, dw!];
          });
        }
      }
    }
  }
});

test('maxPoolWithArgmax on wasm equals cpu, windows of negative values and ties included', async () => {
  for (const [pool, stride, pad] of [
    [2, 2, 'valid'],
    [2, 2, 'same'],
    [3, 2, 'same'],
    [3, 1, 'same'],
  ] as const) {
    for (const includeBatchInIndex of [false, true]) {
      await compareOnBackends(
        `maxPoolWithArgmax ${pool}/${stride} ${pad} batch-in-index ${includeBatchInIndex}`,
        () => {
          // All values <= 0 in the first image: the stock kernel's running maximum starts above them.
          const x = tf.concat([
            seeded([1, 7, 6, 3], 4, 4).abs().neg(),
            seeded([1, 7, 6, 3], 8, 4),
          ]) as tf.Tensor4D;
          const { result, indexes } = tf.maxPoolWithArgmax(x, pool, stride, pad, includeBatchInIndex);
          return [result, indexes.cast('float32')];
        },
      );
    }
  }
});

test('gather gradient (UnsortedSegmentSum) on wasm equals cpu, repeated indices included', async () => {
  await compareOnBackends('gather gradient', () => {
    const table = seeded([6, 4, 3], 21);
    const ids = tf.tensor1d([5, 0, 2, 2, 5, 5, 1], 'int32');
    return [
      tf.grad((t: tf.Tensor) =>
        tf
          .gather(t, ids)
          .mul(seeded([7, 4, 3], 22))
          .sum(),
      )(table),
    ];
  });
});

test('slices, pads, splits (the gradient of concat), sums and means over leading axes on wasm equal cpu', async () => {
  await compareOnBackends('slice / pad / split / sum', () => {
    const x = seeded([2, 5, 6, 70], 31);
    const [a, b] = tf.split(x, [3, 67], 3);
    const skip = tf.grads((p: tf.Tensor, q: tf.Tensor) =>
      tf
        .concat([p, q], 3)
        .mul(seeded([2, 5, 6, 7], 32))
        .sum(),
    )([seeded([2, 5, 6, 3], 33), seeded([2, 5, 6, 4], 34)]);
    return [
      tf.slice(x, [1, 1, 2, 5], [1, 3, 3, 64]),
      tf.slice(x, [0, 2, 0, 0], [2, 2, 6, 70]),
      tf.slice(seeded([4, 9], 35), [1, 2], [2, 5]),
      a!,
      b!,
      ...skip,
      // Runs of whole vectors (multiples of 4 values) take the SIMD copy, at any offset.
      tf.slice(x, [0, 1, 1, 4], [2, 3, 4, 8]),
      tf.slice(tf.cast(seeded([3, 4, 12], 38, 100), 'int32'), [1, 1, 4], [2, 2, 8]),
      // Pads: spatial borders of whole vectors (SIMD rows), odd channel counts, every axis, a constant, none.
      tf.pad(seeded([2, 5, 6, 8], 48), [
        [0, 0],
        [1, 2],
        [0, 3],
        [0, 0],
      ]),
      tf.pad(seeded([2, 5, 6, 3], 49), [
        [1, 0],
        [2, 1],
        [1, 1],
        [0, 2],
      ]),
      tf.pad(
        seeded([7, 9], 50),
        [
          [2, 1],
          [0, 3],
        ],
        1.5,
      ),
      tf.pad(
        tf.cast(seeded([3, 4, 4], 51, 100), 'int32'),
        [
          [0, 1],
          [1, 0],
          [0, 4],
        ],
        -2,
      ),
      tf.pad(seeded([2, 3, 4], 52), [
        [0, 0],
        [0, 0],
        [0, 0],
      ]),
      ...tf.split(seeded([2, 3, 5, 32], 39), [16, 8, 8], 3),
      ...tf.split(seeded([4, 6, 8], 40), [1, 3], 0),
      tf.concat([seeded([2, 3, 5, 16], 41), seeded([2, 3, 5, 8], 42), seeded([2, 3, 5, 4], 43)], 3),
      tf.concat([seeded([2, 3, 4], 44), seeded([2, 5, 4], 45)], 1),
      tf.concat([tf.cast(seeded([2, 4], 46, 50), 'int32'), tf.cast(seeded([2, 8], 47, 50), 'int32')], 1),
      tf.sum(x, [0, 1, 2]),
      tf.sum(x, [0, 1], true),
      tf.sum(x, [1, 2]),
      tf.sum(x),
      tf.mean(x, [0, 1, 2]),
      tf.mean(x, [0], true),
      tf.moments(x, [0, 1, 2]).variance,
      // Widths that are multiples of 4 take the SIMD path, the others (70 above) the plain loop.
      tf.sum(seeded([3, 7, 5, 64], 36), [0, 1, 2]),
      tf.mean(seeded([3, 7, 5, 8], 37), [0, 1, 2]),
    ];
  });
});

test('batch norm and per-channel add / sub / multiply on wasm equal cpu: both operand orders, scalars, 4k and other channel counts', async () => {
  await compareOnBackends('per-channel', () => {
    const x = seeded([2, 3, 5, 8], 51);
    const odd = seeded([2, 3, 6], 52);
    const vector = seeded([8], 53);
    const positive = seeded([8], 54).abs().add(0.5);
    const results: tf.Tensor[] = [
      tf.batchNorm(x, vector, positive, seeded([8], 55), seeded([8], 56), 1e-3),
      tf.batchNorm(
        x,
        vector.reshape([1, 1, 1, 8]),
        positive.reshape([1, 1, 1, 8]),
        undefined,
        undefined,
        1e-5,
      ),
      tf.batchNorm(odd, seeded([6], 57), seeded([6], 58).abs().add(0.5)),
    ];
    for (const other of [
      vector,
      vector.reshape([1, 1, 8]),
      tf.scalar(1.5),
      seeded([3, 5, 8], 59),
      seeded([4], 60).reshape([1, 1, 1, 4]).tile([1, 1, 1, 2]),
    ]) {
      results.push(
        tf.add(x, other),
        tf.add(other, x),
        tf.sub(x, other),
        tf.sub(other, x),
        tf.mul(x, other),
        tf.mul(other, x),
      );
    }
    results.push(tf.sub(odd, seeded([6], 61)), tf.mul(seeded([6], 62), odd));
    // Scalars with scalars (the optimizers' bias corrections): no channel axis at all.
    results.push(
      tf.sub(tf.scalar(1), tf.scalar(0.25)),
      tf.mul(tf.scalar(3), tf.scalar(0.5)),
      tf.add(tf.scalar(2), tf.tensor1d([1])),
    );
    return results;
  });
});

test('transposes on wasm equal cpu exactly: last two axes swapped in 4x4 SIMD blocks with leftover rows, other permutations', async () => {
  const compute = () => [
    tf.transpose(seeded([2, 9, 8], 71), [0, 2, 1]),
    tf.transpose(seeded([12, 4], 72)),
    tf.transpose(tf.cast(seeded([3, 8, 4], 73, 1000), 'int32'), [0, 2, 1]),
    tf.transpose(seeded([2, 3, 7, 12], 74), [0, 1, 3, 2]),
    tf.transpose(seeded([2, 3, 5, 6], 75), [0, 1, 3, 2]),
    tf.transpose(seeded([2, 3, 8, 4], 76), [3, 1, 2, 0]),
  ];
  const cpu = await on('cpu', compute);
  const wasm = await on('wasm', compute);
  cpu.forEach((reference, i) => assert.equal(Array.from(wasm[i]!), Array.from(reference), `transpose ${i}`));
});

test('spaceToBatchND and batchToSpaceND on wasm equal cpu exactly: blocks 2x2 and 3x2, paddings and crops, 4k and other channel counts', async () => {
  const compute = () => [
    tf.spaceToBatchND(
      seeded([2, 6, 8, 4], 81),
      [2, 2],
      [
        [0, 0],
        [0, 0],
      ],
    ),
    tf.spaceToBatchND(
      seeded([1, 7, 5, 8], 82),
      [3, 2],
      [
        [1, 1],
        [2, 1],
      ],
    ),
    tf.spaceToBatchND(
      tf.cast(seeded([2, 4, 4, 4], 83, 100), 'int32'),
      [2, 2],
      [
        [2, 2],
        [0, 2],
      ],
    ),
    tf.spaceToBatchND(
      seeded([1, 4, 6, 3], 84),
      [2, 2],
      [
        [0, 0],
        [1, 1],
      ],
    ),
    tf.batchToSpaceND(
      seeded([8, 3, 4, 4], 85),
      [2, 2],
      [
        [0, 0],
        [0, 0],
      ],
    ),
    tf.batchToSpaceND(
      seeded([12, 3, 4, 8], 86),
      [3, 2],
      [
        [1, 1],
        [2, 1],
      ],
    ),
    tf.batchToSpaceND(
      seeded([4, 5, 3, 3], 87),
      [2, 2],
      [
        [0, 1],
        [1, 0],
      ],
    ),
  ];
  const cpu = await on('cpu', compute);
  const wasm = await on('wasm', compute);
  cpu.forEach((reference, i) => assert.equal(Array.from(wasm[i]!), Array.from(reference), `case ${i}`));
});

test('depthToSpace on wasm equals cpu exactly: blocks 2 and 3, one to many channels, batch > 1', async () => {
  for (const [shape, block] of [
    [[2, 3, 4, 4], 2],
    [[1, 5, 2, 12], 2],
    [[3, 2, 3, 27], 3],
    [[2, 4, 4, 64], 2],
  ] as Array<[number[], number]>) {
    const cpu = await on('cpu', () => [tf.depthToSpace(seeded(shape, 5) as tf.Tensor4D, block)]);
    const wasm = await on('wasm', () => [tf.depthToSpace(seeded(shape, 5) as tf.Tensor4D, block)]);
    assert.equal(Array.from(wasm[0]!), Array.from(cpu[0]!), `shape ${shape} block ${block}`);
  }
});

test('identity (clone) and a cast to the same dtype on wasm share the buffer: no copy, and each tensor stays readable when the other is disposed', async () => {
  await selectBackend({ backend: 'wasm' });
  const x = seeded([4, 5], 8);
  const expected = Array.from(x.dataSync());
  const buffers = tf.backend().numDataIds();
  const copy = tf.clone(x);
  const sameType = tf.cast(x, 'float32');
  assert.is(tf.backend().numDataIds(), buffers);
  sameType.dispose();
  x.dispose();
  assert.equal(Array.from(copy.dataSync()), expected);
  copy.dispose();
  assert.is(tf.backend().numDataIds(), buffers - 1);
});

test('exp on wasm: within 2 units in the last place of Math.exp over [-110, 100], and NaN, infinities, underflow and overflow as it', async () => {
  await selectBackend({ backend: 'wasm' });
  const count = 200_003; // not a multiple of 4: the last values take the scalar path
  const xs = new Float32Array(count);
  for (let i = 0; i < count; i++) xs[i] = -110 + (210 * i) / count;
  const edges = [NaN, Infinity, -Infinity, 0, -0, 88.72, 88.73, -87.4, -103.9, -104.5, 1e-8, -0.34657];
  xs.set(edges, 0);
  xs.set(edges.slice(0, 3), count - 3);
  const y = tf.tidy(() => tf.exp(tf.tensor1d(xs)).dataSync());
  for (let i = 0; i < count; i++) {
    const expected = Math.fround(Math.exp(xs[i]!));
    const actual = y[i]!;
    if (Number.isNaN(expected) || !Number.isFinite(expected) || expected < 2 ** -126) {
      // NaN, infinities, zero and subnormals: the same value, or the neighbouring subnormal.
      assert.ok(
        Object.is(actual, expected) || Math.abs(actual - expected) <= 2 ** -149,
        `exp(${xs[i]}) = ${actual}, expected ${expected}`,
      );
    } else {
      assert.ok(
        Math.abs(actual - expected) <= 2 * 2 ** -23 * expected,
        `exp(${xs[i]}) = ${actual}, expected ${expected}`,
      );
    }
  }
});

test('relu gradient on wasm equals cpu exactly, with x = 0, NaN x and infinite or NaN dy', async () => {
  const values = (seed: number) => {
    const t = seeded([2, 5, 5, 6], seed, 6).dataSync() as Float32Array;
    t.set([0, -0, NaN, 1, -1, 2], 0);
    return t;
  };
  const x = values(1);
  const dy = values(2);
  dy.set([Infinity, -Infinity, 1, NaN, NaN, 3], 0);
  const compute = () => [
    tf.grad((a: tf.Tensor) =>
      tf
        .relu(a)
        .mul(tf.tensor(dy, [2, 5, 5, 6]))
        .sum(),
    )(tf.tensor(x, [2, 5, 5, 6])),
  ];
  const [cpu] = await on('cpu', compute);
  const [wasm] = await on('wasm', compute);
  for (let i = 0; i < cpu!.length; i++)
    assert.ok(Object.is(wasm![i], cpu![i]) || wasm![i] === cpu![i], `value ${i}: ${wasm![i]} vs ${cpu![i]}`);
});

test('no tensors leak through the replaced kernels', async () => {
  await selectBackend({ backend: 'wasm' });
  const x = seeded([1, 8, 8, 2], 1) as tf.Tensor4D;
  const w = seeded([3, 3, 2, 2], 2) as tf.Tensor4D;
  const wide = seeded([1, 8, 8, 4], 3) as tf.Tensor4D;
  const wideFilter = seeded([3, 3, 4, 4], 4) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  // Kernels built from other kernels free their intermediate buffers: the backend holds no more data after.
  const buffersBefore = tf.backend().numDataIds();
  for (let i = 0; i < 3; i++) {
    tf.tidy(() => {
      tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.maxPool(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'), 2, 2, 'same').sum(),
      )([x, w]);
      // Transposed convolution: phase-split Conv2DBackpropInput and DepthToSpace forward, Conv2DBackpropFilter backward.
      tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf
          .conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, [1, 16, 16, 2], 2, 'same')
          .square()
          .sum(),
      )([x, w]);
      // Winograd: padded input, transformed filter, zero bias and scratch, forward and input gradient.
      tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same').sum(),
      )([wide, wideFilter]);
    });
  }
  assert.is(tf.memory().numTensors, before);
  assert.is(tf.backend().numDataIds(), buffersBefore);
  tf.dispose([x, w, wide, wideFilter]);
});

test.run();
