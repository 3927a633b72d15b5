import { InputError } from '../errors.js';
import type { GeoReference } from '../types.js';
import { checkedShape, type ShapeOptions } from './geometry.js';
import { crsTransform, mapToPixel, type PointTransform, transformRings } from './mapCoordinates.js';
import type { LabelShape } from './rasterize.js';

/**
 * The transform from a label file's map coordinates (EPSG code `labelCrs`) to the raster's pixels, or an
 * InputError naming the label file when the two CRSs cannot be related.
 */
export function mapToRasterPixels(
  file: string,
  labelCrs: number,
  georeference: GeoReference,
): PointTransform {
  let toRasterCrs: PointTransform;
  try {
    toRasterCrs = crsTransform(labelCrs, georeference.epsg);
  } catch (error) {
    throw new InputError(
      file,
      `cannot map EPSG:${labelCrs} onto the raster's EPSG:${georeference.epsg}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const toPixel = mapToPixel(georeference);
  return (x, y) => toPixel(...toRasterCrs(x, y));
}

/** True when some point of the rings lies within the image's bounds or the rings' bounding box spans it. */
function boundsMeetImage(rings: readonly number[][], size: { width: number; height: number }): boolean {
  let minX = Infinity,
    minY = Infinity,
    maxX = -Infinity,
    maxY = -Infinity;
  for (const ring of rings) {
    for (let i = 0; i < ring.length; i += 2) {
      minX = Math.min(minX, ring[i]!);
      maxX = Math.max(maxX, ring[i]!);
      minY = Math.min(minY, ring[i + 1]!);
      maxY = Math.max(maxY, ring[i + 1]!);
    }
  }
  return maxX > 0 && maxY > 0 && minX < size.width && minY < size.height;
}

/**
 * A polygon in map coordinates (flat rings, outer first) as a shape on the raster's pixels. A label file in map
 * coordinates may cover many rasters, so a polygon that misses this raster gives undefined (it is not an
 * error) and one crossing its edge is kept for the rasterizer to clip.
 */
export function mapShapeOnRaster(
  rings: readonly number[][],
  value: number,
  toPixel: PointTransform,
  size: { width: number; height: number },
  file: string,
  where: string,
  options: ShapeOptions,
): LabelShape | undefined {
  const pixelRings = transformRings(rings, toPixel);
  if (!boundsMeetImage(pixelRings, size)) return undefined;
  return checkedShape({ rings: pixelRings, value }, size, file, where, options, { tolerance: Infinity });
}
