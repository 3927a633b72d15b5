import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { imagePixelSource } from '../src/io/pixelSource.js';
import { predictFullImage, predictRows, windowStarts } from '../src/predict/slidingWindow.js';
import { overlayPng } from '../src/predict/writePrediction.js';
import type { RasterImage } from '../src/types.js';
import { syntheticXbd } from './helpers/data.js';

await tf.setBackend('cpu');

/** An aerial-like 300x300 tile (as crowdAI's), which 64-pixel windows do not divide. */
const aerialTile: RasterImage = await (async () => {
  const { imagesDir, images } = await syntheticXbd(1, { size: 300 });
  const { data, info } = await sharp(join(imagesDir, images[0]!))
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: info.channels };
})();

/** A free-size conv model with seeded weights; `kernel` 1 makes each output pixel depend on its own pixel only. */
function convModel(kernel: number, layers: number): tf.LayersModel {
  const input = tf.input({ shape: [null, null, 3] });
  let x: tf.SymbolicTensor = input;
  for (let i = 0; i < layers; i++) {
    const last = i === layers - 1;
    x = tf.layers
      .conv2d({
        filters: last ? 4 : 8,
        kernelSize: kernel,
        padding: 'same',
        activation: last ? 'linear' : 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 7 + i }),
      })
      .apply(x) as tf.SymbolicTensor;
  }
  return tf.model({ inputs: input, outputs: x });
}

function directProbabilities(model: tf.LayersModel, image: RasterImage): Float32Array {
  return tf.tidy(
    () =>
      tf
        .softmax(
          model.predict(
            tf.tensor4d(image.data, [1, image.height, image.width, 3], 'int32').toFloat().div(255),
          ) as tf.Tensor4D,
        )
        .dataSync() as Float32Array,
  );
}

function maxError(a: Float32Array, b: Float32Array, pixels: number[], channels: number): number {
  let worst = 0;
  for (const p of pixels)
    for (let c = 0; c < channels; c++)
      worst = Math.max(worst, Math.abs(a[p * channels + c]! - b[p * channels + c]!));
  return worst;
}

test('window starts cover the axis and end flush with it; a bad overlap is named', async () => {
  assert.equal(windowStarts(300, 64, 16), [0, 48, 96, 144, 192, 236]);
  assert.equal(windowStarts(50, 64, 16), [0]);
  assert.equal(windowStarts(64, 64, 0), [0]);
  const rejected = await predictFullImage(
    convModel(1, 1),
    { data: new Uint8Array(12), width: 2, height: 2, channels: 3 },
    { tileSize: 8, overlap: 8 },
  ).catch((e: Error) => e);
  assert.match(String(rejected), /overlap must be an integer in \[0, tileSize\), got 8/);
});

test('a per-pixel model predicts a 300x300 tile through 64px windows exactly as the whole image at once', async () => {
  const image = aerialTile;
  const model = convModel(1, 2);
  const before = tf.memory().numTensors;
  const tiled = await predictFullImage(model, image, { tileSize: 64, overlap: 16, batchSize: 5 });
  assert.is(tf.memory().numTensors, before, 'no tensors left behind');
  assert.is(tiled.windows, 36);
  const direct = directProbabilities(model, image);
  const all = Array.from({ length: image.width * image.height }, (_, i) => i);
  assert.ok(maxError(tiled.probabilities, direct, all, 4) < 1e-5);
  model.dispose();
});

test('blending removes seams: at window borders a 5x5-conv model matches the full-image prediction, unlike butting windows', async () => {
  const image = aerialTile;
  const model = convModel(5, 3);
  const direct = directProbabilities(model, image);
  const { width } = image;
  // Pixels on the rows and columns where 64px windows with no overlap meet (x or y = 64k-1, 64k).
  const seams = new Set([63, 64, 127, 128, 191, 192, 255, 256]);
  const seamPixels = Array.from({ length: width * image.height }, (_, i) => i).filter(
    (i) => seams.has(i % width) || seams.has(Math.floor(i / width)),
  );
  const butted = await predictFullImage(model, image, { tileSize: 64, overlap: 0 });
  const blended = await predictFullImage(model, image, { tileSize: 64, overlap: 16 });
  const buttedError = maxError(butted.probabilities, direct, seamPixels, 4);
  const blendedError = maxError(blended.probabilities, direct, seamPixels, 4);
  // Zero padding inside each window changes predictions at its edges: a visible seam without blending.
  assert.ok(buttedError > 0.01, `butted windows differ at their borders (${buttedError})`);
  assert.ok(blendedError < buttedError / 10, `blended ${blendedError} vs butted ${buttedError}`);
  // Across a seam, neighbouring pixels differ no more than the direct prediction's own neighbours do.
  const jump = (p: Float32Array, x: number, y: number): number =>
    Math.abs(p[(y * width + x) * 4]! - p[(y * width + x + 1) * 4]!);
  for (let y = 0; y < image.height; y += 7) {
    assert.ok(
      Math.abs(jump(blended.probabilities, 63, y) - jump(direct, 63, y)) < 0.02,
      `row ${y}: jump across x=63|64`,
    );
  }
  assert.is(blended.classes.width, 300);
  model.dispose();
});

