import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { ResizeBilinearLike } from '../src/models/layers/resizeBilinearLike.js';
import { roundTrip } from './helpers/models.js';

test.before(async () => {
  await selectBackend({ backend: 'cpu' });
});

/** The [outSize, inSize] matrix of 1-D linear interpolation with aligned corners, written from its definition. */
function interpolationMatrix(inSize: number, outSize: number): tf.Tensor2D {
  const rows: number[][] = [];
  for (let o = 0; o < outSize; o++) {
    const position = outSize === 1 ? 0 : (o * (inSize - 1)) / (outSize - 1);
    const low = Math.floor(position);
    const high = Math.min(low + 1, inSize - 1);
    const row = new Array<number>(inSize).fill(0);
    row[low]! += 1 - (position - low);
    row[high]! += position - low;
    rows.push(row);
  }
  return tf.tensor2d(rows);
}

/** Bilinear resize as two matrix products: along rows, then along columns. */
function resizeByMatrices(x: tf.Tensor4D, height: number, width: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const rows = tf.matMul(interpolationMatrix(h, height), x.transpose([1, 0, 2, 3]).reshape([h, b * w * c])); // [height, b*w*c]
  const columnsFirst = rows
    .reshape([height, b, w, c])
    .transpose([2, 1, 0, 3])
    .reshape([w, b * height * c]);
  const both = tf.matMul(interpolationMatrix(w, width), columnsFirst); // [width, b*height*c]
  return both.reshape([width, b, height, c]).transpose([1, 2, 0, 3]) as tf.Tensor4D;
}

const layerOutput = (layer: ResizeBilinearLike, x: tf.Tensor, like: tf.Tensor) =>
  layer.apply([x, like]) as tf.Tensor;

test('resizes to the second input size, forward and gradient equal to interpolation matrices (batch 2)', () => {
  const layer = new ResizeBilinearLike();
  const before = tf.memory().numTensors;
  for (const [[h, w], [height, width]] of [
    [
      [4, 5],
      [16, 20],
    ],
    [
      [1, 1],
      [6, 7],
    ],
    [
      [7, 6],
      [15, 11],
    ],
    [
      [8, 8],
      [3, 5],
    ],
  ] as const) {
    tf.tidy(() => {
      const x = tf.randomNormal([2, h, w, 3], 0, 1, 'float32', h * w) as tf.Tensor4D;
      const like = tf.zeros([2, height, width, 1]);
      const weights = tf.randomNormal([2, height, width, 3], 0, 1, 'float32', 7);
      const actual = layerOutput(layer, x, like);
      const expected = resizeByMatrices(x, height, width);
      assert.equal(actual.shape, [2, height, width, 3]);
      assert.ok(
        tf.sub(actual, expected).abs().max().dataSync()[0]! < 1e-5,
        `forward ${h}x${w} -> ${height}x${width}`,
      );
      const gradient = tf.grad((v: tf.Tensor) => layerOutput(layer, v, like).mul(weights).sum())(x);
      const reference = tf.grad((v: tf.Tensor) =>
        resizeByMatrices(v as tf.Tensor4D, height, width)
          .mul(weights)
          .sum(),
      )(x);
      assert.ok(
        tf.sub(gradient, reference).abs().max().dataSync()[0]! < 1e-4,
        `gradient ${h}x${w} -> ${height}x${width}`,
      );
    });
  }
  assert.is(tf.memory().numTensors, before);
});

test('saves and loads in a model with free input sizes', async () => {
  const features = tf.input({ shape: [null, null, 2] });
  const like = tf.input({ shape: [null, null, 1] });
  const model = tf.model({
    inputs: [features, like],
    outputs: new ResizeBilinearLike({ name: 'upsample', alignCorners: true }).apply([
      features,
      like,
    ]) as tf.SymbolicTensor,
  });
  const loaded = await roundTrip(model);
  assert.is((loaded.getLayer('upsample') as ResizeBilinearLike).alignCorners, true);
  tf.tidy(() => {
    const inputs = [tf.randomNormal([1, 3, 4, 2], 0, 1, 'float32', 1), tf.zeros([1, 9, 10, 1])];
    assert.equal((loaded.predict(inputs) as tf.Tensor).shape, [1, 9, 10, 2]);
    assert.is(
      tf
        .sub(model.predict(inputs) as tf.Tensor, loaded.predict(inputs) as tf.Tensor)
        .abs()
        .max()
        .dataSync()[0],
      0,
    );
  });
  model.dispose();
  loaded.dispose();
});

test.run();
