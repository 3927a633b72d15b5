import { createHash } from 'node:crypto';
import { concatMap, lastValueFrom, type Observable, toArray } from 'rxjs';
import type { TensorBatch } from '../../src/types.js';

/** A digest of what a batch holds: where its tiles came from, its images and its labels. */
export async function batchDigest(batch: TensorBatch): Promise<string> {
  return createHash('sha256')
    .update(JSON.stringify(batch.origins))
    .update(await batch.images.data())
    .update(await batch.labels.data())
    .digest('hex');
}

/** The digests of a stream's batches, in order, each batch released once read. */
export function batchDigests(batches: Observable<TensorBatch>): Promise<string[]> {
  return lastValueFrom(
    batches.pipe(
      concatMap(async (batch) => {
        const digest = await batchDigest(batch);
        batch.release();
        return digest;
      }),
      toArray(),
    ),
  );
}
