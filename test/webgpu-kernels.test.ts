import * as tf from '@tensorflow/tfjs';
import { from } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BATCH_MOMENTS } from '../src/backend/fusedKernels.js';
import { selectBackend } from '../src/backend/selectBackend.js';
import { widenBytesOnDevice } from '../src/backend/widenBytesOnDevice.js';
import { buildLoss, LOSS_NAMES } from '../src/losses/buildLoss.js';
import { ConfusionMatrix } from '../src/metrics/confusionMatrix.js';
import { type AtrousMethod, atrousConv2d, atrousDepthwiseConv2d } from '../src/models/layers/atrousConv2d.js';
import { batchNormalization } from '../src/models/layers/batchNormalization.js';
import { ResizeBilinearLike } from '../src/models/layers/resizeBilinearLike.js';
import { toTensorBatch } from '../src/operators/toTensorBatch.js';
import { normalizedPixels, pixelNormalization } from '../src/tiling/pixelNormalization.js';
import { Adam } from '../src/training/adam.js';
import { relativeError, seededTensor as seeded, valuesOn } from './helpers/compare.js';
import { testUnlessMissing, webgpuMissing } from './helpers/skips.js';

// Every layer kind and loss the three models train with, forward and gradients, on webgpu against the cpu
// backend (the reference the wasm kernels are held to as well).
const missing = await webgpuMissing();

/** Float32 on a GPU sums in other orders than the cpu backend: differences of a few 1e-6 of the largest value. */
const TOLERANCE = 1e-4;

async function compareWithCpu(name: string, compute: () => tf.Tensor[]): Promise<void> {
  const cpu = await valuesOn('cpu', compute);
  const webgpu = await valuesOn('webgpu', compute);
  cpu.forEach((reference, i) => {
    assert.is(webgpu[i]!.length, reference.length, `${name}: output ${i} size`);
    const error = relativeError(webgpu[i]!, reference);
    assert.ok(error < TOLERANCE, `${name}: output ${i} relative error ${error}`);
  });
}

/** The value of `f` and its gradients with respect to every input, for a seeded weighting of its output. */
function valueAndGrads(
  f: (...inputs: tf.Tensor[]) => tf.Tensor,
  inputs: tf.Tensor[],
  seed: number,
): tf.Tensor[] {
  const value = f(...inputs);
  const weights = seeded(value.shape, seed);
  const grads = tf.grads((...xs: tf.Tensor[]) =>
    f(...xs)
      .mul(weights)
      .sum(),
  )(inputs);
  return [value, ...grads];
}

testUnlessMissing(
  "conv2d with bias and relu (the layers' fused conv), forward and gradients on webgpu equal cpu: kernels 1-7, strides 1-2, same/valid",
  missing,
  async () => {
    const cases = [
      { kernel: 3, stride: 1, pad: 'same' },
      { kernel: 3, stride: 2, pad: 'same' },
      { kernel: 7, stride: 2, pad: 'same' },
      { kernel: 4, stride: 2, pad: 'same' },
      { kernel: 1, stride: 1, pad: 'valid' },
      { kernel: 3, stride: 1, pad: 'valid' },
    ] as const;
    for (const [i, c] of cases.entries()) {
      await compareWithCpu(`conv k${c.kernel} s${c.stride} ${c.pad}`, () => {
        const conv = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
          tf.fused.conv2d({
            x: x as tf.Tensor4D,
            filter: w as tf.Tensor4D,
            strides: c.stride,
            pad: c.pad,
            bias: b,
            activation: 'relu',
          });
        return valueAndGrads(
          conv,
          [seeded([2, 13, 12, 3], i), seeded([c.kernel, c.kernel, 3, 5], 20 + i), seeded([5], 40 + i)],
          60 + i,
        );
      });
    }
  },
);

