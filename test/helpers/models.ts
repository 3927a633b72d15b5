import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import * as assert from 'uvu/assert';
import { syntheticXbd } from './data.js';

/** `count` crops of `size` x `size` (top-left corners) of 1024x1024 xBD-like images (see `syntheticXbd`), scaled to [0, 1]. */
export async function loadXbdLikeCrops(count: number, size: number): Promise<tf.Tensor4D> {
  const { imagesDir, images } = await syntheticXbd(count);
  const pixels = new Float32Array(count * size * size * 3);
  for (const [i, file] of images.entries()) {
    const raw = await sharp(join(imagesDir, file))
      .extract({ left: 0, top: 0, width: size, height: size })
      .removeAlpha()
      .raw()
      .toBuffer();
    for (let p = 0; p < raw.length; p++) pixels[i * size * size * 3 + p] = raw[p]! / 255;
  }
  return tf.tensor4d(pixels, [count, size, size, 3]);
}

/** Total number of trainable scalars (what PyTorch's `parameters()` counts). */
export function trainableParameterCount(model: tf.LayersModel): number {
  return model.trainableWeights.reduce(
    (sum, w) => sum + w.shape.reduce((a: number, b) => a * (b ?? 1), 1),
    0,
  );
}

/** Saves a model to memory and loads it again, as a file round trip would. */
export async function roundTrip(model: tf.LayersModel): Promise<tf.LayersModel> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return tf.loadLayersModel(tf.io.fromMemory(artifacts!));
}

/**
 * Checks a model's analytic gradient against central finite differences along the gradient's own direction,
 * where a wrong gradient shows most: returns [|gradient|, numeric derivative of `loss` along it].
 */
export function gradientNormAndSlope(
  model: tf.LayersModel,
  loss: () => tf.Scalar,
  step = 1e-2,
): [number, number] {
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  return tf.tidy(() => {
    const { grads } = tf.variableGrads(loss, variables);
    const gradients = variables.map((v) => grads[v.name]!);
    const norm = tf.sqrt(tf.addN(gradients.map((g) => g.square().sum()))) as tf.Scalar;
    const unit = gradients.map((g) => g.div(norm));
    const originals = variables.map((v) => v.clone());
    const shifted = (sign: number) => {
      variables.forEach((v, i) => v.assign(originals[i]!.add(unit[i]!.mul(sign * step))));
      return loss().dataSync()[0]!;
    };
    const slope = (shifted(1) - shifted(-1)) / (2 * step);
    variables.forEach((v, i) => v.assign(originals[i]!));
    return [norm.dataSync()[0]!, slope];
  });
}

/** Replaces every kernel with seeded He-normal values, so that a test's model is the same on every run. */
export function seedKernels(model: tf.LayersModel, seed: number): void {
  model.weights.forEach((weight, i) => {
    const shape = weight.shape as number[];
    if (shape.length < 2) return; // biases and batch-norm parameters start from constants anyway
    const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    weight.write(tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn), 'float32', seed + i));
  });
}

/**
 * Asserts that every trainable weight gets a non-zero gradient of `loss` (no layer is cut off from the
 * output), that `weights` weights are trained when given, and that no tensor is left behind.
 */
export function assertEveryWeightLearns(loss: () => tf.Scalar, weights?: number): void {
  const before = tf.memory().numTensors;
  const { value, grads } = tf.variableGrads(loss);
  if (weights !== undefined) assert.is(Object.keys(grads).length, weights);
  const silent = Object.entries(grads)
    .filter(([, g]) => tf.tidy(() => g.abs().max().dataSync()[0]!) === 0)
    .map(([n]) => n);
  assert.equal(silent, [], `weights without gradient: ${silent.join(', ')}`);
  tf.dispose([value, grads]);
  assert.is(tf.memory().numTensors, before);
}
