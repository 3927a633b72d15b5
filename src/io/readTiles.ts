import { InputError } from '../errors.js';
import type { LabelledTile } from '../tiling/labelledTile.js';
import type { TileAllocator } from '../tiling/spareTileBuffers.js';
import { blockWindow, cutTiles, type TileBlock, type TileGrid } from '../tiling/tileGrid.js';
import type { LabelledImage, LabelledPair } from '../types.js';
import { type PixelWindow, readRasterWindow } from './geoTiff.js';
import { labelWindowsReader, type OpenRaster, OpenRasters } from './openRasters.js';
import { type ReadLabelledImageOptions, readLabelledImage } from './readLabelledImage.js';

/** One image, or one block of it, read and cut into tiles, with the image's size. */
export interface TiledImage {
  tiles: LabelledTile[];
  width: number;
  height: number;
}

/** The labelled window of a raster already open with its labels (see `OpenRasters`). */
async function labelledWindowOf(
  { raster, labels }: OpenRaster,
  pair: LabelledPair,
  window: PixelWindow,
  options: ReadLabelledImageOptions,
): Promise<LabelledImage> {
  const image = await readRasterWindow(raster, options.raster, window);
  const mask = await labels.mask(window);
  if (mask.width !== window.width || mask.height !== window.height)
    throw new InputError(
      pair.labelPath,
      `mask of window ${window.width}x${window.height} at (${window.x}, ${window.y}) of ${pair.imagePath} is ${mask.width}x${mask.height}`,
    );
  return { ...pair, image, mask };
}

/** Where a block's raster is held open across its blocks, and whether this is its last block (it then closes). */
export interface HeldRaster {
  rasters: OpenRasters;
  lastBlock: boolean;
}

/** Runs `read` on the pair's raster, held open in `held`, or else opened for this read alone and closed. */
async function withRaster<T>(
  pair: LabelledPair,
  options: ReadLabelledImageOptions,
  held: HeldRaster | undefined,
  read: (open: OpenRaster) => Promise<T>,
): Promise<T> {
  const rasters = held?.rasters ?? new OpenRasters(labelWindowsReader(options.readMask));
  try {
    return await rasters.use(pair, options, read);
  } finally {
    if (!held) await rasters.releaseAll();
    else if (held.lastBlock) await rasters.release(pair.imagePath);
  }
}

/**
 * A window of a raster (a GeoTIFF read with geotiff.js) with the mask of the same window: only the strips or
 * tiles of the file the window touches are decoded, and the labels are rasterized for the window alone, so
 * memory holds the window, never the raster. The pixels are those of the whole image and mask there.
 *
 * @example
 * const corner = await readLabelledWindow(pair, { x: 0, y: 0, width: 1024, height: 1024 }, { classMap, readMask: readLabelMask });
 *
 * @throws InputError naming the file that cannot be read, or the label file when its mask is another size.
 */
export function readLabelledWindow(
  pair: LabelledPair,
  window: PixelWindow,
  options: ReadLabelledImageOptions,
): Promise<LabelledImage> {
  return withRaster(pair, options, undefined, (open) => labelledWindowOf(open, pair, window, options));
}

/** Where `readTiles` reads from and cuts into, besides the pair and grid. */
export interface ReadTilesPlace {
  /** Only this block of a raster's tiles. */
  block?: TileBlock;
  /** The open raster the block is read from. */
  held?: HeldRaster;
  /** Where the tiles' buffers come from (see `SpareTileBuffers`). */
  allocate?: TileAllocator;
}

/**
 * Reads a pair and cuts its tiles: the whole image, or with `block` only the window of the raster that the
 * block covers (see `readLabelledWindow`), giving the same tiles as the whole image would at those places.
 * A block is read from the raster `held` open with its labels parsed once (see `OpenRasters`), closed after
 * its last block; else from the file opened and its labels read for this block alone.
 */
export async function readTiles(
  pair: LabelledPair,
  grid: TileGrid,
  options: ReadLabelledImageOptions,
  { block, held, allocate }: ReadTilesPlace = {},
): Promise<TiledImage> {
  if (!block) {
    const labelled = await readLabelledImage(pair, options);
    const { width, height } = labelled.image;
    return { tiles: cutTiles(labelled, grid, undefined, allocate), width, height };
  }
  return withRaster(pair, options, held, async (open) => {
    const { width, height } = open.raster.info;
    const window = blockWindow(block, width, height, grid.size);
    const labelled = await labelledWindowOf(open, pair, window, options);
    return { tiles: cutTiles(labelled, grid, { block, width, height }, allocate), width, height };
  });
}
