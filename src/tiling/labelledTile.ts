import type { ClassMask, RasterImage, TileOrigin } from '../types.js';

/** One tile cut from a labelled image: RGB pixels and class mask of the same size, and where it came from. */
export interface LabelledTile {
  image: RasterImage;
  mask: ClassMask;
  origin: TileOrigin;
}
