import { InputError } from '../errors.js';
import type { ClassMap } from './classMap.js';
import { checkedShape, ringFromPoints, type ShapeOptions } from './geometry.js';
import { checkDeclaredSize, classValue, describeValue, isObject } from './labelFile.js';
import type { LabelShape } from './rasterize.js';

/** True when parsed JSON looks like a LabelMe file. */
export function isLabelMeLabel(json: unknown): boolean {
  return isObject(json) && Array.isArray(json.shapes);
}

/** LabelMe draws lines this wide and points with this radius in its own mask converter. */
const LINE_WIDTH = 10;
const POINT_RADIUS = 5;

/**
 * The shapes of a LabelMe file, in drawing order: polygons as they are, rectangles from two corners,
 * circles from centre and a rim point (a polygon of one vertex per pixel of circumference), and, like
 * LabelMe's own converter, lines and line strips as 10-pixel-wide strokes and points as 5-pixel discs.
 */
export function labelMeShapes(
  json: unknown,
  file: string,
  size: { width: number; height: number },
  classMap: ClassMap,
  options: ShapeOptions = {},
): LabelShape[] {
  if (!isLabelMeLabel(json)) throw new InputError(file, 'not a LabelMe file (no shapes array)');
  const root = json as { shapes: unknown[]; imageWidth?: unknown; imageHeight?: unknown };
  checkDeclaredSize(file, { width: root.imageWidth, height: root.imageHeight }, size);
  const shapes: LabelShape[] = [];
  root.shapes.forEach((shape, index) => {
    const where = `shapes[${index}]`;
    if (!isObject(shape)) throw new InputError(file, `${where}: not an object`);
    const value = classValue(classMap, shape.label, file, where);
    const points = ringFromPoints(shape.points, file, where);
    const type = shape.shape_type ?? 'polygon';
    // The drawn points are checked; derived outlines (circles, strokes) may reach past the border and are clipped.
    const isArea = type === 'polygon' || type === 'rectangle';
    const polygons = shapePolygons(type, points, file, where);
    if (
      !checkedShape({ rings: isArea ? polygons : [points], value }, size, file, where, options, {
        needsArea: isArea,
      })
    )
      return;
    for (const ring of polygons) shapes.push({ rings: [ring], value });
  });
  return shapes;
}

function shapePolygons(type: unknown, p: number[], file: string, where: string): number[][] {
  const need = (count: number): void => {
    if (p.length < count * 2)
      throw new InputError(file, `${where}: a ${String(type)} needs ${count} points, has ${p.length / 2}`);
  };
  switch (type) {
    case 'polygon':
      return [p];
    case 'rectangle': {
      need(2);
      const [x0, y0, x1, y1] = p as [number, number, number, number];
      return [[x0, y0, x1, y0, x1, y1, x0, y1]];
    }
    case 'circle': {
      need(2);
      const [cx, cy, rx, ry] = p as [number, number, number, number];
      return [circle(cx, cy, Math.hypot(rx - cx, ry - cy))];
    }
    case 'point':
      need(1);
      return [circle(p[0]!, p[1]!, POINT_RADIUS)];
    case 'line':
    case 'linestrip': {
      need(2);
      const strokes: number[][] = [];
      for (let i = 0; i + 3 < p.length; i += 2)
        strokes.push(stroke(p[i]!, p[i + 1]!, p[i + 2]!, p[i + 3]!, LINE_WIDTH));
      return strokes;
    }
    default:
      throw new InputError(file, `${where}: unsupported shape_type ${describeValue(type)}`);
  }
}

function circle(cx: number, cy: number, radius: number): number[] {
  const n = Math.max(16, Math.min(4096, Math.ceil(2 * Math.PI * radius)));
  const ring: number[] = [];
  for (let k = 0; k < n; k++)
    ring.push(cx + radius * Math.cos((2 * Math.PI * k) / n), cy + radius * Math.sin((2 * Math.PI * k) / n));
  return ring;
}

function stroke(x0: number, y0: number, x1: number, y1: number, width: number): number[] {
  const length = Math.hypot(x1 - x0, y1 - y0) || 1;
  const nx = ((y0 - y1) / length) * (width / 2);
  const ny = ((x1 - x0) / length) * (width / 2);
  return [x0 + nx, y0 + ny, x1 + nx, y1 + ny, x1 - nx, y1 - ny, x0 - nx, y0 - ny];
}

/** The image embedded in a LabelMe file (`imageData`, base64), for an image missing on disk. */
export function labelMeEmbeddedImage(json: unknown): Buffer | undefined {
  if (!isObject(json) || typeof json.imageData !== 'string' || json.imageData.length === 0) return undefined;
  return Buffer.from(json.imageData, 'base64');
}
