import { distinctPointCount, ringArea } from '../labels/rasterize.js';
import type { ClassMask } from '../types.js';
import { type MaskPolygon, maskToPolygons } from './maskToPolygons.js';

/** How `maskToSimplifiedPolygons` reads the mask and how far it may move boundaries. */
export interface SimplifyOptions {
  /** Largest distance in pixels between a boundary and its simplified line; 0 returns `maskToPolygons`' exact rings. */
  tolerance: number;
  /** Mask value left out (not returned); none by default. */
  ignoreValue?: number;
  /** Mask value of the background, not returned (default 0). */
  background?: number;
}

/**
 * A boundary between two regions (or a region and the outside of the image) from one node to the next, or a
 * whole ring without nodes. `points` are its corners, flat `[x0, y0, ...]`, both ends included (a closed arc
 * ends on its start); `kept` the indices of the points its simplified line keeps, ascending, ends included.
 */
interface Arc {
  points: number[];
  kept: number[];
  /** Undirected id of the unit pixel edge that leaves the first point: with the first point, tells the direction a ring walks it. */
  firstEdge: number;
}

/** A ring as the arcs it walks, each forwards or backwards, and the sign of its exact area. */
interface ArcRing {
  arcs: Array<{ arc: number; reversed: boolean }>;
  areaSign: number;
}

// Spatial grids bucket points and segments by cells of this many pixels.
const CELL = 8;

/**
 * The regions of a class mask as polygons like `maskToPolygons` returns them, with every boundary simplified
 * by Douglas-Peucker to within `tolerance` pixels while the regions keep their topology: they still tile the
 * image, without gaps or overlaps, and keep their holes and neighbours.
 *
 * Every region, the background and ignored pixels included, is traced; its rings are cut into arcs at nodes,
 * the pixel corners where three or more boundary edges meet (three regions, or two touching diagonally, or a
 * region, its neighbour and the image border) and the image's corners. Each arc is simplified once, its ends
 * fixed, and every ring through it is rebuilt from the same kept points, so neighbours share exactly the same
 * vertices. A ring without nodes (an island) is one closed arc that starts at its first corner in raster order.
 *
 * Simplifying arcs one by one can break what the exact boundaries guarantee; it is prevented by keeping more
 * points: a shortcut is refused while the area between it and the boundary it replaces holds a corner of any
 * other boundary (which would move an island or a neighbouring node to the wrong side), and the simplified
 * lines are checked until no two of them cross or touch other than at a shared end and every ring keeps at
 * least 3 distinct points and the sign of its area; each failure splits the offending line at its farthest
 * point. The exact boundaries pass every check, so this ends.
 *
 * Vertices stay integer pixel corners, a subset of the exact ones plus the nodes; edges are no longer
 * axis-parallel.
 *
 * @example
 * ```ts
 * const polygons = maskToSimplifiedPolygons(sieveMask(prediction.classes, { minArea: 16 }), { tolerance: 1 });
 * ```
 * @param mask class ids, row-major, `width * height` values.
 * @returns one polygon per region that is neither background nor ignored, in `maskToPolygons`' order.
 */
export function maskToSimplifiedPolygons(mask: ClassMask, options: SimplifyOptions): MaskPolygon[] {
  const { tolerance } = options;
  if (!(tolerance >= 0) || !Number.isFinite(tolerance))
    throw new RangeError(
      `maskToSimplifiedPolygons: tolerance must be a number of pixels >= 0, got ${tolerance}`,
    );
  const exactOptions = {
    background: options.background ?? 0,
    ...(options.ignoreValue !== undefined ? { ignoreValue: options.ignoreValue } : {}),
  };
  if (tolerance === 0) return maskToPolygons(mask, exactOptions);

  // Every region is traced (no value is background) so that each boundary is seen from both of its sides.
  const regions = maskToPolygons(mask, { background: -1 });
  const isNode = nodeTest(mask);
  const arcs: Arc[] = [];
  const arcByKey = new Map<number, number>();
  const arcRings = regions.map(({ rings }) =>
    rings.map((ring) => splitIntoArcs(ring, mask.width, isNode, arcs, arcByKey)),
  );
  const corners = new PointIndex(arcs);
  arcs.forEach(
    (arc, a) =>
      (arc.kept = simplifiedIndices(arc.points, 0, arc.points.length / 2 - 1, tolerance, corners, a)),
  );
  keepTopology(arcs, arcRings.flat(), tolerance, corners);

  const traced = (classId: number): boolean =>
    classId !== exactOptions.background && classId !== options.ignoreValue;
  return regions.flatMap(({ classId }, region) =>
    traced(classId) ? [{ classId, rings: arcRings[region]!.map((ring) => ringPoints(ring, arcs)) }] : [],
  );
}