testUnlessMissing(
  "atrous convolutions (DeepLabV3+'s backbone and ASPP), both methods, and atrous depthwise: forward and gradients on webgpu equal cpu",
  missing,
  async () => {
    for (const [i, [rate, method]] of (
      [
        [2, 'spaceToBatch'],
        [4, 'spaceToBatch'],
        [3, 'taps'],
        [6, 'taps'],
      ] as Array<[number, AtrousMethod]>
    ).entries()) {
      await compareWithCpu(`atrous rate ${rate} ${method}`, () =>
        valueAndGrads(
          (x, w) => atrousConv2d(x as tf.Tensor4D, w as tf.Tensor4D, [rate, rate], 'same', method),
          [seeded([2, 12, 12, 4], i), seeded([3, 3, 4, 6], 10 + i)],
          20 + i,
        ),
      );
    }
    await compareWithCpu('atrous depthwise rate 2', () =>
      valueAndGrads(
        (x, w) => atrousDepthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, [2, 2], 'same'),
        [seeded([2, 12, 12, 4], 30), seeded([3, 3, 4, 1], 31)],
        32,
      ),
    );
  },
);

testUnlessMissing(
  'transposed convolutions (U-Net 2x2/2, Pix2Pix 4x4/2) and depthwise convolutions (separable DeepLabV3+): forward and gradients on webgpu equal cpu',
  missing,
  async () => {
    for (const [i, kernel] of [2, 4].entries()) {
      await compareWithCpu(`conv2dTranspose ${kernel}x${kernel}/2`, () =>
        valueAndGrads(
          (x, w) => tf.conv2dTranspose(x as tf.Tensor4D, w as tf.Tensor4D, [2, 10, 12, 3], 2, 'same'),
          [seeded([2, 5, 6, 4], i), seeded([kernel, kernel, 3, 4], 10 + i)],
          20 + i,
        ),
      );
    }
    // Channel multipliers 1 (the models') and 2 (each input channel feeding two outputs).
    for (const [i, [stride, multiplier]] of [
      [1, 1],
      [2, 1],
      [1, 2],
    ].entries()) {
      await compareWithCpu(`depthwise 3x3/${stride} x${multiplier}`, () =>
        valueAndGrads(
          (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride!, 'same'),
          [seeded([2, 11, 10, 4], 30 + i), seeded([3, 3, 4, multiplier!], 40 + i)],
          50 + i,
        ),
      );
    }
  },
);

testUnlessMissing(
  'batch normalization in training mode (batch statistics, through the fused moments, gradient and moving-average kernels on webgpu): output, moving statistics and gradients of input, gamma and beta on webgpu equal cpu',
  missing,
  async () => {
    // The second shape's 4,292 rows make the column sums' blocks of 66 rows end with a partial one.
    for (const [i, shape] of [
      [2, 6, 5, 4],
      [4, 37, 29, 3],
    ].entries()) {
      await compareWithCpu(`batch norm ${shape.join('x')}`, () => {
        const layer = batchNormalization({ epsilon: 1e-3 });
        const x = seeded(shape, 1 + i)
          .mul(3)
          .add(1);
        layer.build(x.shape);
        const weights = seeded(x.shape, 2 + i);
        const loss = () => (layer.apply(x, { training: true }) as tf.Tensor).mul(weights).sum() as tf.Scalar;
        const { grads } = tf.variableGrads(
          loss,
          layer.trainableWeights.map((w) => w.read() as tf.Variable),
        );
        const dx = tf.grad((input: tf.Tensor) =>
          (layer.apply(input, { training: true }) as tf.Tensor).mul(weights).sum(),
        )(x);
        const results = [
          layer.apply(x, { training: true }) as tf.Tensor,
          dx,
          ...Object.values(grads),
          ...layer.nonTrainableWeights.map((w) => w.read().clone()),
        ];
        layer.weights.forEach((w) => w.dispose());
        return results;
      });
    }
  },
);

