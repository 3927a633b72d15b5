import type * as tf from '@tensorflow/tfjs';

/**
 * Where a raster lies on the map: the affine transform from pixel to map coordinates and the coordinate
 * reference system they are in (from a GeoTIFF's ModelTiepoint/ModelPixelScale or ModelTransformation and
 * its GeoKeys).
 */
export interface GeoReference {
  /**
   * GDAL's geotransform order: a point at column `col`, row `row` (pixel corners; (0, 0) is the raster's
   * top-left corner) lies at map x = t[0] + col * t[1] + row * t[2], map y = t[3] + col * t[4] + row * t[5].
   */
  transform: [number, number, number, number, number, number];
  /** EPSG code of the coordinate reference system. */
  epsg: number;
}

/** An image decoded into interleaved 8-bit pixels, row-major (height x width x channels). */
export interface RasterImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
  /** Where the image lies on the map, for georeferenced rasters (GeoTIFF). */
  georeference?: GeoReference;
}

/** A class-index mask: one byte per pixel holding a class id, or the class map's ignore value. */
export interface ClassMask {
  data: Uint8Array;
  width: number;
  height: number;
}

/** An image file and the label file that belongs to it, paired by file stem. */
export interface LabelledPair {
  /** The file stem shared by image and label; identifies the source image everywhere downstream. */
  id: string;
  imagePath: string;
  labelPath: string;
  /**
   * For label files that describe many images (COCO): the key of this image inside the file (its
   * `file_name`). Absent for one-label-file-per-image formats.
   */
  labelKey?: string;
}

/** A decoded image (RGB, or one channel per raster band) with its rasterized class mask, of the same size. */
export interface LabelledImage extends LabelledPair {
  image: RasterImage;
  mask: ClassMask;
}

/** Where a tile came from: enough to stitch predictions back into the full image. */
export interface TileOrigin {
  /** Id (file stem) of the source image. */
  sourceId: string;
  /** Column and row of the tile's top-left pixel in the source image (may be negative when padded). */
  x: number;
  y: number;
  /** Size of the source image. */
  sourceWidth: number;
  sourceHeight: number;
}

/** The dataset split a source image belongs to. */
export type Split = 'train' | 'validation' | 'test';

/**
 * A batch of tiles as tensors, ready for a model. The consumer must call `release()` once it is done with
 * the batch: that disposes the tensors and returns the batch's credits to the source, which is what lets
 * the source read more (backpressure).
 */
export interface TensorBatch {
  /** Normalized images, float32 [B, H, W, C]: C is 3 for RGB, one per band for rasters. */
  images: tf.Tensor4D;
  /** Class ids, int32 [B, H, W]; pixels to ignore hold the class map's ignore value. */
  labels: tf.Tensor3D;
  /** Where each tile came from, in batch order. */
  origins: TileOrigin[];
  /** The pass over the data the batch belongs to (0-based), when the source knows it (`tileBatches` does). */
  epoch?: number;
  /** Disposes the tensors and returns the credits held by this batch. Idempotent. */
  release(): void;
}
