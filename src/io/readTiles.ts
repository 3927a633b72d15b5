import { InputError } from '../errors.js';
import type { LabelledTile } from '../tiling/labelledTile.js';
import { blockWindow, cutTiles, type TileBlock, type TileGrid } from '../tiling/tileGrid.js';
import type { LabelledImage, LabelledPair } from '../types.js';
import { GeoTiffReader, type PixelWindow, readRasterWindow } from './geoTiff.js';
import { type ReadLabelledImageOptions, readLabelledImage } from './readLabelledImage.js';

/** One image, or one block of it, read and cut into tiles, with the image's size. */
export interface TiledImage {
  tiles: LabelledTile[];
  width: number;
  height: number;
}

/** The labelled window of a raster already open (see `readLabelledWindow`). */
async function labelledWindowOf(
  raster: GeoTiffReader,
  pair: LabelledPair,
  window: PixelWindow,
  options: ReadLabelledImageOptions,
): Promise<LabelledImage> {
  const { width, height, georeference } = raster.info;
  const image = await readRasterWindow(raster, options.raster, window);
  // Labels in map coordinates are placed by the raster's georeference, the window by its pixels.
  const mask = await options.readMask(pair, { width, height }, options.classMap, {
    ...(options.format === undefined ? {} : { format: options.format }),
    ...(georeference === undefined ? {} : { georeference }),
    window,
  });
  if (mask.width !== window.width || mask.height !== window.height)
    throw new InputError(
      pair.labelPath,
      `mask of window ${window.width}x${window.height} at (${window.x}, ${window.y}) of ${pair.imagePath} is ${mask.width}x${mask.height}`,
    );
  return { ...pair, image, mask };
}

/** Runs `use` on the pair's raster, open, and closes it. */
async function withRaster<T>(pair: LabelledPair, use: (raster: GeoTiffReader) => Promise<T>): Promise<T> {
  const raster = await GeoTiffReader.open(pair.imagePath);
  try {
    return await use(raster);
  } finally {
    await raster.close();
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
  return withRaster(pair, (raster) => labelledWindowOf(raster, pair, window, options));
}

/**
 * Reads a pair and cuts its tiles: the whole image, or with `block` only the window of the raster that the
 * block covers (see `readLabelledWindow`), giving the same tiles as the whole image would at those places.
 */
export async function readTiles(
  pair: LabelledPair,
  grid: TileGrid,
  options: ReadLabelledImageOptions,
  block?: TileBlock,
): Promise<TiledImage> {
  if (!block) {
    const labelled = await readLabelledImage(pair, options);
    const { width, height } = labelled.image;
    return { tiles: cutTiles(labelled, grid), width, height };
  }
  return withRaster(pair, async (raster) => {
    const { width, height } = raster.info;
    const window = blockWindow(block, width, height, grid.size);
    const labelled = await labelledWindowOf(raster, pair, window, options);
    return { tiles: cutTiles(labelled, grid, { block, width, height }), width, height };
  });
}