testUnlessMissing(
  'batch moments on webgpu (blocks combined by their means) keep the variance of values far from zero: within 1e-4 of a float64 reference',
  missing,
  async () => {
    await selectBackend({ backend: 'webgpu' });
    // 8,184 rows of 3 channels around 500 with a spread of about 0.3: E[x^2] - E[x]^2 in float32 loses it all.
    const shape = [8, 33, 31, 3];
    const noise = await seeded(shape, 5).data();
    const values = Float32Array.from(noise, (v, i) => 500 + (i % 3) * 100 + v);
    const x = tf.tensor(values, shape);
    const [mean, variance] = tf.engine().runKernel(BATCH_MOMENTS, { x }) as tf.Tensor[];
    const [means, variances] = [await mean!.data(), await variance!.data()];
    tf.dispose([x, mean!, variance!]);
    for (let c = 0; c < 3; c++) {
      let sum = 0;
      let count = 0;
      for (let i = c; i < values.length; i += 3, count++) sum += values[i]!;
      const reference = sum / count;
      let squares = 0;
      for (let i = c; i < values.length; i += 3) squares += (values[i]! - reference) ** 2;
      const referenceVariance = squares / count;
      assert.ok(
        Math.abs(means[c]! - reference) / reference < 1e-6,
        `mean ${c}: ${means[c]} against ${reference}`,
      );
      const error = Math.abs(variances[c]! - referenceVariance) / referenceVariance;
      assert.ok(
        error < 1e-4,
        `variance ${c}: ${variances[c]} against ${referenceVariance} (relative error ${error})`,
      );
    }
  },
);

testUnlessMissing(
  "Relu's and LeakyRelu's gradients on webgpu (one fused program each) equal cpu's, NaN and zero inputs included",
  missing,
  async () => {
    const compute = () => {
      const x = seeded([3, 7, 5, 2], 1).where(seeded([3, 7, 5, 2], 2).less(0.4), tf.scalar(Number.NaN));
      const atZero = x.where(seeded([3, 7, 5, 2], 3).greater(-0.4), tf.scalar(0));
      const weights = seeded(atZero.shape, 4);
      return [
        tf.grad((t: tf.Tensor) => tf.relu(t).mul(weights).sum())(atZero),
        tf.grad((t: tf.Tensor) => tf.leakyRelu(t, 0.2).mul(weights).sum())(atZero),
      ];
    };
    const cpu = await valuesOn('cpu', compute);
    const webgpu = await valuesOn('webgpu', compute);
    assert.ok(
      cpu[0]!.some((v) => Number.isNaN(v)) && cpu[0]!.some((v) => v === 0),
      'the inputs reach NaN and zero',
    );
    cpu.forEach((gradient, g) =>
      gradient.forEach((reference, i) => {
        if (Number.isNaN(reference))
          assert.ok(Number.isNaN(webgpu[g]![i]!), `${g}, element ${i}: NaN on cpu`);
        else assert.is(webgpu[g]![i], reference, `${g}, element ${i}`);
      }),
    );
  },
);

testUnlessMissing(
  'max pooling (2x2/2, 3x3/2 with padding), average pooling, global average pooling: forward and gradients on webgpu equal cpu',
  missing,
  async () => {
    // Distinct values: where a window holds equal maxima, backends may pick different ones (both right).
    const x = () => seeded([2, 9, 8, 3], 1);
    await compareWithCpu('maxPool 2x2/2', () =>
      valueAndGrads((t) => tf.maxPool(t as tf.Tensor4D, 2, 2, 'same'), [x()], 2),
    );
    await compareWithCpu('maxPool 3x3/2', () =>
      valueAndGrads((t) => tf.maxPool(t as tf.Tensor4D, 3, 2, 'same'), [x()], 3),
    );
    await compareWithCpu('avgPool 2x2/2', () =>
      valueAndGrads((t) => tf.avgPool(t as tf.Tensor4D, 2, 2, 'valid'), [x()], 4),
    );
    await compareWithCpu('global average pooling', () => valueAndGrads((t) => tf.mean(t, [1, 2]), [x()], 5));
  },
);

