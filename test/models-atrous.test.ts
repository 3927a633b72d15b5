import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import {
  AtrousConv2D,
  AtrousDepthwiseConv2D,
  type AtrousPadding,
  atrousConv2d,
  atrousDepthwiseConv2d,
  preferredAtrousMethod,
} from '../src/models/layers/atrousConv2d.js';
import { roundTrip } from './helpers/models.js';

test.before(async () => {
  await selectBackend({ backend: 'cpu' });
});

/** Largest |a - b| relative to the largest |b|. */
function relativeError(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.sub(a, b).abs().max().div(b.abs().max()).dataSync()[0]!);
}

/** The kernel with rate - 1 zeros inserted between taps: an ordinary conv with it is the dilated conv. */
function zeroInsertedKernel(kernel: tf.Tensor4D, [rr, rc]: [number, number]): tf.Tensor4D {
  const [kh, kw, ci, co] = kernel.shape;
  const spread = tf.pad(kernel.reshape([kh, 1, kw, 1, ci, co]), [
    [0, 0],
    [0, rr - 1],
    [0, 0],
    [0, rc - 1],
    [0, 0],
    [0, 0],
  ]);
  return spread
    .reshape([kh * rr, kw * rc, ci, co])
    .slice([0, 0, 0, 0], [(kh - 1) * rr + 1, (kw - 1) * rc + 1, ci, co]) as tf.Tensor4D;
}

const cases: Array<{
  rate: [number, number];
  size: [number, number];
  kernel: number;
  padding: AtrousPadding;
}> = [];
for (const r of [2, 3, 4, 5, 6, 7, 8, 12, 16, 18]) {
  // Odd and even sizes, with and without the rate dividing them, both paddings, kernels 3 and 2.
  cases.push({ rate: [r, r], size: [2 * r + 5, 2 * r + 6], kernel: 3, padding: 'same' });
  cases.push({ rate: [r, r], size: [2 * r + 4, 3 * r + 1], kernel: 3, padding: 'valid' });
  cases.push({ rate: [r, r], size: [r + 3, 2 * r], kernel: 2, padding: 'same' });
}
cases.push({ rate: [2, 5], size: [11, 14], kernel: 3, padding: 'same' });

type Conv = (
  x: tf.Tensor4D,
  kernel: tf.Tensor4D,
  padding: AtrousPadding,
  rate?: [number, number],
) => tf.Tensor4D;
type Atrous = (
  x: tf.Tensor4D,
  kernel: tf.Tensor4D,
  rate: [number, number],
  padding: AtrousPadding,
) => tf.Tensor4D;
const conv2dReference: Conv = (x, k, p, r = [1, 1]) => tf.conv2d(x, k, 1, p, 'NHWC', r);
/** Each atrous op (both forms of the convolution) with TF.js's dilated version of it (forward only) and its undilated version (with gradients). */
const kinds: Array<{ name: string; atrous: Atrous; reference: Conv; kernelOut: number }> = [
  {
    name: 'conv2d space-to-batch',
    atrous: (x, k, r, p) => atrousConv2d(x, k, r, p, 'spaceToBatch'),
    reference: conv2dReference,
    kernelOut: 3,
  },
  {
    name: 'conv2d taps',
    atrous: (x, k, r, p) => atrousConv2d(x, k, r, p, 'taps'),
    reference: conv2dReference,
    kernelOut: 3,
  },
  {
    name: 'depthwise',
    atrous: atrousDepthwiseConv2d,
    reference: (x, k, p, r = [1, 1]) => tf.depthwiseConv2d(x, k, 1, p, 'NHWC', r),
    kernelOut: 2,
  },
];

test('forward equals TF.js dilated conv2d and depthwiseConv2d for rates 2..18, odd and even sizes, same and valid', () => {
  const before = tf.memory().numTensors;
  for (const kind of kinds) {
    for (const [i, c] of cases.entries()) {
      tf.tidy(() => {
        const x = tf.randomNormal([2, ...c.size, 2], 0, 1, 'float32', i) as tf.Tensor4D;
        const kernel = tf.randomNormal(
          [c.kernel, c.kernel, 2, kind.kernelOut],
          0,
          1,
          'float32',
          100 + i,
        ) as tf.Tensor4D;
        const expected = kind.reference(x, kernel, c.padding, c.rate);
        const actual = kind.atrous(x, kernel, c.rate, c.padding);
        const what = `${kind.name} ${JSON.stringify(c)}`;
        assert.equal(actual.shape, expected.shape, what);
        assert.ok(relativeError(actual, expected) < 1e-5, `${what}: ${relativeError(actual, expected)}`);
      });
    }
  }
  assert.is(tf.memory().numTensors, before);
});