/**
 * Whether a pixel corner is a node: three or more boundary edges meet there (the image's outside counting as
 * a region of its own), or it is a corner of the image.
 */
function nodeTest(mask: ClassMask): (x: number, y: number) => boolean {
  const { data, width, height } = mask;
  const value = (x: number, y: number): number =>
    x < 0 || y < 0 || x >= width || y >= height ? -1 : data[y * width + x]!;
  return (x, y) => {
    if ((x === 0 || x === width) && (y === 0 || y === height)) return true;
    const [topLeft, topRight, bottomLeft, bottomRight] = [
      value(x - 1, y - 1),
      value(x, y - 1),
      value(x - 1, y),
      value(x, y),
    ];
    const edges =
      Number(topLeft !== topRight) +
      Number(bottomLeft !== bottomRight) +
      Number(topLeft !== bottomLeft) +
      Number(topRight !== bottomRight);
    return edges >= 3;
  };
}

/** Undirected id of the unit pixel edge from corner (x, y) one step towards (toX, toY). */
function unitEdgeId(x: number, y: number, toX: number, toY: number, width: number): number {
  const [fromX, fromY] = [Math.min(x, x + Math.sign(toX - x)), Math.min(y, y + Math.sign(toY - y))];
  return 2 * (fromY * (width + 1) + fromX) + (toY !== y ? 1 : 0);
}

/**
 * Cuts one exact ring into arcs at its nodes (nodes inside straight runs too), registering arcs not seen
 * before (from the ring on the other side) in `arcs`. An arc's key is the smaller of the ids of its first and
 * last unit edges, the same from both sides.
 */
function splitIntoArcs(
  ring: number[],
  width: number,
  isNode: (x: number, y: number) => boolean,
  arcs: Arc[],
  arcByKey: Map<number, number>,
): ArcRing {
  // The ring's corners with the nodes on its straight runs, and which of them are nodes.
  const points: number[] = [];
  const nodes: number[] = [];
  for (let i = 0; i < ring.length; i += 2) {
    const [x, y, nextX, nextY] = [
      ring[i]!,
      ring[i + 1]!,
      ring[(i + 2) % ring.length]!,
      ring[(i + 3) % ring.length]!,
    ];
    if (isNode(x, y)) nodes.push(points.length / 2);
    points.push(x, y);
    const [stepX, stepY] = [Math.sign(nextX - x), Math.sign(nextY - y)];
    for (let [px, py] = [x + stepX, y + stepY]; px !== nextX || py !== nextY; px += stepX, py += stepY) {
      if (!isNode(px, py)) continue;
      nodes.push(points.length / 2);
      points.push(px, py);
    }
  }
  const count = points.length / 2;
  const point = (k: number): [number, number] => [points[2 * (k % count)]!, points[2 * (k % count) + 1]!];
  let cuts: number[];
  if (nodes.length > 0) {
    cuts = nodes;
  } else {
    // An island's boundary: one closed arc from its first corner in raster order, whichever side walks it.
    let start = 0;
    for (let k = 1; k < count; k++) {
      const [[x, y], [bestX, bestY]] = [point(k), point(start)];
      if (y < bestY || (y === bestY && x < bestX)) start = k;
    }
    cuts = [start];
  }
  const walked: ArcRing['arcs'] = [];
  cuts.forEach((from, c) => {
    const to = c + 1 < cuts.length ? cuts[c + 1]! : cuts[0]! + count;
    const arcPoints: number[] = [];
    for (let k = from; k <= to; k++) arcPoints.push(...point(k));
    const last = arcPoints.length - 2;
    const firstEdge = unitEdgeId(arcPoints[0]!, arcPoints[1]!, arcPoints[2]!, arcPoints[3]!, width);
    const lastEdge = unitEdgeId(
      arcPoints[last]!,
      arcPoints[last + 1]!,
      arcPoints[last - 2]!,
      arcPoints[last - 1]!,
      width,
    );
    const key = Math.min(firstEdge, lastEdge);
    let arc = arcByKey.get(key);
    if (arc === undefined) {
      arc = arcs.length;
      arcByKey.set(key, arc);
      arcs.push({ points: arcPoints, kept: [], firstEdge });
    }
    // Walked the other way, it starts at the other end; an arc from a node (or island corner) back to itself
    // starts at the same corner either way, and its first unit edge tells.
    const { points: stored, firstEdge: storedFirstEdge } = arcs[arc]!;
    const reversed =
      stored[0] !== arcPoints[0] || stored[1] !== arcPoints[1] || storedFirstEdge !== firstEdge;
    walked.push({ arc, reversed });
  });
  return { arcs: walked, areaSign: Math.sign(ringArea(ring)) };
}

