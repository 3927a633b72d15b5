import { IGNORE_VALUE } from '../labels/classMap.js';
import type { LabelledImage } from '../types.js';
import type { LabelledTile } from './labelledTile.js';

/**
 * What to do where the last tile of a row or column would reach past the image: `pad` it (image 0, mask
 * the ignore value), `drop` it, or `shift` it inward so it ends at the image's edge (overlapping the one
 * before it).
 */
export type EdgePolicy = 'pad' | 'drop' | 'shift';

export interface TileOptions {
  /** Tile width and height in pixels. Default 256. */
  size?: number;
  /** Step between tiles; smaller than `size` gives overlapping tiles. Default `size`. */
  stride?: number;
  /** Default `pad`. */
  edge?: EdgePolicy;
  /** Mask value of padded pixels. Default 255 (IGNORE_VALUE). */
  ignoreValue?: number;
}

/** Tile options with every default filled in. */
export type TileGrid = Required<TileOptions>;

/**
 * Fills in the defaults of tile options and validates them.
 * @throws RangeError naming the option, expected and given value.
 */
export function tileGrid(options: TileOptions = {}): TileGrid {
  const size = options.size ?? 256;
  const stride = options.stride ?? size;
  const edge = options.edge ?? 'pad';
  const ignoreValue = options.ignoreValue ?? IGNORE_VALUE;
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`tile: size must be a positive integer, got ${size}`);
  if (!Number.isInteger(stride) || stride < 1 || stride > size) {
    throw new RangeError(`tile: stride must be an integer in [1, size=${size}], got ${stride}`);
  }
  if (edge !== 'pad' && edge !== 'drop' && edge !== 'shift') {
    throw new RangeError(`tile: edge must be 'pad', 'drop' or 'shift', got ${JSON.stringify(edge)}`);
  }
  if (!Number.isInteger(ignoreValue) || ignoreValue < 0 || ignoreValue > 255) {
    throw new RangeError(`tile: ignoreValue must be an integer in [0, 255], got ${ignoreValue}`);
  }
  return { size, stride, edge, ignoreValue };
}

/** Start positions of tiles along one axis of `length` pixels. */
function tileStarts(length: number, { size, stride, edge }: TileGrid): number[] {
  if (length <= size) {
    if (length === size) return [0];
    return edge === 'drop' ? [] : [0]; // a short axis can only be padded, shifting has nowhere to go
  }
  const count =
    edge === 'drop' ? Math.floor((length - size) / stride) + 1 : Math.ceil((length - size) / stride) + 1;
  const starts = Array.from({ length: count }, (_, k) => k * stride);
  if (edge === 'shift') starts[count - 1] = Math.min(starts[count - 1]!, length - size);
  return starts;
}

/**
 * Top-left corners of the tiles of an image of the given size, in row-major order. Knowing the count from
 * the header alone is what lets the source take credits before decoding.
 */
export function tilePositions(
  width: number,
  height: number,
  grid: TileGrid,
): Array<{ x: number; y: number }> {
  const xs = tileStarts(width, grid);
  return tileStarts(height, grid).flatMap((y) => xs.map((x) => ({ x, y })));
}

/** Cuts the tiles of one labelled image (copies: the tiles do not keep the full image alive). */
export function cutTiles(source: LabelledImage, grid: TileGrid): LabelledTile[] {
  const { image, mask } = source;
  const { width, height } = image;
  const { size } = grid;
  const channels = image.channels;
  return tilePositions(width, height, grid).map(({ x, y }) => {
    const tileImage = new Uint8Array(size * size * channels);
    const tileMask = new Uint8Array(size * size);
    const copyWidth = Math.min(size, width - x);
    const copyHeight = Math.min(size, height - y);
    if (copyWidth < size || copyHeight < size) tileMask.fill(grid.ignoreValue);
    for (let row = 0; row < copyHeight; row++) {
      const sourceRow = (y + row) * width + x;
      tileImage.set(
        image.data.subarray(sourceRow * channels, (sourceRow + copyWidth) * channels),
        row * size * channels,
      );
      tileMask.set(mask.data.subarray(sourceRow, sourceRow + copyWidth), row * size);
    }
    return {
      image: { data: tileImage, width: size, height: size, channels },
      mask: { data: tileMask, width: size, height: size },
      origin: { sourceId: source.id, x, y, sourceWidth: width, sourceHeight: height },
    };
  });
}
