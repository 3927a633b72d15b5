import { writeFile } from 'node:fs/promises';
import type { ClassMap } from '../labels/classMap.js';
import { ringArea } from '../labels/rasterize.js';
import type { MaskPolygon } from './maskToPolygons.js';

/** The polygon label formats predictions can be written in: the JSON formats the label readers take. */
export const POLYGON_LABEL_FORMATS = ['xbd', 'geojson', 'coco'] as const;
export type PolygonLabelFormat = (typeof POLYGON_LABEL_FORMATS)[number];

/** What `polygonsToLabelJson` needs besides the polygons. */
export interface PolygonLabelOptions {
  format: PolygonLabelFormat;
  /** Names the classes: a polygon of class id `c` is written with the label name that reads back as `c`. */
  classMap: ClassMap;
  /** Size of the image the polygons belong to. */
  width: number;
  height: number;
  /** The image's file name (xBD `metadata.img_name`, COCO `file_name`). */
  imageFileName: string;
}

/**
 * Polygons (from `maskToPolygons`) as a label file of the given format, in pixel coordinates, which the label
 * readers (`readLabelMask`) read back into the same mask:
 *
 * - `xbd`: xView2 JSON, one `features.xy[]` entry per polygon with a `POLYGON ((x y, ...), (hole))` WKT and
 *   `properties.subtype` the class's label name; `features.lng_lat` is empty (predictions have no geo
 *   reference); `metadata` has `width`, `height` and `img_name`.
 * - `geojson`: a FeatureCollection of Polygon features (holes as inner rings, rings closed, outer rings
 *   counter-clockwise in y-up axes) with the class's label name in `properties.class`.
 * - `coco`: one image, a category per class id present (the class's label name), one annotation per polygon
 *   with `area` in pixels and `bbox`. COCO polygons have no holes, so each hole is joined in by a horizontal
 *   bridge that the ring walks there and back (a keyhole ring, which never crosses itself): by the even-odd
 *   rule the bridge adds nothing and the hole stays empty. Bridges run along integer rows, so they pass no
 *   pixel centre; where one lands inside a slanted edge (simplified polygons) its end is not a whole pixel,
 *   and the ring walks that whole edge and back along it to the bridge, so the edge reads back unsplit.
 *
 * @example
 * ```ts
 * const json = polygonsToLabelJson(maskToPolygons(mask), { format: 'xbd', classMap: xbdClassMap(), width: 1024, height: 1024, imageFileName: 'scene.png' });
 * ```
 * @throws RangeError for an unknown format or a class id without a label name in the class map.
 */
export function polygonsToLabelJson(
  polygons: readonly MaskPolygon[],
  options: PolygonLabelOptions,
): Record<string, unknown> {
  const { format, classMap, width, height, imageFileName } = options;
  if (!(POLYGON_LABEL_FORMATS as readonly string[]).includes(format)) {
    throw new RangeError(
      `polygonsToLabelJson: format must be one of ${POLYGON_LABEL_FORMATS.join(', ')}, got ${JSON.stringify(format)}`,
    );
  }
  const labelNames = new Map<number, string>();
  const nameOf = (classId: number): string => {
    let name = labelNames.get(classId);
    if (name === undefined) labelNames.set(classId, (name = labelName(classMap, classId)));
    return name;
  };
  if (format === 'xbd') {
    return {
      features: {
        lng_lat: [],
        xy: polygons.map(({ classId, rings }) => ({
          properties: { feature_type: 'building', subtype: nameOf(classId) },
          wkt: polygonWkt(rings),
        })),
      },
      metadata: { width, height, img_name: imageFileName },
    };
  }
  if (format === 'geojson') {
    return {
      type: 'FeatureCollection',
      features: polygons.map(({ classId, rings }) => polygonFeature(rings, nameOf(classId))),
    };
  }
  const classIds = [...new Set(polygons.map((polygon) => polygon.classId))].sort((a, b) => a - b);
  return {
    images: [{ id: 1, file_name: imageFileName, width, height }],
    categories: classIds.map((id) => ({ id, name: nameOf(id) })),
    annotations: polygons.map(({ classId, rings }, index) => ({
      id: index + 1,
      image_id: 1,
      category_id: classId,
      segmentation: [ringWithBridgedHoles(rings)],
      area: rings.reduce((sum, ring) => sum + ringArea(ring), 0),
      bbox: boundingBox(rings[0]!),
      iscrowd: 0,
    })),
  };
}

