import { writeFile } from 'node:fs/promises';
import type { ClassMap } from '../labels/classMap.js';
import { crsTransform, pixelToMap, transformRings, WGS84 } from '../labels/mapCoordinates.js';
import type { GeoReference } from '../types.js';
import type { MaskPolygon } from './maskToPolygons.js';
import { polygonsToLabelJson } from './writePolygons.js';

/** The CRS predicted polygons are written in: the raster's own, or WGS 84 longitude/latitude. */
export const POLYGON_CRS_CHOICES = ['raster', 'wgs84'] as const;
export type PolygonCrsChoice = (typeof POLYGON_CRS_CHOICES)[number];

/** The EPSG code of the CRS `crs` names for a raster placed by `georeference`. */
export function polygonCrsEpsg(georeference: GeoReference, crs: PolygonCrsChoice): number {
  return crs === 'wgs84' ? WGS84 : georeference.epsg;
}

/**
 * Polygons from pixel coordinates to map coordinates in CRS `epsg`. A transform that mirrors (every north-up
 * raster: rows go south) would turn rings round, so their vertex order is reversed to keep outer rings
 * counter-clockwise in map axes, as GeoJSON's right-hand rule asks.
 */
export function polygonsToMap(
  polygons: readonly MaskPolygon[],
  georeference: GeoReference,
  epsg: number,
): MaskPolygon[] {
  const toMap = pixelToMap(georeference);
  const toCrs = crsTransform(georeference.epsg, epsg);
  const [, a, b, , d, e] = georeference.transform;
  const mirrors = a * e - b * d < 0;
  return polygons.map(({ classId, rings }) => ({
    classId,
    rings: transformRings(rings, (x, y) => toCrs(...toMap(x, y))).map((ring) =>
      mirrors ? reversedRing(ring) : ring,
    ),
  }));
}

function reversedRing(ring: number[]): number[] {
  const out = new Array<number>(ring.length);
  for (let i = 0, j = ring.length - 2; j >= 0; i += 2, j -= 2) {
    out[i] = ring[j]!;
    out[i + 1] = ring[j + 1]!;
  }
  return out;
}

/**
 * Predicted polygons of a georeferenced raster as a GeoJSON FeatureCollection in map coordinates: in the
 * raster's CRS (named by a `crs` member, which GDAL and QGIS read) or in WGS 84 longitude/latitude (RFC 7946,
 * no `crs` member). The label readers read it back onto the same raster.
 *
 * @example
 * ```ts
 * const json = polygonsToMapGeoJson(polygons, classMap, image.georeference, 'wgs84');
 * ```
 */
export function polygonsToMapGeoJson(
  polygons: readonly MaskPolygon[],
  classMap: ClassMap,
  georeference: GeoReference,
  crs: PolygonCrsChoice,
): Record<string, unknown> {
  const epsg = polygonCrsEpsg(georeference, crs);
  const collection = polygonsToLabelJson(polygonsToMap(polygons, georeference, epsg), {
    format: 'geojson',
    classMap,
    width: 0,
    height: 0,
    imageFileName: '',
  });
  const crsMember = geoJsonCrs(epsg);
  return crsMember ? { type: collection.type, crs: crsMember, features: collection.features } : collection;
}

/** The `crs` member that names CRS `epsg` to GDAL and QGIS; none for WGS 84, GeoJSON's own (RFC 7946). */
export function geoJsonCrs(epsg: number): Record<string, unknown> | undefined {
  return epsg === WGS84 ? undefined : { type: 'name', properties: { name: `urn:ogc:def:crs:EPSG::${epsg}` } };
}

/** Writes {@link polygonsToMapGeoJson}'s FeatureCollection to `path`. */
export async function writeMapPolygons(
  polygons: readonly MaskPolygon[],
  path: string,
  classMap: ClassMap,
  georeference: GeoReference,
  crs: PolygonCrsChoice,
): Promise<void> {
  await writeFile(path, `${JSON.stringify(polygonsToMapGeoJson(polygons, classMap, georeference, crs))}\n`);
}
