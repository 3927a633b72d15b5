import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { InputError } from '../errors.js';
import type { ClassMask } from '../types.js';
import type { ClassMap } from './classMap.js';

/**
 * Reads a mask image: single-channel (grey) masks hold class ids directly (the ignore value allowed);
 * colour masks (RGB, or palette PNGs, which decode to their colours) map each colour to the class of that
 * colour in `classMap.colors`, and the colours of `classMap.ignoreColors` to the ignore value. An unknown id
 * or colour, or a size other than the image's, is an InputError.
 */
export async function readPngMask(
  file: string,
  size: { width: number; height: number },
  classMap: ClassMap,
): Promise<ClassMask> {
  const checkSize = (width: number | undefined, height: number | undefined): void => {
    if (width !== size.width || height !== size.height) {
      throw new InputError(file, `mask is ${width}x${height} but the image is ${size.width}x${size.height}`);
    }
  };
  const cannotDecode = (error: unknown) =>
    new InputError(file, `cannot decode mask image (${(error as Error).message})`, { cause: error });
  const image = sharp(file);
  let header: Metadata;
  try {
    header = await image.metadata();
  } catch (error) {
    throw cannotDecode(error);
  }
  // From the header, before decoding: a small file can decode to gigabytes.
  checkSize(header.width, header.height);
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    // Grey (with or without alpha) holds class ids; anything else is colour.
    const pipeline =
      header.channels !== undefined && header.channels <= 2 ? image.extractChannel(0) : image.removeAlpha();
    decoded = await pipeline.raw().toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw cannotDecode(error);
  }
  const { data, info } = decoded;
  checkSize(info.width, info.height);
  const pixels = info.width * info.height;
  const mask = new Uint8Array(pixels);
  const classCount = classMap.names.length;
  if (info.channels === 1) {
    for (let i = 0; i < pixels; i++) {
      const id = data[i]!;
      if (id >= classCount && id !== classMap.ignoreValue) {
        throw new InputError(
          file,
          `pixel (${i % info.width}, ${Math.floor(i / info.width)}) holds class id ${id}; the class map has ${classCount} classes`,
        );
      }
      mask[i] = id;
    }
    return { data: mask, width: info.width, height: info.height };
  }
  const key = ([r, g, b]: readonly [number, number, number]): number => (r << 16) | (g << 8) | b;
  // Ignore colours first: a colour listed as both keeps its class.
  const classOfColour = new Map([
    ...(classMap.ignoreColors ?? []).map((c): [number, number] => [key(c), classMap.ignoreValue]),
    ...classMap.colors.map((c, id): [number, number] => [key(c), id]),
  ]);
  for (let i = 0; i < pixels; i++) {
    const colour = (data[3 * i]! << 16) | (data[3 * i + 1]! << 8) | data[3 * i + 2]!;
    const id = classOfColour.get(colour);
    if (id === undefined) {
      throw new InputError(
        file,
        `pixel (${i % info.width}, ${Math.floor(i / info.width)}) has colour rgb(${data[3 * i]}, ${data[3 * i + 1]}, ${data[3 * i + 2]}), which no class has (a class file's "ignoreColors" can mark it as ignored)`,
      );
    }
    mask[i] = id;
  }
  return { data: mask, width: info.width, height: info.height };
}