test('gradients for input and kernel equal those of an undilated conv with a zero-inserted kernel', () => {
  const before = tf.memory().numTensors;
  // Rates with an odd, an even and the largest value, and the mixed one: enough to see any padding mistake.
  const gradientCases = cases.filter((c) => [2, 3, 5, 18].includes(c.rate[0]) || c.rate[0] !== c.rate[1]);
  for (const kind of kinds) {
    for (const [i, c] of gradientCases.entries()) {
      tf.tidy(() => {
        const x = tf.randomNormal([2, ...c.size, 2], 0, 1, 'float32', i) as tf.Tensor4D;
        const kernel = tf.randomNormal(
          [c.kernel, c.kernel, 2, kind.kernelOut],
          0,
          1,
          'float32',
          100 + i,
        ) as tf.Tensor4D;
        const weights = tf.randomNormal(
          kind.reference(x, kernel, c.padding, c.rate).shape,
          0,
          1,
          'float32',
          200 + i,
        );
        const [dxA, dkA] = tf.grads((a: tf.Tensor, k: tf.Tensor) =>
          kind
            .atrous(a as tf.Tensor4D, k as tf.Tensor4D, c.rate, c.padding)
            .mul(weights)
            .sum(),
        )([x, kernel]);
        const [dxB, dkB] = tf.grads((a: tf.Tensor, k: tf.Tensor) =>
          kind
            .reference(a as tf.Tensor4D, zeroInsertedKernel(k as tf.Tensor4D, c.rate), c.padding)
            .mul(weights)
            .sum(),
        )([x, kernel]);
        const what = `${kind.name} ${JSON.stringify(c)}`;
        assert.ok(relativeError(dxA!, dxB!) < 1e-5, `input gradient ${what}: ${relativeError(dxA!, dxB!)}`);
        assert.ok(relativeError(dkA!, dkB!) < 1e-5, `kernel gradient ${what}: ${relativeError(dkA!, dkB!)}`);
      });
    }
  }
  assert.is(tf.memory().numTensors, before);
});

test('the taps form is chosen where the map is small against the rate (ASPP on 16x16), space-to-batch otherwise', () => {
  for (const rate of [6, 12, 18])
    assert.is(preferredAtrousMethod([16, 16], [3, 3], [rate, rate], 'same'), 'taps', `rate ${rate}`);
  // Rate 2 on 16x16: both forms do the same arithmetic and space-to-batch holds no copies of x per tap.
  assert.is(preferredAtrousMethod([16, 16], [3, 3], [2, 2], 'same'), 'spaceToBatch');
  assert.is(preferredAtrousMethod([128, 128], [3, 3], [6, 6], 'same'), 'spaceToBatch');
});

test('kernel gradient matches central finite differences', () => {
  tf.tidy(() => {
    const x = tf.randomNormal([1, 9, 10, 1], 0, 1, 'float32', 7) as tf.Tensor4D;
    const kernel = tf.randomNormal([3, 3, 1, 1], 0, 1, 'float32', 8) as tf.Tensor4D;
    const loss = (k: tf.Tensor4D) => atrousConv2d(x, k, [4, 4], 'same').square().sum();
    const analytic = tf
      .grad((k: tf.Tensor) => loss(k as tf.Tensor4D))(kernel)
      .dataSync();
    const values = kernel.dataSync();
    const h = 1e-2;
    for (let j = 0; j < values.length; j++) {
      const shifted = (delta: number) => {
        const v = Float32Array.from(values);
        v[j]! += delta;
        return loss(tf.tensor4d(v, kernel.shape)).dataSync()[0]!;
      };
      const numeric = (shifted(h) - shifted(-h)) / (2 * h);
      assert.ok(
        Math.abs(numeric - analytic[j]!) <= 1e-2 * Math.max(1, Math.abs(numeric)),
        `tap ${j}: ${numeric} vs ${analytic[j]}`,
      );
    }
  });
});

