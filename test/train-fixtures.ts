import * as tf from '@tensorflow/tfjs';
import { Observable } from 'rxjs';
import type { TensorBatch } from '../src/types.js';

/** A tiny fully convolutional net without batch norm, seeded so that every build has the same weights. */
export function tinySegmenter(numClasses: number, seed = 1): tf.LayersModel {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: s });
  const input = tf.input({ shape: [null, null, 3] });
  const hidden = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(seed) }).apply(input) as tf.SymbolicTensor;
  const logits = tf.layers.conv2d({ filters: numClasses, kernelSize: 1, kernelInitializer: init(seed + 1) }).apply(hidden) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}

/** Deterministic pseudo-random numbers (LCG) in [0, 1). */
export function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/**
 * Batch `index` of a deterministic synthetic stream: images whose red channel decides the class, labels
 * [B, size, size] in 0..numClasses-1, with `ignoreEvery`-th pixels set to 255 when given.
 */
export function syntheticBatch(index: number, batchSize: number, size: number, numClasses: number, released?: { count: number }, ignoreEvery = 0): TensorBatch & { released: boolean } {
  const random = lcg(1000 + index);
  const pixels = batchSize * size * size;
  const labels = new Int32Array(pixels);
  const images = new Float32Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    const label = Math.floor(random() * numClasses);
    labels[i] = ignoreEvery && i % ignoreEvery === 0 ? 255 : label;
    images[i * 3] = label / numClasses + 0.1 * random();
    images[i * 3 + 1] = random();
    images[i * 3 + 2] = random();
  }
  const batch = {
    images: tf.tensor4d(images, [batchSize, size, size, 3]),
    labels: tf.tensor3d(labels, [batchSize, size, size], 'int32'),
    origins: [],
    released: false,
    release() {
      if (batch.released) return;
      batch.released = true;
      if (released) released.count += 1;
      tf.dispose([batch.images, batch.labels]);
    },
  };
  return batch;
}

/**
 * Batches `start`..`end - 1` of the synthetic stream with one credit: batch i + 1 is created only after
 * batch i was released, as a backpressured source would. `stats.maxOutstanding` records the most batches
 * alive at once.
 */
export function syntheticBatches(start: number, end: number, batchSize: number, size: number, numClasses: number, stats = { count: 0, maxOutstanding: 0 }): Observable<TensorBatch> {
  return new Observable<TensorBatch>((subscriber) => {
    let next = start;
    let outstanding = 0;
    let closed = false;
    const emitNext = () => {
      if (closed) return;
      if (next >= end) return subscriber.complete();
      const batch = syntheticBatch(next++, batchSize, size, numClasses, stats);
      outstanding += 1;
      stats.maxOutstanding = Math.max(stats.maxOutstanding, outstanding);
      const release = batch.release;
      batch.release = () => {
        if (batch.released) return;
        release();
        outstanding -= 1;
        queueMicrotask(emitNext);
      };
      subscriber.next(batch);
    };
    emitNext();
    return () => {
      closed = true;
    };
  });
}

/** All weights of a model as flat arrays. */
export function weightValues(model: tf.LayersModel): number[][] {
  return model.getWeights().map((w) => [...w.dataSync()]);
}

export function maxAbsDifference(a: number[][], b: number[][]): number {
  let max = 0;
  a.forEach((row, i) => row.forEach((v, j) => (max = Math.max(max, Math.abs(v - b[i]![j]!)))));
  return max;
}
