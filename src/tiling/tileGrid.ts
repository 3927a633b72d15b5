import { IGNORE_VALUE } from '../labels/classMap.js';
import type { LabelledImage } from '../types.js';
import type { LabelledTile } from './labelledTile.js';
import { newTileBuffer, type TileAllocator } from './spareTileBuffers.js';

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

/**
 * The most pixels of tiles a raster's block holds (2048 x 2048), whatever the credits allow: a block's window
 * is decoded from 16-bit bands, scaled to 8 bits and cut, about 18 bytes a pixel for 4 bands at once, so a
 * block stays near 70 MB however large the raster and its tiles' budget are.
 */
export const RASTER_BLOCK_PIXELS = 2048 * 2048;

/** The most tiles of `grid` a raster's block holds by `RASTER_BLOCK_PIXELS` (at least one). */
export function rasterBlockTiles(grid: TileGrid): number {
  return Math.max(1, Math.floor(RASTER_BLOCK_PIXELS / grid.size ** 2));
}

/**
 * Some of an image's tiles: those at each of `rows` (tile tops) and `columns` (tile lefts), row-major. A
 * block is read from the one window it covers (see `blockWindow`), so a raster is read piece by piece.
 */
export interface TileBlock {
  columns: number[];
  rows: number[];
}

/**
 * An image's tiles in blocks of at most `maxTiles`, in the tile order of `tilePositions`: whole rows of
 * tiles together as far as they fit, else each row of tiles in runs along it.
 * @throws RangeError when `maxTiles` is not a positive integer.
 */
export function tileBlocks(width: number, height: number, grid: TileGrid, maxTiles: number): TileBlock[] {
  if (!Number.isInteger(maxTiles) || maxTiles < 1)
    throw new RangeError(`tileBlocks: maxTiles must be a positive integer, got ${maxTiles}`);
  const columns = tileStarts(width, grid);
  const rows = tileStarts(height, grid);
  if (columns.length === 0) return [];
  const chunks = (starts: number[], size: number): number[][] =>
    Array.from({ length: Math.ceil(starts.length / size) }, (_, k) => starts.slice(k * size, (k + 1) * size));
  if (columns.length <= maxTiles)
    return chunks(rows, Math.floor(maxTiles / columns.length)).map((band) => ({ columns, rows: band }));
  return rows.flatMap((row) => chunks(columns, maxTiles).map((run) => ({ columns: run, rows: [row] })));
}

/** The window of an image of `width` x `height` that a block's tiles cover (within the image). */
export function blockWindow(
  block: TileBlock,
  width: number,
  height: number,
  size: number,
): { x: number; y: number; width: number; height: number } {
  const x = block.columns[0]!;
  const y = block.rows[0]!;
  return {
    x,
    y,
    width: Math.min(width, block.columns.at(-1)! + size) - x,
    height: Math.min(height, block.rows.at(-1)! + size) - y,
  };
}

/**
 * Cuts the tiles of one labelled image (copies: the tiles do not keep the full image alive). Given `piece`,
 * the source is the window of a `width` x `height` image that `block` covers (see `blockWindow`), and the
 * tiles are the block's, identical to those cut from the whole image at the same places. The tiles' buffers
 * come from `allocate` (new ones by default; see `SpareTileBuffers`).
 */
export function cutTiles(
  source: LabelledImage,
  grid: TileGrid,
  piece?: { block: TileBlock; width: number; height: number },
  allocate: TileAllocator = newTileBuffer,
): LabelledTile[] {
  const { image, mask } = source;
  const { size } = grid;
  const channels = image.channels;
  const width = piece?.width ?? image.width;
  const height = piece?.height ?? image.height;
  const positions = piece
    ? piece.block.rows.flatMap((y) => piece.block.columns.map((x) => ({ x, y })))
    : tilePositions(width, height, grid);
  // The source's top-left pixel in the image.
  const origin = piece ? { x: piece.block.columns[0]!, y: piece.block.rows[0]! } : { x: 0, y: 0 };
  return positions.map(({ x, y }) => {
    const tileImage = allocate(size * size * channels);
    const tileMask = allocate(size * size);
    const copyWidth = Math.min(size, width - x);
    const copyHeight = Math.min(size, height - y);
    // A recycled buffer holds an earlier tile: what the image does not cover is cleared.
    if (copyWidth < size || copyHeight < size) {
      tileImage.fill(0);
      tileMask.fill(grid.ignoreValue);
    }
    for (let row = 0; row < copyHeight; row++) {
      const sourceRow = (y - origin.y + row) * image.width + x - origin.x;
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
