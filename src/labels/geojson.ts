import { InputError } from '../errors.js';
import type { ClassMap } from './classMap.js';
import { classValue, describeValue, isObject } from './labelFile.js';
import { type ShapeOptions, checkedShape, ringFromPoints } from './geometry.js';
import type { LabelShape } from './rasterize.js';

/** Feature properties that may name the class, tried in this order. */
export const GEOJSON_CLASS_PROPERTIES = ['class', 'label', 'subtype', 'name'] as const;

/** True when parsed JSON is a GeoJSON FeatureCollection. */
export function isGeoJsonLabel(json: unknown): boolean {
  return isObject(json) && json.type === 'FeatureCollection' && Array.isArray(json.features);
}

/**
 * The shapes of a GeoJSON FeatureCollection whose coordinates are pixels (x right, y down): Polygon and
 * MultiPolygon geometries, class from the first of the `class`, `label`, `subtype`, `name` properties.
 */
export function geoJsonShapes(json: unknown, file: string, size: { width: number; height: number }, classMap: ClassMap, options: ShapeOptions = {}): LabelShape[] {
  if (!isGeoJsonLabel(json)) throw new InputError(file, 'not a GeoJSON FeatureCollection');
  const shapes: LabelShape[] = [];
  (json as { features: unknown[] }).features.forEach((feature, index) => {
    const where = `features[${index}]`;
    if (!isObject(feature) || !isObject(feature.geometry)) throw new InputError(file, `${where}: geometry missing`);
    const properties = isObject(feature.properties) ? feature.properties : {};
    const name = GEOJSON_CLASS_PROPERTIES.map((key) => properties[key]).find((v) => v !== undefined);
    const value = classValue(classMap, name, file, where);
    const { type, coordinates } = feature.geometry;
    const polygons = type === 'Polygon' ? [coordinates] : type === 'MultiPolygon' ? coordinates : undefined;
    if (!Array.isArray(polygons)) throw new InputError(file, `${where}: geometry ${describeValue(type)} is not a Polygon or MultiPolygon`);
    for (const polygon of polygons) {
      if (!Array.isArray(polygon)) throw new InputError(file, `${where}: polygon coordinates are not an array`);
      const rings = polygon.map((ring: unknown) => ringFromPoints(ring, file, where));
      const shape = checkedShape({ rings, value }, size, file, where, options);
      if (shape) shapes.push(shape);
    }
  });
  return shapes;
}