/**
 * Writes polygons as a label file (see `polygonsToLabelJson`).
 *
 * @example
 * ```ts
 * await writePolygonLabels(maskToPolygons(prediction.classes), 'out/scene.json', { format: 'geojson', classMap, width, height, imageFileName: 'scene.png' });
 * ```
 * @param polygons the regions, from `maskToPolygons`.
 * @param path output file.
 * @param options format, class map, image size and file name.
 */
export async function writePolygonLabels(
  polygons: readonly MaskPolygon[],
  path: string,
  options: PolygonLabelOptions,
): Promise<void> {
  await writeFile(path, `${JSON.stringify(polygonsToLabelJson(polygons, options))}\n`);
}

/** A GeoJSON Polygon feature of the rings (closed, as GeoJSON writes them), its class's label name in `class`. */
export function polygonFeature(rings: readonly number[][], className: string): Record<string, unknown> {
  return {
    type: 'Feature',
    properties: { class: className },
    geometry: { type: 'Polygon', coordinates: rings.map(closedPoints) },
  };
}

/** The label name that the class map reads as `classId`: the class's own name when it does, else the first label that does. */
export function labelName(classMap: ClassMap, classId: number): string {
  const own = classMap.names[classId];
  if (own !== undefined && classMap.ids.get(own) === classId) return own;
  for (const [label, id] of classMap.ids) if (id === classId) return label;
  throw new RangeError(
    `class id ${classId} has no label name in the class map (labels: ${[...classMap.ids.keys()].join(', ')})`,
  );
}

/** `[[x, y], ...]` with the first point repeated at the end, as GeoJSON rings are written. */
function closedPoints(ring: number[]): number[][] {
  const points: number[][] = [];
  for (let i = 0; i < ring.length; i += 2) points.push([ring[i]!, ring[i + 1]!]);
  points.push([ring[0]!, ring[1]!]);
  return points;
}

/** WKT as xBD writes it: `POLYGON ((x y, x y, ...), (...))`, rings closed. */
function polygonWkt(rings: number[][]): string {
  return `POLYGON (${rings
    .map(
      (ring) =>
        `(${closedPoints(ring)
          .map(([x, y]) => `${x} ${y}`)
          .join(', ')})`,
    )
    .join(', ')})`;
}

/** COCO `bbox`: `[x, y, width, height]`. */
function boundingBox(ring: number[]): number[] {
  let [left, top, right, bottom] = [Infinity, Infinity, -Infinity, -Infinity];
  for (let i = 0; i < ring.length; i += 2) {
    left = Math.min(left, ring[i]!);
    right = Math.max(right, ring[i]!);
    top = Math.min(top, ring[i + 1]!);
    bottom = Math.max(bottom, ring[i + 1]!);
  }
  return [left, top, right - left, bottom - top];
}

/**
 * One ring for an outer ring and its holes (a keyhole polygon), for simple rings that meet at most at
 * vertices, as `maskToPolygons` and `maskToSimplifiedPolygons` return them. Each hole gets a horizontal bridge
 * from its rightmost vertex (the topmost among equals) rightwards to the nearest edge of another ring (or a
 * vertex where two edges meet on the bridge's line), where the ring walks along the bridge, round the
 * hole and back. The bridge runs inside the polygon and lands on the outer ring or on a hole further right, so
 * following the landings from the outer ring reaches every hole once, and no bridge crosses a ring. A landing
 * inside a slanted edge is reached from the edge's far end, back along the edge: the ring keeps the edge whole,
 * and each retraced part cancels out under the even-odd rule as the bridge does.
 */