testUnlessMissing(
  "bilinear resize with aligned corners (DeepLabV3+'s ResizeBilinearLike: 4x decoder upsampling, 1x1 image pooling, non-square maps) and its gradient on webgpu equal cpu",
  missing,
  async () => {
    for (const [i, [from, to]] of (
      [
        [
          [4, 4],
          [16, 16],
        ],
        [
          [1, 1],
          [8, 8],
        ],
        [
          [3, 5],
          [12, 20],
        ],
      ] as Array<[number[], number[]]>
    ).entries()) {
      await compareWithCpu(`resize ${from} -> ${to}`, () => {
        const layer = new ResizeBilinearLike();
        const like = tf.zeros([2, to[0]!, to[1]!, 1]);
        return valueAndGrads(
          (t) => layer.apply([t, like]) as tf.Tensor,
          [seeded([2, from[0]!, from[1]!, 3], i)],
          10 + i,
        );
      });
    }
  },
);

testUnlessMissing(
  'concat, zero padding, add, relu, leaky relu, sigmoid, softmax, log-softmax: forward and gradients on webgpu equal cpu',
  missing,
  async () => {
    const a = () => seeded([2, 6, 5, 3], 1).mul(6);
    const b = () => seeded([2, 6, 5, 2], 2).mul(6);
    await compareWithCpu('concat', () => valueAndGrads((x, y) => tf.concat([x!, y!], 3), [a(), b()], 3));
    await compareWithCpu('pad', () =>
      valueAndGrads(
        (x) =>
          tf.pad(x, [
            [0, 0],
            [3, 3],
            [1, 2],
            [0, 0],
          ]),
        [a()],
        4,
      ),
    );
    await compareWithCpu('add', () =>
      valueAndGrads((x, y) => tf.add(x!, y!), [a(), seeded([2, 6, 5, 3], 5)], 6),
    );
    for (const [i, [name, f]] of (
      [
        ['relu', tf.relu],
        ['leakyRelu 0.2', (x: tf.Tensor) => tf.leakyRelu(x, 0.2)],
        ['sigmoid', tf.sigmoid],
        ['softmax', (x: tf.Tensor) => tf.softmax(x)],
        ['logSoftmax', (x: tf.Tensor) => tf.logSoftmax(x)],
      ] as Array<[string, (x: tf.Tensor) => tf.Tensor]>
    ).entries()) {
      await compareWithCpu(name, () => valueAndGrads(f, [a()], 10 + i));
    }
  },
);

testUnlessMissing(
  'every loss (focal Tversky, sparse cross-entropy, ...), with class weights and ignored pixels: value and gradient of the logits on webgpu equal cpu',
  missing,
  async () => {
    for (const [i, name] of LOSS_NAMES.filter((n) => n !== 'weightedSum').entries()) {
      const loss = buildLoss({ name }, { numClasses: 4, classWeights: [1, 2, 0.5, 1], ignoreValue: 255 });
      await compareWithCpu(name, () => {
        const logits = seeded([2, 8, 8, 4], i).mul(8);
        // Classes 0-3 and some pixels of the ignore value.
        const labels = seeded([2, 8, 8], 50 + i, 10)
          .add(5)
          .clipByValue(0, 4)
          .cast('int32')
          .where(seeded([2, 8, 8], 70 + i).less(0.4), tf.scalar(255, 'int32')) as tf.Tensor3D;
        const [value, gradient] = [
          loss(logits as tf.Tensor4D, labels),
          tf.grad((l: tf.Tensor) => loss(l as tf.Tensor4D, labels))(logits),
        ];
        return [value, gradient!];
      });
    }
  },
);

/**
 * Shapes of the variables Adam updates in these tests: more than one webgpu program binds, and one with more
 * elements than a dispatch's 65,535 workgroups of 64 threads cover in one dimension.
 */
const ADAM_SHAPES: Record<string, number[]> = {
  adam_wide: [2050, 2050],
  adam_kernel: [3, 3, 4, 8],
  adam_bias: [8],
  adam_gamma: [5],
  adam_dense: [7, 3],
  adam_scalar: [1],
  adam_pointwise: [1, 1, 8, 2],
  adam_beta: [2],
};

