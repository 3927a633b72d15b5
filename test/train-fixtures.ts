import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Observable } from 'rxjs';
import sharp from 'sharp';
import type { TensorBatch } from '../src/types.js';

/** A tiny fully convolutional net without batch norm, seeded so that every build has the same weights. */
export function tinySegmenter(numClasses: number, seed = 1): tf.LayersModel {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: s });
  const input = tf.input({ shape: [null, null, 3] });
  const hidden = tf.layers
    .conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init(seed) })
    .apply(input) as tf.SymbolicTensor;
  const logits = tf.layers
    .conv2d({ filters: numClasses, kernelSize: 1, kernelInitializer: init(seed + 1) })
    .apply(hidden) as tf.SymbolicTensor;
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
export function syntheticBatch(
  index: number,
  batchSize: number,
  size: number,
  numClasses: number,
  released?: { count: number },
  ignoreEvery = 0,
): TensorBatch & { released: boolean } {
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
export function syntheticBatches(
  start: number,
  end: number,
  batchSize: number,
  size: number,
  numClasses: number,
  stats = { count: 0, maxOutstanding: 0 },
): Observable<TensorBatch> {
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

type Ring = Array<readonly [number, number]>;

/** The building polygons of an xBD label file, with their class ids (un-classified = 255). */
export function xbdBuildings(labelPath: string, ids: Map<string, number>): Array<{ id: number; ring: Ring }> {
  const json = JSON.parse(readFileSync(labelPath, 'utf8')) as {
    features: { xy: Array<{ wkt: string; properties: { subtype: string } }> };
  };
  return json.features.xy.map((feature) => ({
    id: ids.get(feature.properties.subtype) ?? 255,
    ring: [...feature.wkt.matchAll(/(-?[\d.]+) (-?[\d.]+)/g)].map(
      (m) => [Number(m[1]), Number(m[2])] as const,
    ),
  }));
}

/**
 * A class mask of `size` x `size` cells covering the source window (x0, y0, side `window`): each cell takes
 * the class of the last polygon containing its centre (even-odd rule). An independent, simple rasterizer
 * for tests.
 */
export function rasterizeCells(
  buildings: Array<{ id: number; ring: Ring }>,
  x0: number,
  y0: number,
  window: number,
  size: number,
): Uint8Array {
  const mask = new Uint8Array(size * size);
  const cell = window / size;
  for (const { id, ring } of buildings) {
    for (let row = 0; row < size; row++) {
      for (let col = 0; col < size; col++) {
        const x = x0 + (col + 0.5) * cell;
        const y = y0 + (row + 0.5) * cell;
        let inside = false;
        for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
          const [xi, yi] = ring[i]!;
          const [xj, yj] = ring[j]!;
          if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
        }
        if (inside) mask[row * size + col] = id;
      }
    }
  }
  return mask;
}

/**
 * xBD training tiles: from each chosen 1024x1024 image, the 256x256 window with the most building
 * pixels, downsampled to `size` x `size` (image by sharp, mask by {@link rasterizeCells}).
 */
export async function xbdTiles(
  xbdDir: string,
  files: string[],
  size: number,
  ids: Map<string, number>,
): Promise<{ images: Float32Array; labels: Int32Array; count: number }> {
  const images = new Float32Array(files.length * size * size * 3);
  const labels = new Int32Array(files.length * size * size);
  for (const [n, file] of files.entries()) {
    const stem = file.replace(/\.json$/, '');
    const buildings = xbdBuildings(join(xbdDir, 'labels', file), ids);
    let best = { x: 0, y: 0, pixels: -1 };
    for (let y = 0; y < 1024; y += 256) {
      for (let x = 0; x < 1024; x += 256) {
        const pixels = rasterizeCells(buildings, x, y, 256, 32).filter((v) => v > 0).length;
        if (pixels > best.pixels) best = { x, y, pixels };
      }
    }
    const imageName = readdirSync(join(xbdDir, 'images')).find((f) => f.startsWith(`${stem}.`))!;
    const raw = await sharp(join(xbdDir, 'images', imageName))
      .extract({ left: best.x, top: best.y, width: 256, height: 256 })
      .resize(size, size)
      .removeAlpha()
      .raw()
      .toBuffer();
    for (let i = 0; i < size * size * 3; i++) images[n * size * size * 3 + i] = raw[i]! / 255;
    labels.set(rasterizeCells(buildings, best.x, best.y, 256, size), n * size * size);
  }
  return { images, labels, count: files.length };
}
