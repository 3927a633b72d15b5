import { InputError } from '../errors.js';
import type { GeoReference } from '../types.js';
import type { ClassMap } from './classMap.js';
import { checkedShape, ringFromPoints, type ShapeOptions } from './geometry.js';
import { describeValue, featureClassValue, isObject } from './labelFile.js';
import { geoJsonCrs, type PointTransform } from './mapCoordinates.js';
import { mapShapeOnRaster, mapToRasterPixels } from './mapShapes.js';
import type { LabelShape } from './rasterize.js';

/** Feature properties that may name the class, tried in this order. */
export const GEOJSON_CLASS_PROPERTIES = ['class', 'label', 'subtype', 'name'] as const;

/** True when parsed JSON is a GeoJSON FeatureCollection. */
export function isGeoJsonLabel(json: unknown): boolean {
  return isObject(json) && json.type === 'FeatureCollection' && Array.isArray(json.features);
}

/** The transform from a GeoJSON file's map coordinates (its `crs`, WGS 84 by default) to the raster's pixels. */
function geoJsonToRasterPixels(
  json: Record<string, unknown>,
  file: string,
  georeference: GeoReference,
): PointTransform {
  const labelCrs = geoJsonCrs(json);
  if (labelCrs === undefined)
    throw new InputError(file, `crs ${describeValue(json.crs)} names no EPSG code or CRS84`);
  return mapToRasterPixels(file, labelCrs, georeference);
}

/**
 * The shapes of a GeoJSON FeatureCollection: Polygon and MultiPolygon geometries, class from the class map's
 * `classProperty`, else the first of the `class`, `label`, `subtype`, `name` properties that is set (the class
 * map's `defaultClass` where it is absent or empty).
 *
 * Without `georeference` the coordinates are pixels (x right, y down). With it (the image is a georeferenced
 * raster) they are map coordinates in the file's `crs` (WGS 84 longitude/latitude when it names none, as RFC
 * 7946 says), projected onto the raster's pixel grid; one file may then cover many rasters: features whose
 * bounds miss this raster are left out, and those crossing its edge are clipped by the rasterizer.
 */
export function geoJsonShapes(
  json: unknown,
  file: string,
  size: { width: number; height: number },
  classMap: ClassMap,
  options: ShapeOptions & { georeference?: GeoReference } = {},
): LabelShape[] {
  if (!isGeoJsonLabel(json)) throw new InputError(file, 'not a GeoJSON FeatureCollection');
  const toPixel = options.georeference
    ? geoJsonToRasterPixels(json as Record<string, unknown>, file, options.georeference)
    : undefined;
  const shapes: LabelShape[] = [];
  (json as { features: unknown[] }).features.forEach((feature, index) => {
    const where = `features[${index}]`;
    if (!isObject(feature) || !isObject(feature.geometry))
      throw new InputError(file, `${where}: geometry missing`);
    const properties = isObject(feature.properties) ? feature.properties : {};
    const value = featureClassValue(classMap, properties, GEOJSON_CLASS_PROPERTIES, file, where);
    const { type, coordinates } = feature.geometry;
    const polygons = type === 'Polygon' ? [coordinates] : type === 'MultiPolygon' ? coordinates : undefined;
    if (!Array.isArray(polygons))
      throw new InputError(
        file,
        `${where}: geometry ${describeValue(type)} is not a Polygon or MultiPolygon`,
      );
    for (const polygon of polygons) {
      if (!Array.isArray(polygon))
        throw new InputError(file, `${where}: polygon coordinates are not an array`);
      const rings = polygon.map((ring: unknown) => ringFromPoints(ring, file, where));
      const shape = toPixel
        ? mapShapeOnRaster(rings, value, toPixel, size, file, where, options)
        : checkedShape({ rings, value }, size, file, where, options);
      if (shape) shapes.push(shape);
    }
  });
  return shapes;
}
