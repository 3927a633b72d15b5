import proj4 from 'proj4';
import type { GeoReference } from '../types.js';

/** EPSG code of WGS 84 longitude/latitude: GeoJSON's coordinates when no `crs` member says otherwise (RFC 7946). */
export const WGS84 = 4326;

/** A point transform between two coordinate systems, `[x, y] -> [x, y]`. */
export type PointTransform = (x: number, y: number) => [number, number];

/**
 * The proj4 definition of an EPSG code: proj4 knows WGS 84 (4326) and Web Mercator (3857) and whatever
 * `defineCrs` registered; the WGS 84 UTM zones (326xx north, 327xx south), the usual CRS of aerial imagery,
 * are derived from the code.
 */
function projectionName(epsg: number): string {
  const name = `EPSG:${epsg}`;
  if (proj4.defs(name)) return name;
  const zone = epsg % 100;
  if ((Math.floor(epsg / 100) === 326 || Math.floor(epsg / 100) === 327) && zone >= 1 && zone <= 60) {
    proj4.defs(
      name,
      `+proj=utm +zone=${zone}${epsg >= 32700 ? ' +south' : ''} +datum=WGS84 +units=m +no_defs`,
    );
    return name;
  }
  throw new RangeError(
    `EPSG:${epsg} has no known definition; register it with defineCrs(${epsg}, '<proj4 string>')`,
  );
}

/**
 * Registers the proj4 definition of a CRS that segstream does not know by its EPSG code (any but WGS 84,
 * Web Mercator and the WGS 84 UTM zones), e.g. `defineCrs(2056, '+proj=somerc ...')`.
 */
export function defineCrs(epsg: number, definition: string): void {
  if (!Number.isInteger(epsg) || epsg <= 0)
    throw new RangeError(`defineCrs: epsg must be a positive integer, got ${epsg}`);
  proj4.defs(`EPSG:${epsg}`, definition);
}

/** The transform of points from CRS `from` to CRS `to` (both EPSG codes); the identity when they are the same. */
export function crsTransform(from: number, to: number): PointTransform {
  if (from === to) return (x, y) => [x, y];
  const converter = proj4(projectionName(from), projectionName(to));
  return (x, y) => converter.forward([x, y]) as [number, number];
}

/** True for a geographic CRS (longitude/latitude in degrees), false for a projected one. */
export function isGeographicCrs(epsg: number): boolean {
  return (proj4.defs(projectionName(epsg)) as { projName?: string }).projName === 'longlat';
}

/** The map coordinates of pixel position (col, row) (pixel corners: (0.5, 0.5) is the first pixel's centre). */
export function pixelToMap({ transform: t }: GeoReference): PointTransform {
  return (col, row) => [t[0] + col * t[1] + row * t[2], t[3] + col * t[4] + row * t[5]];
}

/** The pixel position (col, row) of a map point: the inverse of {@link pixelToMap}. */
export function mapToPixel({ transform: t }: GeoReference): PointTransform {
  const determinant = t[1] * t[5] - t[2] * t[4];
  if (determinant === 0 || !Number.isFinite(determinant))
    throw new RangeError(`the geotransform [${t.join(', ')}] cannot be inverted`);
  return (x, y) => {
    const dx = x - t[0];
    const dy = y - t[3];
    return [(t[5] * dx - t[2] * dy) / determinant, (t[1] * dy - t[4] * dx) / determinant];
  };
}

/**
 * The EPSG code a GeoJSON file's `crs` member names (`urn:ogc:def:crs:OGC:1.3:CRS84`, `EPSG:32636`,
 * `urn:ogc:def:crs:EPSG::32636`), or WGS 84 when it has none (RFC 7946); undefined for a name it cannot read.
 */
export function geoJsonCrs(json: { crs?: unknown }): number | undefined {
  const name = (json.crs as { properties?: { name?: unknown } } | undefined)?.properties?.name;
  if (name === undefined) return WGS84;
  if (typeof name !== 'string') return undefined;
  if (/CRS84$/i.test(name)) return WGS84;
  const code = /EPSG:+(\d+)$/i.exec(name)?.[1];
  return code === undefined ? undefined : Number(code);
}

/** Applies a point transform to flat `[x0, y0, x1, y1, ...]` rings. */
export function transformRings(rings: readonly number[][], transform: PointTransform): number[][] {
  return rings.map((ring) => {
    const out = new Array<number>(ring.length);
    for (let i = 0; i < ring.length; i += 2) {
      const [x, y] = transform(ring[i]!, ring[i + 1]!);
      out[i] = x;
      out[i + 1] = y;
    }
    return out;
  });
}
