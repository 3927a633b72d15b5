import { writeFile } from 'node:fs/promises';
import { magicbytes } from 'flatgeobuf/lib/mjs/constants.js';
import { GeometryType } from 'flatgeobuf/lib/mjs/flat-geobuf/geometry-type.js';
import { buildHeader, mapColumn } from 'flatgeobuf/lib/mjs/generic/featurecollection.js';
import { serialize } from 'flatgeobuf/lib/mjs/geojson.js';
import type { FeatureCollection } from 'geojson';
import type { ClassMap } from '../labels/classMap.js';
import type { GeoReference } from '../types.js';
import { type PolygonCrsChoice, polygonCrsEpsg, polygonsToMapGeoJson } from './mapPolygons.js';
import type { MaskPolygon } from './maskToPolygons.js';
import { polygonsToLabelJson } from './writePolygons.js';

/** Where polygons of a georeferenced raster go on the map: its georeference, and the CRS to write them in. */
export interface MapPlacement {
  georeference: GeoReference;
  crs: PolygonCrsChoice;
}

/**
 * Predicted polygons as a FlatGeobuf file (https://flatgeobuf.org): the same features as the GeoJSON that
 * `predict --polygons geojson` writes (a Polygon per region, its class's label name in the `class` column),
 * in map coordinates with the CRS's EPSG code in the header when `placement` is given, else in pixel
 * coordinates with no CRS. A binary, streamable format that GDAL and QGIS read far faster than GeoJSON for
 * large polygon sets. No spatial index is written (`ogr2ogr -f FlatGeobuf` adds one).
 *
 * @example
 * ```ts
 * const bytes = polygonsToFlatGeobuf(polygons, classMap, { georeference: image.georeference, crs: 'wgs84' });
 * ```
 */
export function polygonsToFlatGeobuf(
  polygons: readonly MaskPolygon[],
  classMap: ClassMap,
  placement?: MapPlacement,
): Uint8Array {
  const collection = placement
    ? polygonsToMapGeoJson(polygons, classMap, placement.georeference, placement.crs)
    : polygonsToLabelJson(polygons, { format: 'geojson', classMap, width: 0, height: 0, imageFileName: '' });
  const epsg = placement ? polygonCrsEpsg(placement.georeference, placement.crs) : 0;
  // The GeoJSON writers return plain records: their FeatureCollection, typed.
  if (polygons.length > 0) return serialize(collection as unknown as FeatureCollection, epsg);
  // The library infers its columns from the first feature, so a set without any gets its header built here.
  const header = flatGeobufHeader(epsg, 0);
  const bytes = new Uint8Array(magicbytes.length + header.length);
  bytes.set(magicbytes);
  bytes.set(header, magicbytes.length);
  return bytes;
}

/** The columns of segstream's FlatGeobuf features: the class's label name. */
export const FLATGEOBUF_COLUMNS = [mapColumn({ class: '' }, 'class')];

/**
 * The size-prefixed header of a file of Polygon features with {@link FLATGEOBUF_COLUMNS}, in CRS `epsg` (0:
 * none), without a spatial index; `featuresCount` 0 says that the count is not known.
 */
export function flatGeobufHeader(epsg: number, featuresCount: number): Uint8Array {
  return buildHeader(
    {
      geometryType: GeometryType.Polygon,
      columns: FLATGEOBUF_COLUMNS,
      envelope: null,
      featuresCount,
      indexNodeSize: 0,
      crs: null,
      title: null,
      description: null,
      metadata: null,
    },
    epsg,
  );
}

/** Writes {@link polygonsToFlatGeobuf}'s file to `path`. */
export async function writePolygonFlatGeobuf(
  polygons: readonly MaskPolygon[],
  path: string,
  classMap: ClassMap,
  placement?: MapPlacement,
): Promise<void> {
  await writeFile(path, polygonsToFlatGeobuf(polygons, classMap, placement));
}
