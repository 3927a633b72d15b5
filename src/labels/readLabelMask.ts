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
/** The formats of JSON label files (shapes), as opposed to mask images. */
type JsonLabelFormat = Exclude<LabelFormat, 'auto' | 'mask'>;

const MASK_EXTENSIONS = new Set(['.png', '.tif', '.tiff', '.bmp', '.gif', '.webp']);

/** Detects the format of a label file from its extension and, for JSON, its structure. */
export function detectLabelFormat(file: string, json: unknown): JsonLabelFormat {
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
 * A pair's label file read once and placed on its image's pixels: gives the mask of any window of the image,
 * each exactly the whole mask's pixels there. Shapes are kept (not pixels), so a window of a huge raster
 * costs its own pixels only; a mask image is kept decoded whole.
 */
export interface LabelWindows {
  /** The mask of `window` (inside the image; default the whole image). */
  mask(window?: MaskWindow): ClassMask;
}

/** The shapes of a parsed vector label file, placed on the image's pixels by its format's reader. */
function labelShapes(
  json: unknown,
  file: string,
  format: JsonLabelFormat,
  pair: LabelledPair,
  size: { width: number; height: number },
  classMap: ClassMap,
  options: { georeference?: GeoReference } & ShapeOptions,
): Array<LabelShape | PixelRegion> {
  switch (format) {
    case 'xbd':
      return xbdShapes(json, file, size, classMap, options);
    case 'labelme':
      return labelMeShapes(json, file, size, classMap, options);
    case 'coco':
      return cocoShapes(json, file, pair.labelKey, size, classMap, options);
    case 'geojson':
      return geoJsonShapes(json, file, size, classMap, options);
  }
}

/**
 * Reads the label file of a pair once, for the masks of as many windows of its image as needed (see
 * `readLabelMask`, which reads one): a large label file, such as a GeoJSON of a whole country over a raster
 * read block by block, is parsed and mapped onto the raster's pixels once rather than once per block.
 *
 * @example
 * ```ts
 * const labels = await readLabelWindows(pair, { width: 20_000, height: 20_000 }, classMap, { georeference });
 * const corner = labels.mask({ x: 0, y: 0, width: 2048, height: 2048 });
 * ```
 * @throws InputError naming the label file and the problem.
 */
export async function readLabelWindows(
  pair: LabelledPair,
  size: { width: number; height: number },
  classMap: ClassMap,
  options: { format?: string; georeference?: GeoReference } & ShapeOptions = {},
): Promise<LabelWindows> {
  const format = options.format ?? 'auto';
  if (!(LABEL_FORMATS as readonly string[]).includes(format)) {
    throw new TypeError(
      `readLabelMask: format must be one of ${LABEL_FORMATS.join(', ')}, got ${JSON.stringify(format)}`,
    );
  }
  const file = pair.labelPath;
  const isMaskFile = MASK_EXTENSIONS.has(extname(file).toLowerCase());
  if (format === 'mask' || (format === 'auto' && isMaskFile)) {
    const mask = await readPngMask(file, size, classMap);
    return { mask: (window) => (window ? cropMask(mask, window) : mask) };
  }
  const json = await readJsonLabel(file);
  const detected = format === 'auto' ? detectLabelFormat(file, json) : (format as JsonLabelFormat);
  const shapes = labelShapes(json, file, detected, pair, size, classMap, options);
  return {
    mask: (window = { x: 0, y: 0, ...size }) => {
      const mask: ClassMask = {
        data: new Uint8Array(window.width * window.height),
        width: window.width,
        height: window.height,
      };
      rasterizeShapes(mask, shapes, classMap.priority, window);
      return mask;
    },
  };
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
 *   mask), mask images are decoded whole and cut. For many windows of one image, `readLabelWindows` reads
 *   the file once.
 * @throws InputError naming the label file and the problem.
 */
export async function readLabelMask(
  pair: LabelledPair,
  size: { width: number; height: number },
  classMap: ClassMap,
  options: { format?: string; georeference?: GeoReference; window?: MaskWindow } & ShapeOptions = {},
): Promise<ClassMask> {
  return (await readLabelWindows(pair, size, classMap, options)).mask(options.window);
}