/** The simplified ring: each arc's kept points in walking order, each shared end once. */
function ringPoints(ring: ArcRing, arcs: readonly Arc[]): number[] {
  const flat: number[] = [];
  for (const { arc, reversed } of ring.arcs) {
    const { points, kept } = arcs[arc]!;
    const order = reversed ? [...kept].reverse() : kept;
    for (let k = 0; k < order.length - 1; k++) flat.push(points[2 * order[k]!]!, points[2 * order[k]! + 1]!);
  }
  return flat;
}

/** Distance from point p to segment ab. */
function segmentDistance(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const [dx, dy] = [bx - ax, by - ay];
  const lengthSquared = dx * dx + dy * dy;
  const t =
    lengthSquared === 0 ? 0 : Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / lengthSquared));
  return Math.hypot(px - ax - t * dx, py - ay - t * dy);
}

/** Index of the point of `points` strictly between `from` and `to` farthest from the segment joining them. */
function farthestBetween(points: number[], from: number, to: number): { index: number; distance: number } {
  const [ax, ay, bx, by] = [points[2 * from]!, points[2 * from + 1]!, points[2 * to]!, points[2 * to + 1]!];
  let [index, distance] = [-1, -1];
  for (let k = from + 1; k < to; k++) {
    const d = segmentDistance(points[2 * k]!, points[2 * k + 1]!, ax, ay, bx, by);
    if (d > distance) [index, distance] = [k, d];
  }
  return { index, distance };
}

/** The original corners of every arc, bucketed by grid cell, to find the corners near a shortcut. */
class PointIndex {
  private readonly cells = new Map<number, Array<[arc: number, index: number]>>();
  constructor(readonly arcs: readonly Arc[]) {
    arcs.forEach(({ points }, arc) => {
      for (let k = 0; k < points.length / 2; k++) {
        const key = cellKey(Math.floor(points[2 * k]! / CELL), Math.floor(points[2 * k + 1]! / CELL));
        const cell = this.cells.get(key);
        if (cell) cell.push([arc, k]);
        else this.cells.set(key, [[arc, k]]);
      }
    });
  }

  /** Calls `visit` with the corners within `reach` of segment ab (and maybe a few more). */
  near(
    ax: number,
    ay: number,
    bx: number,
    by: number,
    reach: number,
    visit: (x: number, y: number, arc: number, index: number) => boolean,
  ): boolean {
    const [left, right] = [
      Math.floor((Math.min(ax, bx) - reach) / CELL),
      Math.floor((Math.max(ax, bx) + reach) / CELL),
    ];
    const [top, bottom] = [
      Math.floor((Math.min(ay, by) - reach) / CELL),
      Math.floor((Math.max(ay, by) + reach) / CELL),
    ];
    for (let cy = top; cy <= bottom; cy++) {
      for (let cx = left; cx <= right; cx++) {
        // Skip cells whose centre is too far from the segment for any of their corners to be near it.
        if (segmentDistance((cx + 0.5) * CELL, (cy + 0.5) * CELL, ax, ay, bx, by) > reach + CELL) continue;
        for (const [arc, index] of this.cells.get(cellKey(cx, cy)) ?? []) {
          const points = this.arcs[arc]!.points;
          if (visit(points[2 * index]!, points[2 * index + 1]!, arc, index)) return true;
        }
      }
    }
    return false;
  }
}

