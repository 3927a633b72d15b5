import * as tf from '@tensorflow/tfjs';
import { concatMap, from, type OperatorFunction } from 'rxjs';
import type { TensorBatch } from '../types.js';

/**
 * Splits every tensor batch into `count` equal micro-batches, in order, for gradient accumulation: feed them
 * to `train({ microBatchesPerStep: count })` and each optimizer step sees the whole batch while the model's
 * activations are only ever held for one micro-batch (what keeps batch 64 under the wasm backend's 4 GiB).
 * The original batch is released (its tensors disposed, its credits returned) once every micro-batch of it
 * has been released.
 *
 * @example
 * batches$.pipe(splitMicroBatches(8), train({ model, numClasses: 5, microBatchesPerStep: 8 }))
 *
 * @param count micro-batches per batch, a positive integer.
 * @returns an operator from batches to micro-batches.
 * @throws RangeError when a batch's size is not a multiple of `count` (use `dropRemainder` upstream).
 */
export function splitMicroBatches(count: number): OperatorFunction<TensorBatch, TensorBatch> {
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`splitMicroBatches: count must be a positive integer, got ${count}`);
  return concatMap((batch) => {
    if (count === 1) return [batch];
    const size = batch.images.shape[0];
    if (size % count !== 0) {
      throw new RangeError(
        `splitMicroBatches: a batch of ${size} tiles (from ${batch.origins[0]?.sourceId}) does not split into ${count} equal micro-batches`,
      );
    }
    const each = size / count;
    let unreleased = count;
    const parts = Array.from({ length: count }, (_, k): TensorBatch => {
      const images = batch.images.slice([k * each], [each]);
      const labels = batch.labels.slice([k * each], [each]);
      let released = false;
      return {
        images,
        labels,
        origins: batch.origins.slice(k * each, (k + 1) * each),
        ...(batch.epoch === undefined ? {} : { epoch: batch.epoch }),
        release: () => {
          if (released) return;
          released = true;
          tf.dispose([images, labels]);
          if (--unreleased === 0) batch.release();
        },
      };
    });
    return from(parts);
  });
}