test('predictRows over bands of rows hands on the rows and probabilities of the whole image bit for bit, at any cut', async () => {
  const image = aerialTile;
  const model = convModel(5, 3);
  const options = { tileSize: 64, overlap: 16 };
  const whole = await predictFullImage(model, image, options);
  const rowBytes = image.width * whole.numClasses;
  // Cuts on a window start (48), inside windows (100, 101) and at the flush last window (236).
  for (const cuts of [
    [0, 48, 300],
    [0, 100, 101, 236, 300],
  ]) {
    for (let k = 0; k + 1 < cuts.length; k++) {
      const [start, end] = [cuts[k]!, cuts[k + 1]!];
      let next = start;
      await predictRows(model, imagePixelSource(image), { ...options, rows: { start, end } }, (rows) => {
        assert.is(rows.y, next, `rows ${start} to ${end} arrive in order`);
        assert.ok(
          rows.probabilities.every((p, i) => Object.is(p, whole.probabilities[rows.y * rowBytes + i])),
          `rows ${rows.y} to ${rows.y + rows.height} of ${start} to ${end}: the whole image's probabilities`,
        );
        assert.equal(
          rows.classes,
          whole.classes.data.subarray(rows.y * image.width, (rows.y + rows.height) * image.width),
        );
        next += rows.height;
      });
      assert.is(next, end, `rows ${start} to ${end} all handed on`);
    }
  }
  const error = await predictRows(
    model,
    imagePixelSource(image),
    { ...options, rows: { start: 10, end: 10 } },
    () => undefined,
  ).catch((e: Error) => e.message);
  assert.match(String(error), 'rows must be whole rows with 0 <= start < end <= 300, got 10 to 10');
  model.dispose();
});

test('test-time augmentation: the mean over the flipped and transposed views, each mapped back; a per-pixel model is unchanged by it', async () => {
  const full = aerialTile;
  // One 64x64 window, so that no blending mixes in: the result is the views' mean itself.
  const side = 64;
  const data = new Uint8Array(side * side * 3);
  for (let row = 0; row < side; row++)
    data.set(full.data.subarray(row * full.width * 3, (row * full.width + side) * 3), row * side * 3);
  const image: RasterImage = { data, width: side, height: side, channels: 3 };
  const model = convModel(5, 3);
  const before = tf.memory().numTensors;
  const dihedral = await predictFullImage(model, image, { tileSize: side, testTimeAugmentation: 'dihedral' });
  assert.is(tf.memory().numTensors, before, 'no tensors left behind');
  // By hand: transform the whole window, predict, transform back, average (a flip and a transpose do not commute).
  const expected = tf.tidy(() => {
    const x = tf.tensor4d(image.data, [1, side, side, 3], 'int32').toFloat().div(255) as tf.Tensor4D;
    const views: tf.Tensor4D[] = [];
    for (const transpose of [false, true]) {
      for (const axes of [[], [1], [2], [1, 2]]) {
        const flipped = axes.length > 0 ? tf.reverse(x, axes) : x;
        const input = transpose ? tf.transpose(flipped, [0, 2, 1, 3]) : flipped;
        const output = tf.softmax(model.predict(input) as tf.Tensor4D);
        const untransposed = transpose ? tf.transpose(output, [0, 2, 1, 3]) : output;
        views.push(axes.length > 0 ? tf.reverse(untransposed, axes) : untransposed);
      }
    }
    return tf.div(tf.addN(views), views.length).dataSync() as Float32Array;
  });
  const all = Array.from({ length: side * side }, (_, i) => i);
  assert.ok(
    maxError(dihedral.probabilities, expected, all, 4) < 1e-5,
    `dihedral vs by hand: ${maxError(dihedral.probabilities, expected, all, 4)}`,
  );
  const plain = await predictFullImage(model, image, { tileSize: side });
  assert.ok(
    maxError(plain.probabilities, expected, all, 4) > 1e-3,
    'a 5x5-conv model is not symmetric: the views differ',
  );
  const perPixel = convModel(1, 2);
  const [flips, none] = [
    await predictFullImage(perPixel, full, { tileSize: 64, overlap: 16, testTimeAugmentation: 'flips' }),
    await predictFullImage(perPixel, full, { tileSize: 64, overlap: 16 }),
  ];
  assert.ok(
    maxError(
      flips.probabilities,
      none.probabilities,
      Array.from({ length: full.width * full.height }, (_, i) => i),
      4,
    ) < 1e-5,
  );
  const rejected = await predictFullImage(model, image, { testTimeAugmentation: 'rotations' as never }).catch(
    (e: Error) => e,
  );
  assert.match(String(rejected), /testTimeAugmentation must be 'none', 'flips' or 'dihedral', got rotations/);
  model.dispose();
  perPixel.dispose();
});

test('overlay keeps background pixels and paints class pixels', async () => {
  const image: RasterImage = {
    data: Uint8Array.from([10, 20, 30, 10, 20, 30]),
    width: 2,
    height: 1,
    channels: 3,
  };
  const png = await overlayPng(
    image,
    { data: Uint8Array.from([0, 1]), width: 2, height: 1 },
    [
      [0, 0, 0],
      [250, 0, 0],
    ],
    0.5,
  );
  const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.equal([...data], [10, 20, 30, 130, 10, 15]);
});

test('a model that changes the window size is refused by name, with the next group already encoded freed', async () => {
  const halving = tf.sequential({
    layers: [tf.layers.maxPooling2d({ poolSize: 2, inputShape: [null, null, 3] })],
  });
  const before = tf.memory().numTensors;
  // 300 px in 64 px windows with overlap 16: six windows a band, two groups of 5.
  const error = await predictFullImage(halving, aerialTile, {
    tileSize: 64,
    overlap: 16,
    batchSize: 5,
  }).catch((e: Error) => e.message);
  assert.match(String(error), 'maps 64x64 windows to 32x32; it must keep the size');
  assert.is(tf.memory().numTensors, before, 'no tensors left behind');
  halving.dispose();
});

test.run();
