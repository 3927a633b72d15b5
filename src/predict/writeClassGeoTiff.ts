import { writeFile } from 'node:fs/promises';
import { type GeotiffWriterMetadata, writeArrayBuffer } from 'geotiff';
import { isGeographicCrs } from '../labels/mapCoordinates.js';
import type { ClassMask, GeoReference } from '../types.js';

/** GeoKey values: GTModelTypeGeoKey 1 projected, 2 geographic; GTRasterTypeGeoKey 1 PixelIsArea. */
const MODEL_PROJECTED = 1;
const MODEL_GEOGRAPHIC = 2;
const RASTER_PIXEL_IS_AREA = 1;

/**
 * The GeoTIFF tags that place a raster where `georeference` says: ModelPixelScale and ModelTiepoint for a
 * north-up transform (what GIS software reads most widely), ModelTransformation for a rotated one, and the
 * GeoKeys naming its EPSG code.
 */
export function geoTiffTags({ transform: t, epsg }: GeoReference): GeotiffWriterMetadata {
  const placement: GeotiffWriterMetadata = t[2] === 0 && t[4] === 0 && t[5] < 0
    ? { ModelPixelScale: [t[1], -t[5], 0], ModelTiepoint: [0, 0, 0, t[0], t[3], 0] }
    : { ModelTransformation: [t[1], t[2], 0, t[0], t[4], t[5], 0, t[3], 0, 0, 0, 0, 0, 0, 0, 1] };
  const geographic = isGeographicCrs(epsg);
  return {
    ...placement,
    GTModelTypeGeoKey: geographic ? MODEL_GEOGRAPHIC : MODEL_PROJECTED,
    GTRasterTypeGeoKey: RASTER_PIXEL_IS_AREA,
    ...(geographic ? { GeographicTypeGeoKey: epsg } : { ProjectedCSTypeGeoKey: epsg }),
  };
}

/**
 * Writes a class-index mask as a one-band 8-bit GeoTIFF (pixel value = class id) placed where the source
 * raster lies, so a GIS shows the prediction over its imagery.
 *
 * @example
 * ```ts
 * await writeClassGeoTiff(prediction.classes, image.georeference, 'out/scene.classes.tif');
 * ```
 */
export async function writeClassGeoTiff(mask: ClassMask, georeference: GeoReference, path: string): Promise<void> {
  const tiff = writeArrayBuffer(mask.data, {
    width: mask.width,
    height: mask.height,
    BitsPerSample: [8],
    SampleFormat: [1],
    SamplesPerPixel: 1,
    PhotometricInterpretation: 1,
    ...geoTiffTags(georeference),
  });
  await writeFile(path, new Uint8Array(tiff));
}
