import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { XBD_DIR } from './data.js';

/** `count` real xBD crops of `size` x `size` (top-left corners of the first images), scaled to [0, 1]. */
export async function loadXbdCrops(count: number, size: number): Promise<tf.Tensor4D> {
  const dir = join(XBD_DIR, 'images');
  const files = readdirSync(dir).sort().slice(0, count);
  const pixels = new Float32Array(count * size * size * 3);
  for (const [i, file] of files.entries()) {
    const raw = await sharp(join(dir, file)).extract({ left: 0, top: 0, width: size, height: size }).removeAlpha().raw().toBuffer();
    for (let p = 0; p < raw.length; p++) pixels[i * size * size * 3 + p] = raw[p]! / 255;
  }
  return tf.tensor4d(pixels, [count, size, size, 3]);
}

/** Total number of trainable scalars (what PyTorch's `parameters()` counts). */
export function trainableParameterCount(model: tf.LayersModel): number {
  return model.trainableWeights.reduce((sum, w) => sum + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
}

/** Saves a model to memory and loads it again, as a file round trip would. */
export async function roundTrip(model: tf.LayersModel): Promise<tf.LayersModel> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (a) => ((artifacts = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
  return tf.loadLayersModel(tf.io.fromMemory(artifacts!));
}
