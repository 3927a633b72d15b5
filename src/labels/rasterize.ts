import type { ClassMask } from '../types.js';

/**
 * A filled shape: one or more rings (outer boundaries and holes alike) as flat `[x0, y0, x1, y1, ...]`
 * arrays in pixel coordinates, with the class value it paints.
 */
export interface LabelShape {
  rings: number[][];
  value: number;
}

/** A region given by its pixels rather than its outline (COCO RLE): it calls `paint` for each run. */
export interface PixelRegion {
  spans: (paint: (row: number, from: number, to: number) => void) => void;
  value: number;
}

/** A pixel-space problem in one shape: what the reader turns into an InputError naming its file. */
export class ShapeProblem extends Error {
  override readonly name = 'ShapeProblem';
  /** `degenerate`: fewer than 3 distinct points or zero area (paints nothing); `invalid`: anything else. */
  constructor(
    message: string,
    readonly kind: 'degenerate' | 'invalid' = 'invalid',
  ) {
    super(message);
  }
}

/**
 * Checks one shape's geometry: finite coordinates, no vertex further than `tolerance` (default 1) pixels
 * outside the image, and unless `needsArea` is false (points and lines that are drawn with a width), at
 * least 3 distinct points in every ring and a non-zero area. Throws a ShapeProblem.
 */
export function checkShape(
  shape: LabelShape,
  width: number,
  height: number,
  options: { tolerance?: number; needsArea?: boolean } = {},
): void {
  const tolerance = options.tolerance ?? 1;
  const needsArea = options.needsArea ?? true;
  let area = 0;
  for (const ring of shape.rings) {
    if (ring.length % 2 !== 0) throw new ShapeProblem('a ring has an odd number of coordinates');
    for (let i = 0; i < ring.length; i += 2) {
      const x = ring[i]!;
      const y = ring[i + 1]!;
      if (!Number.isFinite(x) || !Number.isFinite(y))
        throw new ShapeProblem(`vertex (${x}, ${y}) is not a finite number`);
      if (x < -tolerance || y < -tolerance || x > width + tolerance || y > height + tolerance) {
        throw new ShapeProblem(`vertex (${x}, ${y}) lies outside the ${width}x${height} image`);
      }
    }
    if (!needsArea) continue;
    if (distinctPointCount(ring, 3) < 3)
      throw new ShapeProblem('a ring has fewer than 3 distinct points', 'degenerate');
    area += Math.abs(ringArea(ring));
  }
  if (needsArea && (shape.rings.length === 0 || area === 0))
    throw new ShapeProblem('the shape has zero area', 'degenerate');
}

/** Distinct points of a flat [x0, y0, x1, y1, ...] ring, counted up to `enough`. */
export function distinctPointCount(ring: number[], enough: number): number {
  const seen = new Set<string>();
  for (let i = 0; i < ring.length && seen.size < enough; i += 2) seen.add(`${ring[i]},${ring[i + 1]}`);
  return seen.size;
}

/** Signed area of a ring by the shoelace formula (positive when counter-clockwise in y-up axes). */
export function ringArea(ring: number[]): number {
  let twice = 0;
  const n = ring.length;
  for (let i = 0; i < n; i += 2) {
    const j = (i + 2) % n;
    twice += ring[i]! * ring[j + 1]! - ring[j]! * ring[i + 1]!;
  }
  return twice / 2;
}

/**
 * Paints shapes into a class mask by the pixel-centre rule: pixel (x, y) belongs to a shape when its centre
 * (x + 0.5, y + 0.5) lies inside the shape under the even-odd rule over all of the shape's rings (so holes
 * are rings inside rings). A centre exactly on a left or top edge is inside, on a right or bottom edge
 * outside, so shapes that share an edge never both claim a pixel and the painted area of a polygon equals
 * its exact area up to boundary sampling.
 *
 * Overlaps: shapes are painted in order and a later shape overwrites an earlier one, unless `priority`
 * gives the earlier shape's value a higher priority (xBD: the more severe damage wins).
 *
 * Cost is proportional to the number of edges plus the rows they span inside the image, so huge or far-away
 * coordinates are clipped rather than walked, and millions of vertices stay fast.
 *
 * A window of a larger image is painted alone by giving the mask of the window and its top-left corner
 * `origin` in the image: shapes keep the image's coordinates and are clipped to the window, so the window's
 * pixels are exactly those of the whole image's mask (its rows and columns are computed the same way).
 *
 * @param mask the mask to paint into (its current values count as unpainted background).
 * @param shapes shapes with finite coordinates (see `checkShape`).
 * @param priority optional priority per value; missing entries count as 0.
 * @param origin where the mask's top-left pixel lies in the shapes' pixel grid. Default (0, 0).
 */
