import { extname } from 'node:path';
import { InputError } from '../errors.js';
import type { ClassMask, GeoReference, LabelledPair } from '../types.js';
import type { ClassMap } from './classMap.js';
import { cocoShapes, isCocoLabel } from './coco.js';
import { geoJsonShapes, isGeoJsonLabel } from './geojson.js';
import type { ShapeOptions } from './geometry.js';
import { readJsonLabel } from './labelFile.js';
import { isLabelMeLabel, labelMeShapes } from './labelme.js';
import { readPngMask } from './pngMask.js';
import { type LabelShape, type PixelRegion, rasterizeShapes } from './rasterize.js';
import { isXbdLabel, xbdShapes } from './xbd.js';

/** The label formats segstream reads; `auto` detects the format of each file. */
export const LABEL_FORMATS = ['auto', 'xbd', 'labelme', 'coco', 'geojson', 'mask'] as const;
export type LabelFormat = (typeof LABEL_FORMATS)[number];

const MASK_EXTENSIONS = new Set(['.png', '.tif', '.tiff', '.bmp', '.gif', '.webp']);

/** Detects the format of a label file from its extension and, for JSON, its structure. */
export function detectLabelFormat(file: string, json: unknown): Exclude<LabelFormat, 'auto'> {
  if (isXbdLabel(json)) return 'xbd';
  if (isCocoLabel(json)) return 'coco';
  if (isLabelMeLabel(json)) return 'labelme';
  if (isGeoJsonLabel(json)) return 'geojson';
  throw new InputError(
    file,
    'unrecognised label format (expected xBD, LabelMe, COCO or GeoJSON JSON, or a mask image)',
  );
}

/** A rectangle of an image's pixels: top-left column and row, width and height. */
export interface MaskWindow {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The pixels of `window` (inside the mask) as a mask of their own. */
function cropMask(mask: ClassMask, window: MaskWindow): ClassMask {
  const data = new Uint8Array(window.width * window.height);
  for (let row = 0; row < window.height; row++) {
    const start = (window.y + row) * mask.width + window.x;
    data.set(mask.data.subarray(start, start + window.width), row * window.width);
  }
  return { data, width: window.width, height: window.height };
}

/**
 * Reads the label file of a pair into a class-index mask of the image's size: polygons are rasterized by
 * the pixel-centre rule (see `rasterizeShapes`), masks are read as class ids or colours. Pixels no shape
 * covers are background (0).
 *
 * @example
 * ```ts
 * const mask = await readLabelMask(pair, { width: 1024, height: 1024 }, xbdClassMap());
 * ```
 * @param pair the image/label pair (`labelKey` names the image inside a COCO file).
 * @param size the image's size: a label declaring another size is an error.
 * @param classMap label names to class ids.
 * @param options `format` forces a format (default `auto`); `degenerateShapes: 'skip'` leaves out shapes
 *   with fewer than 3 distinct points or zero area (reporting each to `onSkippedShape`) instead of failing;
 *   `georeference` (the image's, for a georeferenced raster) makes GeoJSON coordinates map coordinates
 *   (see `geoJsonShapes`) and reads xBD's `lng_lat` polygons instead of its pixel `xy` ones (see `xbdShapes`);
 *   `window` (inside the image) gives the mask of that window alone, the same pixels as the whole mask's
 *   there: shapes are rasterized for the window only (so a window of a huge raster never needs its whole
 *   mask), mask images are decoded whole and cut.
 * @throws InputError naming the label file and the problem.
 */
export async function readLabelMask(
  pair: LabelledPair,
  size: { width: number; height: number },
  classMap: ClassMap,
  options: { format?: string; georeference?: GeoReference; window?: MaskWindow } & ShapeOptions = {},
): Promise<ClassMask> {
  const format = options.format ?? 'auto';
  if (!(LABEL_FORMATS as readonly string[]).includes(format)) {
    throw new TypeError(
      `readLabelMask: format must be one of ${LABEL_FORMATS.join(', ')}, got ${JSON.stringify(format)}`,
    );
  }
  const file = pair.labelPath;
  const isMaskFile = MASK_EXTENSIONS.has(extname(file).toLowerCase());
  const { window } = options;
  if (format === 'mask' || (format === 'auto' && isMaskFile)) {
    const mask = await readPngMask(file, size, classMap);
    return window ? cropMask(mask, window) : mask;
  }
  const json = await readJsonLabel(file);
  const detected = format === 'auto' ? detectLabelFormat(file, json) : format;
  const shapes: Array<LabelShape | PixelRegion> =
    detected === 'xbd'
      ? xbdShapes(json, file, size, classMap, options)
      : detected === 'labelme'
        ? labelMeShapes(json, file, size, classMap, options)
        : detected === 'coco'
          ? cocoShapes(json, file, pair.labelKey, size, classMap, options)
          : geoJsonShapes(json, file, size, classMap, options);
  const area = window ?? { x: 0, y: 0, ...size };
  const mask: ClassMask = {
    data: new Uint8Array(area.width * area.height),
    width: area.width,
    height: area.height,
  };
  rasterizeShapes(mask, shapes, classMap.priority, area);
  return mask;
}
