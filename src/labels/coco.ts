import { InputError } from '../errors.js';
import type { ClassMap } from './classMap.js';
import { decodeRleString, forEachRlePixel } from './cocoRle.js';
import { checkedShape, type ShapeOptions } from './geometry.js';
import { checkDeclaredSize, classValue, describeValue, isObject, readJsonLabel } from './labelFile.js';
import type { LabelShape, PixelRegion } from './rasterize.js';

/** The arrays a COCO file holds; their entries are whatever the file says, checked where they are used. */
interface CocoFile {
  images: unknown[];
  annotations: unknown[];
  categories?: unknown;
}

/** True when parsed JSON looks like a COCO instances file. */
export function isCocoLabel(json: unknown): json is CocoFile {
  return isObject(json) && Array.isArray(json.images) && Array.isArray(json.annotations);
}

/**
 * The image keys (`file_name`s) of a COCO file, or `undefined` when the file is not (readable) COCO JSON: the hook
 * through which `pairFiles` pairs one COCO file with many images.
 */
export async function cocoImageKeys(labelPath: string): Promise<string[] | undefined> {
  if (!labelPath.toLowerCase().endsWith('.json')) return undefined;
  // A file that does not parse is reported when its mask is read, under the run's bad-input policy.
  const json = await readJsonLabel(labelPath).catch(() => undefined);
  if (!isCocoLabel(json)) return undefined;
  return json.images.map((image, index) => {
    if (!isObject(image) || typeof image.file_name !== 'string')
      throw new InputError(labelPath, `images[${index}]: file_name missing`);
    return image.file_name;
  });
}

/**
 * The regions of one image of a COCO file, in annotation order: polygons (each part of a segmentation list
 * painted on its own) and RLE masks, compressed or not. Crowd annotations (`iscrowd: 1`) mark regions whose
 * instances were not outlined one by one: they become the ignore value, so they count neither as the class
 * nor as background.
 */
export function cocoShapes(
  json: unknown,
  file: string,
  imageKey: string | undefined,
  size: { width: number; height: number },
  classMap: ClassMap,
  options: ShapeOptions = {},
): Array<LabelShape | PixelRegion> {
  if (!isCocoLabel(json)) throw new InputError(file, 'not a COCO file (no images and annotations arrays)');
  if (imageKey === undefined)
    throw new InputError(file, 'a COCO file describes many images: the pair names none (labelKey)');
  const image = json.images.find((entry) => isObject(entry) && entry.file_name === imageKey) as
    | Record<string, unknown>
    | undefined;
  if (!image) throw new InputError(file, `no image with file_name '${imageKey}'`);
  checkDeclaredSize(file, { width: image.width, height: image.height }, size);
  const categories = json.categories ?? [];
  if (!Array.isArray(categories))
    throw new InputError(file, `categories is ${describeValue(categories)}, not an array`);
  const categoryNames = new Map(
    categories.map((category, index) => {
      if (!isObject(category)) throw new InputError(file, `categories[${index}]: not an object`);
      return [category.id, category.name];
    }),
  );
  const shapes: Array<LabelShape | PixelRegion> = [];
  json.annotations.forEach((annotation, index) => {
    const where = `annotations[${index}]`;
    if (!isObject(annotation)) throw new InputError(file, `${where}: not an object`);
    if (annotation.image_id !== image.id) return;
    if (!categoryNames.has(annotation.category_id))
      throw new InputError(file, `${where}: unknown category_id ${describeValue(annotation.category_id)}`);
    const value = annotation.iscrowd
      ? classMap.ignoreValue
      : classValue(classMap, categoryNames.get(annotation.category_id), file, where);
    const segmentation = annotation.segmentation;
    if (Array.isArray(segmentation)) {
      segmentation.forEach((polygon, part) => {
        if (!Array.isArray(polygon) || polygon.some((v) => typeof v !== 'number')) {
          throw new InputError(file, `${where}: segmentation[${part}] is not a list of numbers`);
        }
        const shape = checkedShape(
          { rings: [polygon as number[]], value },
          size,
          file,
          `${where}.segmentation[${part}]`,
          options,
        );
        if (shape) shapes.push(shape);
      });
    } else if (isObject(segmentation)) {
      shapes.push(rleRegion(segmentation, value, size, file, where));
    } else {
      throw new InputError(file, `${where}: segmentation missing`);
    }
  });
  return shapes;
}

function rleRegion(
  rle: Record<string, unknown>,
  value: number,
  size: { width: number; height: number },
  file: string,
  where: string,
): PixelRegion {
  const rleSize = rle.size;
  if (!Array.isArray(rleSize) || rleSize[0] !== size.height || rleSize[1] !== size.width) {
    throw new InputError(
      file,
      `${where}: RLE size ${describeValue(rleSize)} is not the image's [${size.height}, ${size.width}]`,
    );
  }
  let runs: number[];
  try {
    if (typeof rle.counts === 'string') runs = decodeRleString(rle.counts);
    else if (Array.isArray(rle.counts)) runs = rle.counts as number[];
    else throw new Error('counts missing');
    // Checks the runs up front, so painting cannot fail half-way.
    forEachRlePixel(runs, size.width, size.height, () => {});
  } catch (error) {
    throw new InputError(file, `${where}: bad RLE (${(error as Error).message})`, { cause: error });
  }
  return { value, spans: (paint) => forEachRlePixel(runs, size.width, size.height, paint) };
}