/**
 * Three Adam steps of the ADAM_SHAPES variables on `backend` (one of them without a gradient at the second
 * step), saved and restored into a new optimizer after `restoreAfter` steps where given: the weights, then
 * the saved moments (names and values) after the last step.
 */
async function adamSteps(
  backend: 'cpu' | 'webgpu',
  restoreAfter?: number,
): Promise<{ values: Float32Array[]; names: string[]; leaked: number }> {
  await selectBackend({ backend });
  const before = tf.memory().numTensors;
  const weights = tf.tidy(() =>
    Object.entries(ADAM_SHAPES).map(([name, shape], i) => tf.variable(seeded(shape, i + 1), true, name)),
  );
  const make = () => new Adam(0.01, 0.9, 0.999, 1e-7);
  let optimizer = make();
  for (let step = 0; step < 3; step++) {
    if (step === restoreAfter) {
      const saved = await optimizer.getWeights();
      const restored = make();
      await restored.setWeights(saved);
      optimizer.dispose();
      saved[0]!.tensor.dispose(); // the iteration count getWeights made; the rest are the optimizer's own
      optimizer = restored;
    }
    tf.tidy(() =>
      optimizer.applyGradients(
        weights.map((w, i) => ({
          name: w.name,
          tensor: step === 1 && i === 2 ? (null as unknown as tf.Tensor) : seeded(w.shape, 10 * step + i),
        })),
      ),
    );
  }
  const saved = (await optimizer.getWeights()).slice(1);
  const values = (await Promise.all(
    [...weights, ...saved.map((w) => w.tensor)].map((t) => t.data()),
  )) as Float32Array[];
  const names = saved.map((w) => w.name);
  optimizer.dispose();
  tf.dispose(weights);
  return { values, names, leaked: tf.memory().numTensors - before - 1 };
}

testUnlessMissing(
  "Adam on webgpu (a variable's two moments in one tensor while it trains): three steps give the cpu backend's weights and saved moments, also when saved and restored after two steps",
  missing,
  async () => {
    const cpu = await adamSteps('cpu');
    const webgpu = await adamSteps('webgpu');
    assert.equal(webgpu.names, cpu.names, 'saved moment names');
    const names = Object.keys(ADAM_SHAPES);
    assert.equal(webgpu.names, [...names.map((n) => `${n}/m`), ...names.map((n) => `${n}/v`)]);
    cpu.values.forEach((reference, i) => {
      const error = relativeError(webgpu.values[i]!, reference);
      assert.ok(error < TOLERANCE, `output ${i} relative error ${error}`);
    });
    // A restored optimizer recomputes beta^t with pow (as the stock one does), so it is held to the cpu
    // backend restored the same way.
    const cpuRestored = await adamSteps('cpu', 2);
    const restored = await adamSteps('webgpu', 2);
    cpuRestored.values.forEach((reference, i) => {
      const error = relativeError(restored.values[i]!, reference);
      assert.ok(error < TOLERANCE, `restored: output ${i} relative error ${error}`);
    });
    assert.is(webgpu.leaked, 0, 'tensors left');
    assert.is(restored.leaked, 0, 'tensors left after a restore');
  },
);