export function rasterizeShapes(
  mask: ClassMask,
  shapes: Iterable<LabelShape | PixelRegion>,
  priority?: readonly number[],
  origin: { x: number; y: number } = { x: 0, y: 0 },
): void {
  const { width, height, data } = mask;
  const painted = priority ? new Uint8Array(width * height) : undefined;
  // Mask values are bytes: a table spares a lookup with a default per painted pixel.
  const priorityOf = Float64Array.from({ length: 256 }, (_, value) => priority?.[value] ?? 0);
  const prio = (value: number): number => priorityOf[value] ?? 0;
  for (const shape of shapes) {
    const value = shape.value;
    const valuePriority = prio(value);
    // Runs in the image's columns and rows, clipped to the window (a pixel region's runs are not).
    const paintSpan = (imageRow: number, imageFrom: number, imageTo: number): void => {
      const row = imageRow - origin.y;
      const from = Math.max(0, imageFrom - origin.x);
      const to = Math.min(width, imageTo - origin.x);
      if (row < 0 || row >= height || from >= to) return;
      const offset = row * width;
      if (!painted) {
        data.fill(value, offset + from, offset + to);
        return;
      }
      for (let i = offset + from; i < offset + to; i++) {
        if (painted[i] && prio(data[i]!) > valuePriority) continue;
        data[i] = value;
        painted[i] = 1;
      }
    };
    if ('rings' in shape) forEachSpan(shape.rings, width, height, paintSpan, origin);
    else shape.spans(paintSpan);
  }
}

interface Edge {
  x0: number;
  y0: number;
  slope: number;
  firstRow: number;
  lastRow: number;
}

/**
 * Calls `paint(row, fromColumn, toColumnExclusive)` for every horizontal run of pixels whose centres lie
 * inside the rings (even-odd), clipped to the `width` x `height` area whose top-left pixel is `origin`
 * (default: an image of that size). Rows and columns are those of the rings' pixel grid.
 */
export function forEachSpan(
  rings: number[][],
  width: number,
  height: number,
  paint: (row: number, from: number, to: number) => void,
  origin: { x: number; y: number } = { x: 0, y: 0 },
): void {
  const [left, top, right, bottom] = [origin.x, origin.y, origin.x + width, origin.y + height];
  // Edges sorted by the first row whose centre they cross (half-open in y, so a vertex on a row centre is
  // counted once); only the rows between the first and the last edge are visited, so a small shape on a
  // large image costs what the shape covers.
  const edges: Edge[] = [];
  let lastRow = -1;
  for (const ring of rings) {
    const n = ring.length;
    for (let i = 0; i < n; i += 2) {
      const j = (i + 2) % n;
      let xa = ring[i]!,
        ya = ring[i + 1]!,
        xb = ring[j]!,
        yb = ring[j + 1]!;
      if (ya === yb) continue;
      if (ya > yb) [xa, ya, xb, yb] = [xb, yb, xa, ya];
      // Rows whose centre r + 0.5 lies in [ya, yb).
      const firstRow = Math.max(top, Math.ceil(ya - 0.5));
      const edgeLastRow = Math.min(bottom - 1, Math.ceil(yb - 0.5) - 1);
      if (firstRow > edgeLastRow) continue;
      edges.push({ x0: xa, y0: ya, slope: (xb - xa) / (yb - ya), firstRow, lastRow: edgeLastRow });
      if (edgeLastRow > lastRow) lastRow = edgeLastRow;
    }
  }
  if (edges.length === 0) return;
  edges.sort((a, b) => a.firstRow - b.firstRow);
  const active: Edge[] = [];
  // A row crosses few edges (two for most footprints): an insertion sort into a typed array beats
  // Array.prototype.sort with a comparator, which this loop called once per row.
  const crossings = new Float64Array(edges.length);
  let next = 0;
  for (let row = edges[0]!.firstRow; row <= lastRow; row++) {
    while (next < edges.length && edges[next]!.firstRow === row) active.push(edges[next++]!);
    if (active.length === 0) {
      row = edges[next]!.firstRow - 1; // skip the empty rows up to the next edge
      continue;
    }
    const centre = row + 0.5;
    const count = active.length;
    for (let k = 0; k < count; k++) {
      const edge = active[k]!;
      const x = edge.x0 + (centre - edge.y0) * edge.slope;
      let at = k;
      for (; at > 0 && crossings[at - 1]! > x; at--) crossings[at] = crossings[at - 1]!;
      crossings[at] = x;
    }
    for (let k = 0; k + 1 < count; k += 2) {
      // Columns whose centre c + 0.5 lies in [left, right).
      const from = Math.max(left, Math.ceil(crossings[k]! - 0.5));
      const to = Math.min(right, Math.ceil(crossings[k + 1]! - 0.5));
      if (from < to) paint(row, from, to);
    }
    let kept = 0;
    for (const edge of active) if (edge.lastRow > row) active[kept++] = edge;
    active.length = kept;
  }
}