/** A grid cell's key (cells may have negative coordinates just outside the image). */
function cellKey(cx: number, cy: number): number {
  return (cy + 1) * 1_000_003 + (cx + 1);
}

/**
 * Douglas-Peucker on points from..to of one arc, ends kept: a shortcut stands when no point between is
 * farther than `tolerance` from it and the area between it and those points holds no other corner.
 */
function simplifiedIndices(
  points: number[],
  from: number,
  to: number,
  tolerance: number,
  index: PointIndex,
  arc: number,
): number[] {
  const kept = [from];
  const keep = (a: number, b: number): void => {
    const { index: split, distance } = farthestBetween(points, a, b);
    if (split !== -1 && (distance > tolerance || sweepsACorner(points, a, b, tolerance, index, arc))) {
      keep(a, split);
      keep(split, b);
    } else {
      kept.push(b);
    }
  };
  keep(from, to);
  return kept;
}

/**
 * Whether replacing points a..b of an arc by the segment ab would pass over a corner of another boundary
 * (or of the same arc outside a..b): the corner lies in the polygon the points and the segment enclose, or on
 * the segment. The ends themselves (nodes other arcs share) do not count.
 */
function sweepsACorner(
  points: number[],
  a: number,
  b: number,
  tolerance: number,
  index: PointIndex,
  arc: number,
): boolean {
  const [ax, ay, bx, by] = [points[2 * a]!, points[2 * a + 1]!, points[2 * b]!, points[2 * b + 1]!];
  return index.near(ax, ay, bx, by, tolerance, (x, y, otherArc, k) => {
    if ((otherArc === arc && k >= a && k <= b) || (x === ax && y === ay) || (x === bx && y === by))
      return false;
    if (segmentDistance(x, y, ax, ay, bx, by) > tolerance) return false;
    if (cross(ax, ay, bx, by, x, y) === 0 && segmentDistance(x, y, ax, ay, bx, by) === 0) return true;
    // Even-odd ray to +x over the edges a..b and the closing segment b -> a.
    let inside = false;
    for (let k = a; k <= b; k++) {
      const [x0, y0] = [points[2 * k]!, points[2 * k + 1]!];
      const [x1, y1] = k < b ? [points[2 * k + 2]!, points[2 * k + 3]!] : [ax, ay];
      if (y0 > y !== y1 > y && x < x0 + ((y - y0) * (x1 - x0)) / (y1 - y0)) inside = !inside;
    }
    return inside;
  });
}

/** z of (b - a) x (p - a): positive when p is left of ab in y-up axes, 0 when collinear. */
function cross(ax: number, ay: number, bx: number, by: number, px: number, py: number): number {
  return (bx - ax) * (py - ay) - (by - ay) * (px - ax);
}

/** Whether p, known collinear with ab, lies on segment ab. */
function onSegment(ax: number, ay: number, bx: number, by: number, px: number, py: number): boolean {
  return Math.min(ax, bx) <= px && px <= Math.max(ax, bx) && Math.min(ay, by) <= py && py <= Math.max(ay, by);
}

/**
 * Whether two segments of simplified lines meet anywhere but at one shared end: they cross, touch, overlap,
 * or are the same segment (two arcs collapsed onto each other).
 */
function segmentsConflict(s: readonly number[], t: readonly number[]): boolean {
  const [ax, ay, bx, by] = s as [number, number, number, number];
  const [cx, cy, dx, dy] = t as [number, number, number, number];
  const sharedA = (ax === cx && ay === cy) || (ax === dx && ay === dy);
  const sharedB = (bx === cx && by === cy) || (bx === dx && by === dy);
  if (sharedA && sharedB) return true;
  const [d1, d2, d3, d4] = [
    cross(cx, cy, dx, dy, ax, ay),
    cross(cx, cy, dx, dy, bx, by),
    cross(ax, ay, bx, by, cx, cy),
    cross(ax, ay, bx, by, dx, dy),
  ];
  if (sharedA || sharedB) {
    // Sharing one end they meet elsewhere only when collinear and overlapping.
    if (d1 !== 0 || d2 !== 0) return false;
    const [ox, oy] = sharedA ? [bx, by] : [ax, ay];
    const [sx, sy] = sharedA ? [ax, ay] : [bx, by];
    const [tx, ty] = sx === cx && sy === cy ? [dx, dy] : [cx, cy];
    return (ox - sx) * (tx - sx) + (oy - sy) * (ty - sy) > 0;
  }
  if (((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))) return true;
  return (
    (d1 === 0 && onSegment(cx, cy, dx, dy, ax, ay)) ||
    (d2 === 0 && onSegment(cx, cy, dx, dy, bx, by)) ||
    (d3 === 0 && onSegment(ax, ay, bx, by, cx, cy)) ||
    (d4 === 0 && onSegment(ax, ay, bx, by, dx, dy))
  );
}