test('the layer adds its bias, trains in a model, and saves and loads with the same outputs and config', async () => {
  const input = tf.input({ shape: [null, null, 2] });
  const layer = new AtrousConv2D({
    filters: 3,
    kernelSize: 3,
    dilationRate: 6,
    name: 'aspp_rate6',
    kernelInitializer: tf.initializers.heNormal({ seed: 1 }),
    biasInitializer: tf.initializers.constant({ value: 0.5 }),
  });
  const model = tf.model({ inputs: input, outputs: layer.apply(input) as tf.SymbolicTensor });
  assert.equal(
    model.getWeights().map((w) => w.shape),
    [[3, 3, 2, 3], [3]],
  );
  assert.equal(
    layer.weights.map((w) => w.originalName),
    ['aspp_rate6/kernel', 'aspp_rate6/bias'],
  );
  const x = tf.randomNormal([2, 13, 16, 2], 0, 1, 'float32', 5);
  tf.tidy(() => {
    const [kernel] = layer.getWeights();
    const expected = tf.conv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, 1, 'same', 'NHWC', 6).add(0.5);
    assert.ok(relativeError(model.predict(x) as tf.Tensor, expected) < 1e-5);
  });

  model.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
  const target = tf.zerosLike(model.predict(x) as tf.Tensor);
  const before = tf.memory().numTensors;
  const history = await model.fit(x, target, { epochs: 3, verbose: 0 });
  assert.is(tf.memory().numTensors, before);
  const losses = history.history.loss as number[];
  assert.ok(losses[2]! < losses[0]!, `loss did not fall: ${losses.join(', ')}`);

  const loaded = await roundTrip(model);
  const restored = loaded.layers[1] as AtrousConv2D;
  assert.instance(restored, AtrousConv2D);
  assert.equal([restored.dilationRate, restored.kernelSize, restored.padding], [[6, 6], [3, 3], 'same']);
  assert.is(restored.kernelInitializer.getClassName(), 'VarianceScaling');
  const difference = tf.tidy(
    () =>
      tf
        .sub(model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor)
        .abs()
        .max()
        .dataSync()[0],
  );
  assert.is(difference, 0);
  tf.dispose([x, target]);
  model.dispose();
  loaded.dispose();
});

test('the depthwise layer multiplies channels, names its kernel as Keras, and saves and loads', async () => {
  const input = tf.input({ shape: [null, null, 3] });
  const layer = new AtrousDepthwiseConv2D({
    kernelSize: 3,
    dilationRate: [2, 3],
    depthMultiplier: 2,
    name: 'aspp1_depthwise',
  });
  const model = tf.model({ inputs: input, outputs: layer.apply(input) as tf.SymbolicTensor });
  assert.equal(
    layer.weights.map((w) => [w.originalName, w.shape]),
    [
      ['aspp1_depthwise/depthwise_kernel', [3, 3, 3, 2]],
      ['aspp1_depthwise/bias', [6]],
    ],
  );
  const x = tf.randomNormal([1, 11, 14, 3], 0, 1, 'float32', 9);
  const loaded = await roundTrip(model);
  assert.instance(loaded.layers[1], AtrousDepthwiseConv2D);
  tf.tidy(() => {
    const [kernel, bias] = layer.getWeights();
    const expected = tf
      .depthwiseConv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, 1, 'same', 'NHWC', [2, 3])
      .add(bias!);
    assert.equal((model.predict(x) as tf.Tensor).shape, [1, 11, 14, 6]);
    assert.ok(relativeError(model.predict(x) as tf.Tensor, expected) < 1e-5);
    assert.is(
      tf
        .sub(model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor)
        .abs()
        .max()
        .dataSync()[0],
      0,
    );
  });
  tf.dispose(x);
  model.dispose();
  loaded.dispose();
});

test('refuses bad arguments by name', () => {
  assert.throws(
    () => new AtrousConv2D({ filters: 0, kernelSize: 3, name: 'a' }),
    /AtrousConv2D 'a': filters must be a positive integer, got 0/,
  );
  assert.throws(
    () => new AtrousConv2D({ filters: 1, kernelSize: 3, dilationRate: 0, name: 'b' }),
    /'b': dilationRate must be a positive integer or two of them, got 0/,
  );
  assert.throws(
    () => new AtrousConv2D({ filters: 1, kernelSize: 3, padding: 'causal' as never, name: 'c' }),
    /'c': padding must be 'same' or 'valid', got causal/,
  );
});

test.run();
