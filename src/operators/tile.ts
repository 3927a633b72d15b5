import { concatMap, from, type OperatorFunction } from 'rxjs';
import type { LabelledTile } from '../tiling/labelledTile.js';
import { cutTiles, type TileOptions, tileGrid } from '../tiling/tileGrid.js';
import type { LabelledImage } from '../types.js';

/**
 * Cuts each labelled image into square tiles of image and mask, each carrying its `TileOrigin` so that
 * predictions can be stitched back. Images whose sizes are not multiples of the tile size are handled by
 * the edge policy.
 *
 * @example
 * images$.pipe(tile({ size: 256, stride: 192, edge: 'shift' })) // Observable<LabelledTile>
 *
 * @param options size (default 256), stride (default size), edge policy (default 'pad'), ignore value.
 * @returns an operator from labelled images to their tiles, in row-major order per image.
 */
export function tile(options: TileOptions = {}): OperatorFunction<LabelledImage, LabelledTile> {
  const grid = tileGrid(options);
  return concatMap((image) => from(cutTiles(image, grid)));
}
