import { InputError } from '../errors.js';
import type { ClassMap } from '../labels/classMap.js';
import type { ClassMask, LabelledImage, LabelledPair } from '../types.js';
import { decodeImage } from './decodeImage.js';

/** Reads a pair's label file into a class mask of the image's size (the labels module's `readLabelMask`). */
export type ReadLabelMask = (
  pair: LabelledPair,
  size: { width: number; height: number },
  classMap: ClassMap,
  options: { format?: string },
) => Promise<ClassMask>;

export interface ReadLabelledImageOptions {
  classMap: ClassMap;
  /** Reads the masks; pass the labels module's `readLabelMask`. */
  readMask: ReadLabelMask;
  /** Label format, or undefined to detect it per file. */
  format?: string;
}

/** Decodes one pair's image and reads its mask; a mask of another size is an InputError on the label file. */
export async function readLabelledImage(pair: LabelledPair, options: ReadLabelledImageOptions): Promise<LabelledImage> {
  const image = await decodeImage(pair.imagePath);
  const size = { width: image.width, height: image.height };
  const formatOption = options.format === undefined ? {} : { format: options.format };
  const mask = await options.readMask(pair, size, options.classMap, formatOption);
  if (mask.width !== image.width || mask.height !== image.height) {
    throw new InputError(pair.labelPath, `mask is ${mask.width}x${mask.height} but image ${pair.imagePath} is ${image.width}x${image.height}`);
  }
  return { ...pair, image, mask };
}
