import sharp, { type OutputInfo } from 'sharp';
import { InputError } from '../errors.js';
import type { ClassMask } from '../types.js';
import type { ClassMap } from './classMap.js';

/**
 * Reads a mask image: single-channel (grey) masks hold class ids directly (the ignore value allowed);
 * colour masks (RGB, or palette PNGs, which decode to their colours) map each colour to the class of that
 * colour in `classMap.colors`. An unknown id or colour, or a size other than the image's, is an InputError.
 */
export async function readPngMask(file: string, size: { width: number; height: number }, classMap: ClassMap): Promise<ClassMask> {
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    const image = sharp(file);
    const { channels } = await image.metadata();
    // Grey (with or without alpha) holds class ids; anything else is colour.
    const pipeline = channels !== undefined && channels <= 2 ? image.extractChannel(0) : image.removeAlpha();
    decoded = await pipeline.raw().toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw new InputError(file, `cannot decode mask image (${(error as Error).message})`, { cause: error });
  }
  const { data, info } = decoded;
  if (info.width !== size.width || info.height !== size.height) {
    throw new InputError(file, `mask is ${info.width}x${info.height} but the image is ${size.width}x${size.height}`);
  }
  const pixels = info.width * info.height;
  const mask = new Uint8Array(pixels);
  const classCount = classMap.names.length;
  if (info.channels === 1) {
    for (let i = 0; i < pixels; i++) {
      const id = data[i]!;
      if (id >= classCount && id !== classMap.ignoreValue) {
        throw new InputError(file, `pixel (${i % info.width}, ${Math.floor(i / info.width)}) holds class id ${id}; the class map has ${classCount} classes`);
      }
      mask[i] = id;
    }
    return { data: mask, width: info.width, height: info.height };
  }
  const classOfColour = new Map(classMap.colors.map(([r, g, b], id) => [(r << 16) | (g << 8) | b, id]));
  for (let i = 0; i < pixels; i++) {
    const colour = (data[3 * i]! << 16) | (data[3 * i + 1]! << 8) | data[3 * i + 2]!;
    const id = classOfColour.get(colour);
    if (id === undefined) {
      throw new InputError(file, `pixel (${i % info.width}, ${Math.floor(i / info.width)}) has colour rgb(${data[3 * i]}, ${data[3 * i + 1]}, ${data[3 * i + 2]}), which no class has`);
    }
    mask[i] = id;
  }
  return { data: mask, width: info.width, height: info.height };
}
