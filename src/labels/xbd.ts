import { InputError } from '../errors.js';
import type { GeoReference } from '../types.js';
import type { ClassMap } from './classMap.js';
import { checkedShape, closedRingWithoutRepeat, type ShapeOptions } from './geometry.js';
import { checkDeclaredSize, featureClassValue, isObject } from './labelFile.js';
import { WGS84 } from './mapCoordinates.js';
import { mapShapeOnRaster, mapToRasterPixels } from './mapShapes.js';
import type { LabelShape } from './rasterize.js';

/** True when parsed JSON looks like an xBD / xView2 label file. */
export function isXbdLabel(json: unknown): boolean {
  return isObject(json) && isObject(json.features) && Array.isArray(json.features.xy);
}

/**
 * The shapes of an xBD / xView2 label file: one per `features.xy[]` POLYGON (one per part of a
 * MULTIPOLYGON), holes kept as inner rings, class from `properties.subtype` (or the class map's
 * `classProperty`). Where that is absent or empty, as in the pre-disaster files, the class is the class map's
 * `defaultClass`, else the class named `building` if the map has one, else `no-damage`.
 *
 * With `georeference` (the image is a georeferenced raster, such as xBD's GeoTIFFs) and `features.lng_lat`
 * non-empty, the shapes are its WGS 84 longitude/latitude polygons projected onto the raster's pixel grid
 * instead, as GeoJSON in map coordinates is: a polygon that misses the raster is left out, one crossing its edge
 * is clipped.
 */
export function xbdShapes(
  json: unknown,
  file: string,
  size: { width: number; height: number },
  classMap: ClassMap,
  options: ShapeOptions & { georeference?: GeoReference } = {},
): LabelShape[] {
  if (!isXbdLabel(json)) throw new InputError(file, 'not an xBD label file (no features.xy array)');
  const root = json as {
    features: { xy: unknown[]; lng_lat?: unknown };
    metadata?: Record<string, unknown>;
  };
  if (isObject(root.metadata))
    checkDeclaredSize(file, { width: root.metadata.width, height: root.metadata.height }, size);
  // Pre-disaster files have no subtype: their features are buildings, undamaged where the map has no `building`.
  const withBuildingDefault: ClassMap = {
    ...classMap,
    defaultClass: classMap.defaultClass ?? (classMap.ids.has('building') ? 'building' : 'no-damage'),
  };
  const { lng_lat: lngLat } = root.features;
  const toPixel =
    options.georeference && Array.isArray(lngLat) && lngLat.length > 0
      ? mapToRasterPixels(file, WGS84, options.georeference)
      : undefined;
  const [listName, features] = toPixel
    ? ['features.lng_lat', lngLat as unknown[]]
    : ['features.xy', root.features.xy];
  const shapes: LabelShape[] = [];
  features.forEach((feature, index) => {
    const where = `${listName}[${index}]`;
    if (!isObject(feature) || typeof feature.wkt !== 'string')
      throw new InputError(file, `${where}: wkt missing`);
    const properties = isObject(feature.properties) ? feature.properties : {};
    const value = featureClassValue(withBuildingDefault, properties, ['subtype'], file, where);
    for (const polygon of parsePolygons(feature.wkt, file, where)) {
      const shape = toPixel
        ? mapShapeOnRaster(polygon, value, toPixel, size, file, where, options)
        : checkedShape({ rings: polygon, value }, size, file, where, options);
      if (shape) shapes.push(shape);
    }
  });
  return shapes;
}

/** Parses a WKT POLYGON or MULTIPOLYGON into polygons of flat rings (outer ring first). */
function parsePolygons(wkt: string, file: string, where: string): number[][][] {
  let polygons: number[][][] | undefined;
  try {
    polygons = readWktPolygons(wkt);
  } catch (error) {
    throw new InputError(file, `${where}: malformed WKT (${(error as Error).message})`, { cause: error });
  }
  if (!polygons)
    throw new InputError(file, `${where}: expected POLYGON or MULTIPOLYGON, got ${wkt.slice(0, 30)}`);
  return polygons;
}

/**
 * Reads WKT POLYGON and MULTIPOLYGON text in one pass (a general WKT parser that rescans the rest of the text
 * at every vertex takes minutes on a million-vertex polygon). Keywords are case-insensitive; Z, M and ZM
 * coordinates keep x and y; an EWKT `SRID=n;` prefix is allowed; `EMPTY` gives an empty ring. Returns
 * undefined for other geometry types.
 *
 * @throws Error saying what was expected where the text departs from the grammar.
 */
function readWktPolygons(wkt: string): number[][][] | undefined {
  const text = wkt.replace(/^\s*SRID=\d+;/i, '');
  const tokenPattern = /\s*([(),]|[^\s(),]+)/y;
  const nextToken = (): string | undefined => tokenPattern.exec(text)?.[1];
  let token = nextToken();
  const take = (): string | undefined => {
    const taken = token;
    token = nextToken();
    return taken;
  };
  const found = (): string => (token === undefined ? 'the end' : `'${token.slice(0, 20)}'`);
  const expect = (symbol: string): void => {
    if (token !== symbol) throw new Error(`expected '${symbol}' but found ${found()}`);
    take();
  };
  const takeKeyword = (word: string): boolean => token?.toUpperCase() === word && take() !== undefined;

  const type = take()?.toUpperCase();
  if (type !== 'POLYGON' && type !== 'MULTIPOLYGON') return undefined;
  const dimensions = token?.toUpperCase();
  const valuesPerPoint = dimensions === 'ZM' ? 4 : dimensions === 'Z' || dimensions === 'M' ? 3 : 2;
  if (valuesPerPoint > 2) take();
  const number = (): number => {
    const value = Number(token);
    // NaN is let through as a number, for the shape check to report as not finite.
    if (
      token === undefined ||
      '(),'.includes(token) ||
      (Number.isNaN(value) && token.toUpperCase() !== 'NAN')
    )
      throw new Error(`expected a number but found ${found()}`);
    take();
    return value;
  };
  const ring = (): number[] => {
    expect('(');
    const flat: number[] = [];
    do {
      flat.push(number(), number());
      for (let extra = 2; extra < valuesPerPoint; extra++) number();
    } while (token === ',' && take());
    expect(')');
    return closedRingWithoutRepeat(flat);
  };
  const list = <T>(item: () => T): T[] => {
    expect('(');
    const items = [item()];
    while (token === ',' && take()) items.push(item());
    expect(')');
    return items;
  };
  const polygon = (): number[][] => (takeKeyword('EMPTY') ? [[]] : list(ring));
  const polygons = type === 'POLYGON' ? [polygon()] : takeKeyword('EMPTY') ? [] : list(polygon);
  if (token !== undefined) throw new Error(`unexpected ${found()} after the geometry`);
  return polygons;
}
