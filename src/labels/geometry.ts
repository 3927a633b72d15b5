import { InputError } from '../errors.js';
import { checkShape, type LabelShape, ShapeProblem } from './rasterize.js';

/** Turns `[[x, y], ...]` point lists into a flat ring, or an InputError naming the file and place. */
export function ringFromPoints(points: unknown, file: string, where: string): number[] {
  if (!Array.isArray(points)) throw new InputError(file, `${where}: points must be an array`);
  const ring = new Array<number>(points.length * 2);
  for (let i = 0; i < points.length; i++) {
    const point = points[i];
    if (!Array.isArray(point) || point.length < 2)
      throw new InputError(file, `${where}: point ${i} is not an [x, y] pair`);
    ring[2 * i] = toNumber(point[0]);
    ring[2 * i + 1] = toNumber(point[1]);
  }
  return closedRingWithoutRepeat(ring);
}

function toNumber(value: unknown): number {
  return typeof value === 'number' ? value : Number.NaN;
}

/** Drops the repeated closing vertex that GeoJSON and WKT rings carry (the rasterizer closes rings itself). */
export function closedRingWithoutRepeat(ring: number[]): number[] {
  const n = ring.length;
  if (n >= 4 && ring[0] === ring[n - 2] && ring[1] === ring[n - 1]) return ring.slice(0, n - 2);
  return ring;
}

/**
 * What to do with a degenerate shape (fewer than 3 distinct points, or zero area): `error` (the default)
 * makes it an InputError; `skip` leaves it out (it would paint no pixel) and counts it.
 */
export type DegenerateShapePolicy = 'error' | 'skip';

/** How readers treat shapes: the degenerate-shape policy and where skipped shapes are counted. */
export interface ShapeOptions {
  degenerateShapes?: DegenerateShapePolicy;
  /** Called for each degenerate shape left out under `skip`. */
  onSkippedShape?: (file: string, problem: string) => void;
}

/**
 * Checks a shape against the image (see `checkShape` for `checks`) and converts a geometry problem into an
 * InputError naming the file; returns undefined for a degenerate shape left out under the `skip` policy.
 */
export function checkedShape(
  shape: LabelShape,
  size: { width: number; height: number },
  file: string,
  where: string,
  options: ShapeOptions,
  checks: { needsArea?: boolean; tolerance?: number } = {},
): LabelShape | undefined {
  try {
    checkShape(shape, size.width, size.height, checks);
  } catch (error) {
    if (!(error instanceof ShapeProblem)) throw error;
    if (error.kind === 'degenerate' && options.degenerateShapes === 'skip') {
      options.onSkippedShape?.(file, `${where}: ${error.message}`);
      return undefined;
    }
    throw new InputError(file, `${where}: ${error.message}`);
  }
  return shape;
}
