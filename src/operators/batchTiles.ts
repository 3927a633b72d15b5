import { bufferCount, filter, type OperatorFunction } from 'rxjs';
import type { LabelledTile } from '../tiling/labelledTile.js';

export interface BatchTilesOptions {
  /** Tiles per batch, a positive integer. */
  batchSize: number;
  /** Leave out a last batch smaller than `batchSize`. Default false. */
  dropRemainder?: boolean;
}

/**
 * Groups tiles into arrays of `batchSize` (the last one may be smaller unless `dropRemainder`). Tiles stay
 * typed arrays here; `toTensorBatch` makes one tensor per batch from them.
 *
 * @example
 * tiles$.pipe(batchTiles({ batchSize: 8 })) // Observable<LabelledTile[]>
 *
 * @param options batch size and whether to drop a short last batch.
 * @returns an operator from tiles to arrays of tiles.
 */
export function batchTiles(options: BatchTilesOptions): OperatorFunction<LabelledTile, LabelledTile[]> {
  const { batchSize, dropRemainder = false } = options ?? ({} as BatchTilesOptions);
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`batchTiles: batchSize must be a positive integer, got ${batchSize}`);
  return (tiles) => {
    const batches = tiles.pipe(bufferCount<LabelledTile>(batchSize));
    return dropRemainder ? batches.pipe(filter((batch) => batch.length === batchSize)) : batches;
  };
}