/**
 * Splits simplified lines until none crosses or touches another except at shared ends and every ring keeps 3
 * distinct points and its area's sign. A line that conflicts is split at its farthest point (re-simplifying
 * both halves); original unit staircases cannot be split and never conflict with each other.
 */
function keepTopology(arcs: Arc[], rings: readonly ArcRing[], tolerance: number, corners: PointIndex): void {
  for (;;) {
    // Segments to split, as "arc:position in kept".
    const toSplit = new Set<number>();
    const segmentKey = (arc: number, position: number): number => arc * 2 ** 26 + position;
    const cells = new Map<number, number[]>();
    const segments: Array<{ arc: number; position: number; ends: number[] }> = [];
    arcs.forEach(({ points, kept }, arc) => {
      for (let position = 0; position + 1 < kept.length; position++) {
        const [a, b] = [kept[position]!, kept[position + 1]!];
        const ends = [points[2 * a]!, points[2 * a + 1]!, points[2 * b]!, points[2 * b + 1]!];
        const id = segments.length;
        segments.push({ arc, position, ends });
        for (
          let cy = Math.floor(Math.min(ends[1]!, ends[3]!) / CELL);
          cy <= Math.floor(Math.max(ends[1]!, ends[3]!) / CELL);
          cy++
        ) {
          for (
            let cx = Math.floor(Math.min(ends[0]!, ends[2]!) / CELL);
            cx <= Math.floor(Math.max(ends[0]!, ends[2]!) / CELL);
            cx++
          ) {
            const cell = cells.get(cellKey(cx, cy));
            if (cell) cell.push(id);
            else cells.set(cellKey(cx, cy), [id]);
          }
        }
      }
    });
    const splittable = ({ arc, position }: { arc: number; position: number }): boolean =>
      arcs[arc]!.kept[position + 1]! - arcs[arc]!.kept[position]! > 1;
    for (const cell of cells.values()) {
      for (let i = 0; i < cell.length; i++) {
        for (let j = i + 1; j < cell.length; j++) {
          const [s, t] = [segments[cell[i]!]!, segments[cell[j]!]!];
          if (!segmentsConflict(s.ends, t.ends)) continue;
          for (const segment of [s, t])
            if (splittable(segment)) toSplit.add(segmentKey(segment.arc, segment.position));
        }
      }
    }
    for (const ring of rings) {
      const flat = ringPoints(ring, arcs);
      if (distinctPointCount(flat, 3) >= 3 && Math.sign(ringArea(flat)) === ring.areaSign) continue;
      // The ring's line that drops the most points.
      let best: { arc: number; position: number; dropped: number } | undefined;
      for (const { arc } of ring.arcs) {
        const kept = arcs[arc]!.kept;
        for (let position = 0; position + 1 < kept.length; position++) {
          const dropped = kept[position + 1]! - kept[position]! - 1;
          if (dropped > (best?.dropped ?? 0)) best = { arc, position, dropped };
        }
      }
      if (best) toSplit.add(segmentKey(best.arc, best.position));
    }
    if (toSplit.size === 0) return;
    // Split from the last position of each arc backwards, so that earlier positions stay valid.
    for (const key of [...toSplit].sort((a, b) => b - a)) {
      const [arc, position] = [Math.floor(key / 2 ** 26), key % 2 ** 26];
      const { points, kept } = arcs[arc]!;
      const [a, b] = [kept[position]!, kept[position + 1]!];
      const split = farthestBetween(points, a, b).index;
      const refined = [
        ...simplifiedIndices(points, a, split, tolerance, corners, arc),
        ...simplifiedIndices(points, split, b, tolerance, corners, arc).slice(1),
      ];
      kept.splice(position, 2, ...refined);
    }
  }
}
