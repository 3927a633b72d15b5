import * as tf from '@tensorflow/tfjs';
import { type BackendName, selectBackend } from '../../src/backend/selectBackend.js';

/** The largest absolute difference of two arrays relative to the largest magnitude of `reference`. */
export function relativeError(actual: Float32Array, reference: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < actual.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - reference[i]!));
    norm = Math.max(norm, Math.abs(reference[i]!));
  }
  return diff / Math.max(norm, 1e-6);
}

/** Runs `compute` on a backend and returns its results as plain arrays (tensors disposed). */
export async function valuesOn(backend: BackendName, compute: () => tf.Tensor[]): Promise<Float32Array[]> {
  await selectBackend({ backend });
  const tensors = tf.tidy(compute);
  // data(), not dataSync(): webgpu reads GPU buffers asynchronously only.
  const values = (await Promise.all(tensors.map((t) => t.data()))) as Float32Array[];
  tf.dispose(tensors);
  return values;
}

/** A seeded pseudo-random tensor in [-0.5, 0.5) (or integers in ±integerSteps/2), the same on every backend. */
export function seededTensor(shape: number[], seed: number, integerSteps = 0): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const u = state / 2 ** 32 - 0.5;
    values[i] = integerSteps ? Math.round(u * integerSteps) : u;
  }
  return tf.tensor(values, shape);
}
