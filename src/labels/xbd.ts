import wkx from 'wkx';
import { InputError } from '../errors.js';
import type { ClassMap } from './classMap.js';
import { checkDeclaredSize, classValue, isObject } from './labelFile.js';
import { type ShapeOptions, checkedShape, closedRingWithoutRepeat } from './geometry.js';
import type { LabelShape } from './rasterize.js';

/** True when parsed JSON looks like an xBD / xView2 label file. */
export function isXbdLabel(json: unknown): boolean {
  return isObject(json) && isObject(json.features) && Array.isArray(json.features.xy);
}

/**
 * The shapes of an xBD / xView2 label file: one per `features.xy[]` POLYGON (one per part of a
 * MULTIPOLYGON), holes kept as inner rings, class from `properties.subtype` (`feature_type` when a file
 * has no subtype, as the pre-disaster files do: those map to the class named `building` if the class map
 * has one, else to `no-damage`).
 */
export function xbdShapes(json: unknown, file: string, size: { width: number; height: number }, classMap: ClassMap, options: ShapeOptions = {}): LabelShape[] {
  if (!isXbdLabel(json)) throw new InputError(file, 'not an xBD label file (no features.xy array)');
  const root = json as { features: { xy: unknown[] }; metadata?: Record<string, unknown> };
  if (isObject(root.metadata)) checkDeclaredSize(file, { width: root.metadata.width, height: root.metadata.height }, size);
  const shapes: LabelShape[] = [];
  root.features.xy.forEach((feature, index) => {
    const where = `features.xy[${index}]`;
    if (!isObject(feature) || typeof feature.wkt !== 'string') throw new InputError(file, `${where}: wkt missing`);
    const properties = isObject(feature.properties) ? feature.properties : {};
    const subtype = properties.subtype ?? (classMap.ids.has('building') ? 'building' : 'no-damage');
    const value = classValue(classMap, subtype, file, where);
    for (const polygon of parsePolygons(feature.wkt, file, where)) {
      const shape = checkedShape({ rings: polygon, value }, size, file, where, options);
      if (shape) shapes.push(shape);
    }
  });
  return shapes;
}

/** Parses a WKT POLYGON or MULTIPOLYGON into polygons of flat rings (outer ring first). */
function parsePolygons(wkt: string, file: string, where: string): number[][][] {
  let geometry: wkx.Geometry;
  try {
    geometry = wkx.Geometry.parse(wkt);
  } catch (error) {
    throw new InputError(file, `${where}: malformed WKT (${(error as Error).message})`, { cause: error });
  }
  const ringOf = (points: wkx.Point[]): number[] => closedRingWithoutRepeat(points.flatMap((p) => [p.x, p.y]));
  const polygonOf = (polygon: wkx.Polygon): number[][] => [ringOf(polygon.exteriorRing), ...polygon.interiorRings.map(ringOf)];
  if (geometry instanceof wkx.Polygon) return [polygonOf(geometry)];
  if (geometry instanceof wkx.MultiPolygon) return geometry.polygons.map(polygonOf);
  throw new InputError(file, `${where}: expected POLYGON or MULTIPOLYGON, got ${wkt.slice(0, 30)}`);
}