testUnlessMissing(
  'Adam on webgpu updates as many variables a program as the device lets one program bind (five buffers each), up to eight',
  missing,
  async () => {
    await selectBackend({ backend: 'webgpu' });
    const backend = tf.backend() as unknown as { recordAndSubmit: (...args: unknown[]) => unknown };
    const dispatch = backend.recordAndSubmit;
    /** The programs of an optimizer's second step (its first makes the moments) over `count` variables. */
    const programsOfStep = (count: number): number => {
      const weights = Object.values(ADAM_SHAPES)
        .slice(0, count)
        .map((shape, i) => tf.variable(seeded(shape, i), true, `adam_count_${count}_${i}`));
      const gradients = weights.map((w) => ({ name: w.name, tensor: tf.onesLike(w) }));
      const optimizer = new Adam(0.01, 0.9, 0.999, 1e-7);
      const step = () => tf.tidy(() => optimizer.applyGradients(gradients));
      step();
      let programs = 0;
      backend.recordAndSubmit = (...args) => {
        programs += 1;
        return dispatch.apply(backend, args);
      };
      try {
        step();
      } finally {
        backend.recordAndSubmit = dispatch;
      }
      optimizer.dispose();
      tf.dispose([...weights, ...gradients.map((g) => g.tensor)]);
      return programs;
    };
    const limits = (tf.backend() as unknown as { device: { limits: Record<string, number> } }).device.limits;
    const bindable = Math.min(limits.maxStorageBuffersPerShaderStage!, limits.maxBindingsPerBindGroup! - 1);
    const perProgram = Math.max(1, Math.min(8, Math.floor(bindable / 5)));
    const all = Object.keys(ADAM_SHAPES).length;
    assert.is(programsOfStep(all) - programsOfStep(1), Math.ceil(all / perProgram) - 1);
  },
);

testUnlessMissing(
  "confusion counts of a batch on webgpu (counted on the device, only the counts read back) equal cpu's, ignored labels left out; a label out of range is refused by pixel",
  missing,
  async () => {
    const classes = 5;
    // 2 x 45 x 37 pixels: the device's column sums end with a partial block.
    const logits = () => seeded([2, 45, 37, classes], 1) as tf.Tensor4D;
    const labels = (outOfRange: boolean) =>
      tf.tidy(() => {
        const ids = seeded([2, 45, 37], 2, 2 * classes)
          .add(classes)
          .clipByValue(0, classes - 1)
          .cast('int32');
        const withIgnored = ids.where(seeded([2, 45, 37], 3).less(0.3), tf.scalar(255, 'int32'));
        if (!outOfRange) return withIgnored as tf.Tensor3D;
        const pixel1000 = tf
          .oneHot([1000], 2 * 45 * 37)
          .reshape([2, 45, 37])
          .cast('bool');
        return withIgnored.where(pixel1000.logicalNot(), tf.scalar(7, 'int32')) as tf.Tensor3D;
      });
    const counted: Float64Array[] = [];
    for (const backend of ['cpu', 'webgpu'] as const) {
      await selectBackend({ backend });
      const matrix = new ConfusionMatrix(classes);
      const [l, y] = [logits(), labels(false)];
      await matrix.addLogits(l, y);
      await matrix.addLogits(l, y);
      const before = tf.memory().numTensors;
      const bad = labels(true);
      const refusal = await matrix.addLogits(l, bad).then(
        () => 'accepted',
        (error: Error) => error.message,
      );
      assert.match(refusal, /got label 7, prediction \d at pixel 1000/, backend);
      assert.is(
        tf.memory().numTensors,
        before + 1,
        `${backend}: the refused batch leaves no tensor of its own`,
      );
      tf.dispose([l, y, bad]);
      counted.push(matrix.counts);
    }
    // 40 classes are counted on the CPU on every backend (the device's work grows with their square).
    const many: Float64Array[] = [];
    for (const backend of ['cpu', 'webgpu'] as const) {
      await selectBackend({ backend });
      const matrix = new ConfusionMatrix(40);
      const [l, y] = [
        seeded([1, 9, 7, 40], 4) as tf.Tensor4D,
        seeded([1, 9, 7], 5, 80).add(40).clipByValue(0, 39).cast('int32') as tf.Tensor3D,
      ];
      await matrix.addLogits(l, y);
      tf.dispose([l, y]);
      many.push(matrix.counts);
    }
    assert.equal(Array.from(many[1]!), Array.from(many[0]!), '40 classes');
    const [cpu, webgpu] = counted as [Float64Array, Float64Array];
    const total = cpu.reduce((a, b) => a + b, 0);
    assert.ok(
      total > 2 * 2 * 45 * 37 * 0.5 && total < 2 * 2 * 45 * 37,
      `ignored labels left out: ${total} counted`,
    );
    assert.equal(Array.from(webgpu), Array.from(cpu));
  },
);

