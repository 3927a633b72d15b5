import { InputError } from '../errors.js';
import type { ClassMap } from '../labels/classMap.js';
import type { ClassMask, GeoReference, LabelledImage, LabelledPair } from '../types.js';
import { decodeImage, type ReusablePixels } from './decodeImage.js';
import type { PixelWindow, RasterReadOptions } from './geoTiff.js';

/**
 * Reads a pair's label file into a class mask of the image's size, or of `window` of it (the labels module's
 * `readLabelMask`).
 */
export type ReadLabelMask = (
  pair: LabelledPair,
  size: { width: number; height: number },
  classMap: ClassMap,
  options: { format?: string; georeference?: GeoReference; window?: PixelWindow },
) => Promise<ClassMask>;

export interface ReadLabelledImageOptions {
  classMap: ClassMap;
  /** Reads the masks; pass the labels module's `readLabelMask`. */
  readMask: ReadLabelMask;
  /** Label format, or undefined to detect it per file. */
  format?: string;
  /** Band selection and ranges for multi-band and georeferenced rasters (see `decodeImage`). */
  raster?: RasterReadOptions;
  /** A buffer the image may be decoded into (see `decodeImage`): for a reader done with each image before the next. */
  reusePixels?: ReusablePixels;
}

/**
 * Decodes one pair's image and reads its mask; a mask of another size is an InputError on the label file.
 * A georeferenced image passes its georeference on, so that labels in map coordinates land on its pixels.
 */
export async function readLabelledImage(
  pair: LabelledPair,
  options: ReadLabelledImageOptions,
): Promise<LabelledImage> {
  const image = await decodeImage(pair.imagePath, options.raster, options.reusePixels);
  const size = { width: image.width, height: image.height };
  const maskOptions = {
    ...(options.format === undefined ? {} : { format: options.format }),
    ...(image.georeference === undefined ? {} : { georeference: image.georeference }),
  };
  const mask = await options.readMask(pair, size, options.classMap, maskOptions);
  if (mask.width !== image.width || mask.height !== image.height) {
    throw new InputError(
      pair.labelPath,
      `mask is ${mask.width}x${mask.height} but image ${pair.imagePath} is ${image.width}x${image.height}`,
    );
  }
  return { ...pair, image, mask };
}
