import sharp from 'sharp';
import { writeClassMaskPng } from '../io/writeClassMaskPng.js';
import type { ClassMask, RasterImage } from '../types.js';

/**
 * Writes a class-index mask as a one-channel 8-bit PNG (pixel value = class id), the format the label
 * pipeline writes, so predictions can be scored or viewed like labels.
 *
 * @example
 * ```ts
 * await writeClassPng(prediction.classes, 'out/scene.classes.png');
 * ```
 * @param mask Class ids.
 * @param path Output file.
 */
export async function writeClassPng(mask: ClassMask, path: string): Promise<void> {
  await writeClassMaskPng(path, mask);
}

/** RGB of each pixel's class; classes beyond the palette are grey. */
export function colourMask(
  mask: ClassMask,
  colors: ReadonlyArray<readonly [number, number, number]>,
): Uint8Array {
  const rgb = new Uint8Array(mask.width * mask.height * 3);
  mask.data.forEach((id, pixel) => rgb.set(colors[id] ?? [128, 128, 128], pixel * 3));
  return rgb;
}

/**
 * An image as RGB for viewing: its first three channels (the bands in the order selected: put red, green
 * and blue first to see true colour), or its first channel as grey for images of one or two channels.
 */
export function displayRgb(image: RasterImage): Uint8Array {
  const { channels } = image;
  if (channels === 3) return image.data;
  const pixels = image.width * image.height;
  const rgb = new Uint8Array(pixels * 3);
  for (let pixel = 0; pixel < pixels; pixel++) {
    for (let c = 0; c < 3; c++) rgb[pixel * 3 + c] = image.data[pixel * channels + (channels >= 3 ? c : 0)]!;
  }
  return rgb;
}

/**
 * The image with its predicted classes painted over it: background pixels (class 0) unchanged, other
 * classes blended with their colour. Images of other than 3 channels are shown as {@link displayRgb} does.
 *
 * @example
 * ```ts
 * const png = await overlayPng(image, prediction.classes, classMap.colors);
 * ```
 * @param image The source image.
 * @param mask Predicted classes, same size.
 * @param colors Colour per class id.
 * @param opacity [0.5] Weight of the class colour.
 */
export async function overlayPng(
  image: RasterImage,
  mask: ClassMask,
  colors: ReadonlyArray<readonly [number, number, number]>,
  opacity = 0.5,
): Promise<Buffer> {
  if (image.width !== mask.width || image.height !== mask.height) {
    throw new RangeError(
      `overlayPng: image is ${image.width}x${image.height} but the mask is ${mask.width}x${mask.height}`,
    );
  }
  const colours = colourMask(mask, colors);
  const rgb = displayRgb(image);
  const out = new Uint8Array(image.width * image.height * 3);
  for (let pixel = 0; pixel < mask.data.length; pixel++) {
    const paint = mask.data[pixel] === 0 ? 0 : opacity;
    for (let c = 0; c < 3; c++) {
      out[pixel * 3 + c] = Math.round((1 - paint) * rgb[pixel * 3 + c]! + paint * colours[pixel * 3 + c]!);
    }
  }
  return sharp(out, { raw: { width: image.width, height: image.height, channels: 3 } })
    .png()
    .toBuffer();
}

/** Longest side of a side-by-side panel; larger images are scaled down to keep events small. */
const PANEL_MAX_SIDE = 256;

/**
 * Image, label colours and prediction colours side by side in one PNG (scaled to at most 256 pixels high),
 * for dashboards and TensorBoard.
 *
 * @example
 * ```ts
 * const { png } = await sidePanelPng(image, labelMask, predicted, classMap.colors);
 * ```
 * @param image The image.
 * @param label Its label mask (ignored pixels grey).
 * @param predicted Predicted classes.
 * @param colors Colour per class id.
 */
export async function sidePanelPng(
  image: RasterImage,
  label: ClassMask,
  predicted: ClassMask,
  colors: ReadonlyArray<readonly [number, number, number]>,
): Promise<{ png: Buffer; width: number; height: number }> {
  const scale = Math.min(1, PANEL_MAX_SIDE / Math.max(image.width, image.height));
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  const part = (data: Uint8Array): Promise<Buffer> =>
    sharp(data, { raw: { width: image.width, height: image.height, channels: 3 } })
      .resize(width, height, { kernel: 'nearest' })
      .raw()
      .toBuffer();
  const parts = await Promise.all([
    part(displayRgb(image)),
    part(colourMask(label, colors)),
    part(colourMask(predicted, colors)),
  ]);
  const png = await sharp({
    create: { width: width * 3, height, channels: 3, background: { r: 255, g: 255, b: 255 } },
  })
    .composite(
      parts.map((input, i) => ({
        input,
        raw: { width, height, channels: 3 as const },
        left: i * width,
        top: 0,
      })),
    )
    .png()
    .toBuffer();
  return { png, width: width * 3, height };
}