testUnlessMissing(
  'sums and means over every axis but the last (column sums on webgpu), kept or not, negative axes, and other reductions (stock) on webgpu equal cpu',
  missing,
  async () => {
    // 2 x 45 x 37 rows: the column sums end with a partial block.
    const x = () => seeded([2, 45, 37, 3], 1).mul(4).add(1);
    await compareWithCpu('leading-axes reductions', () => [
      tf.sum(x(), [0, 1, 2]),
      tf.sum(x(), [-4, -3, -2], true),
      tf.mean(x(), [2, 0, 1]),
      tf.mean(x(), [0, 1, 2], true),
      tf.sum(seeded([6, 4], 2), 0),
      tf.sum(x(), [1, 2]),
      tf.mean(x()),
      tf.sum(x(), 3),
    ]);
  },
);

testUnlessMissing(
  'bytes widened on webgpu: normalized pixels of 5 channels as the CPU computes them, labels exactly, over a count not a multiple of 4; toTensorBatch makes the batches of the cpu backend from them',
  missing,
  async () => {
    await selectBackend({ backend: 'webgpu' });
    // 3 tiles of 3x3 pixels: 135 pixel values and 27 labels, neither a whole number of 4-byte words.
    const parts = [0, 1, 2].map((t) => new Uint8Array(45).map((_, i) => (i * 37 + t * 101) % 256));
    const masks = [0, 1, 2].map((t) =>
      new Uint8Array(9).map((_, i) => ((i * 7 + t) % 4 === 3 ? 255 : (i + t) % 6)),
    );
    const factors = pixelNormalization([0.1, 0.2, 0.3, 0.4, 0.5], [0.5, 0.25, 1, 2, 0.2]);
    const before = tf.memory().numTensors;
    const pixels = widenBytesOnDevice(parts, [3, 3, 3, 5], factors);
    const labels = widenBytesOnDevice(masks, [3, 3, 3]);
    assert.ok(pixels && labels, 'webgpu widens bytes itself');
    assert.is(pixels.dtype, 'float32');
    assert.is(labels.dtype, 'int32');
    assert.is(tf.memory().numTensors, before + 2, 'the packed words and factors are disposed');
    const expected = normalizedPixels(parts, factors);
    const widened = (await pixels.data()) as Float32Array;
    assert.ok(
      relativeError(widened, expected) < 1e-6,
      `pixels: relative error ${relativeError(widened, expected)}`,
    );
    const expectedLabels = masks.flatMap((mask) => Array.from(mask));
    assert.equal(Array.from(await labels.data()), expectedLabels);
    tf.dispose([pixels, labels]);

    const tiles = parts.map((image, t) => ({
      image: { data: image, width: 3, height: 3, channels: 5 },
      mask: { data: masks[t]!, width: 3, height: 3 },
      origin: { sourceId: `t${t}`, x: 0, y: 0, sourceWidth: 3, sourceHeight: 3 },
    }));
    const makeBatch = () => {
      let made: tf.Tensor[] = [];
      from([tiles])
        .pipe(toTensorBatch({ mean: [0.1, 0.2, 0.3, 0.4, 0.5], std: [0.5, 0.25, 1, 2, 0.2] }))
        .subscribe((batch) => {
          made = [batch.images.clone(), batch.labels.clone()];
          batch.release();
        });
      return made;
    };
    const [cpuImages, cpuLabels] = await valuesOn('cpu', makeBatch);
    const [gpuImages, gpuLabels] = await valuesOn('webgpu', makeBatch);
    assert.ok(relativeError(gpuImages!, cpuImages!) < 1e-6, 'batch images');
    assert.equal(Array.from(gpuLabels!), Array.from(cpuLabels!), 'batch labels');
  },
);

test.run();
