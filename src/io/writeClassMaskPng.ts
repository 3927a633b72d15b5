import sharp, { type Sharp } from 'sharp';
import type { ClassMask } from '../types.js';

/**
 * Encodes a class mask as a single-channel 8-bit PNG (class ids, ignore as 255). sharp writes one-channel
 * raw input as RGB unless told the colour space, which would triple the file and break readers that take
 * the first channel of a grey PNG only by luck.
 */
export function classMaskPng(mask: ClassMask): Sharp {
  return sharp(mask.data, { raw: { width: mask.width, height: mask.height, channels: 1 } })
    .toColourspace('b-w')
    .png();
}

/** Writes a class mask as a single-channel PNG file. */
export async function writeClassMaskPng(path: string, mask: ClassMask): Promise<void> {
  await classMaskPng(mask).toFile(path);
}