function ringWithBridgedHoles(rings: number[][]): number[] {
  if (rings.length === 1) return rings[0]!;
  const bridgeStart = rings.map((ring, r) => (r === 0 ? -1 : rightmostVertex(ring)));
  const bridgeLines = [...new Set(rings.slice(1).map((hole, k) => hole[bridgeStart[k + 1]! + 1]!))].sort(
    (a, b) => a - b,
  );
  // The edges that cross (or end on) each line a bridge runs along, with where.
  const crossings = new Map<number, Array<{ x: number; ring: number; edge: number }>>(
    bridgeLines.map((y) => [y, []]),
  );
  rings.forEach((ring, r) => {
    for (let i = 0; i < ring.length; i += 2) {
      const j = (i + 2) % ring.length;
      const [x0, y0, x1, y1] = [ring[i]!, ring[i + 1]!, ring[j]!, ring[j + 1]!];
      if (y0 === y1) continue;
      for (
        let k = firstNotBelow(bridgeLines.length, (m) => bridgeLines[m]! < Math.min(y0, y1));
        k < bridgeLines.length && bridgeLines[k]! <= Math.max(y0, y1);
        k++
      ) {
        const y = bridgeLines[k]!;
        // An edge's ends are kept exactly: x0 + (x1 - x0) need not round to x1.
        const x = x0 === x1 || y === y0 ? x0 : y === y1 ? x1 : x0 + ((y - y0) * (x1 - x0)) / (y1 - y0);
        crossings.get(y)!.push({ x, ring: r, edge: i });
      }
    }
  });
  for (const line of crossings.values()) line.sort((a, b) => a.x - b.x);
  // The bridges landing on each ring's edges, by edge.
  const landings = rings.map(() => new Map<number, Array<{ x: number; y: number; hole: number }>>());
  for (let hole = 1; hole < rings.length; hole++) {
    const [x, y] = [rings[hole]![bridgeStart[hole]!]!, rings[hole]![bridgeStart[hole]! + 1]!];
    const line = crossings.get(y)!;
    // The nearest edge at or right of the start that is not the hole's own (its own lie at x, its rightmost).
    let k = firstNotBelow(line.length, (m) => line[m]!.x < x);
    while (k < line.length && line[k]!.ring === hole) k++;
    const nearest = line[k];
    if (!nearest)
      throw new RangeError(
        `polygonsToLabelJson: a hole at (${x}, ${y}) lies outside its polygon's outer ring`,
      );
    const onEdge = landings[nearest.ring]!.get(nearest.edge);
    if (onEdge) onEdge.push({ x: nearest.x, y, hole });
    else landings[nearest.ring]!.set(nearest.edge, [{ x: nearest.x, y, hole }]);
  }
  const joined: number[] = [];
  const walk = (r: number, from: number): void => {
    const ring = rings[r]!;
    for (let k = 0; k < ring.length; k += 2) {
      const i = (from + k) % ring.length;
      joined.push(ring[i]!, ring[i + 1]!);
      const bridges = landings[r]!.get(i);
      if (!bridges) continue;
      const j = (i + 2) % ring.length;
      const [x0, y0, x1, y1] = [ring[i]!, ring[i + 1]!, ring[j]!, ring[j + 1]!];
      // Along the edge in the direction of travel, then into each hole and back.
      bridges.sort((a, b) => (y1 > y0 ? a.y - b.y : b.y - a.y));
      let atEnd = false;
      for (const { x, y, hole } of bridges) {
        // Split at a landing inside it, a slanted edge's two parts would place a pixel centre that lies
        // exactly on the edge by their own rounding, on either side: the ring walks the whole edge and back.
        const inside = x0 !== x1 && y !== y0 && y !== y1;
        if (inside && !atEnd) joined.push(x1, y1);
        atEnd ||= inside;
        joined.push(x, y);
        walk(hole, bridgeStart[hole]!);
        joined.push(rings[hole]![bridgeStart[hole]!]!, rings[hole]![bridgeStart[hole]! + 1]!, x, y);
        if (inside) joined.push(x1, y1);
      }
    }
  };
  walk(0, 0);
  return withoutRepeatedNeighbours(joined);
}

/** Index of the vertex with the largest x (the smallest y among equals). */
function rightmostVertex(ring: number[]): number {
  let best = 0;
  for (let i = 2; i < ring.length; i += 2) {
    if (ring[i]! > ring[best]! || (ring[i] === ring[best] && ring[i + 1]! < ring[best + 1]!)) best = i;
  }
  return best;
}

/** The first index in [0, count) for which `below` is false, where `below` holds for a prefix (binary search). */
function firstNotBelow(count: number, below: (index: number) => boolean): number {
  let [low, high] = [0, count];
  while (low < high) {
    const middle = (low + high) >> 1;
    if (below(middle)) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Drops a vertex equal to the one before it (a bridge of length zero where a hole touches the ring). */
function withoutRepeatedNeighbours(ring: number[]): number[] {
  const kept: number[] = [];
  for (let i = 0; i < ring.length; i += 2) {
    const k = kept.length;
    if (k >= 2 && kept[k - 2] === ring[i] && kept[k - 1] === ring[i + 1]) continue;
    kept.push(ring[i]!, ring[i + 1]!);
  }
  if (kept.length >= 4 && kept[0] === kept[kept.length - 2] && kept[1] === kept[kept.length - 1])
    kept.length -= 2;
  return kept;
}
