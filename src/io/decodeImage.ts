import { close as closeFile, open as openFile, read as readFromFile } from 'node:fs';
import { extname } from 'node:path';
import sharp from 'sharp';
import { InputError } from '../errors.js';
import type { RasterImage } from '../types.js';
import { readWholeFile } from '../util/threadFileReads.js';
import { type GeoTiffInfo, GeoTiffReader, type RasterReadOptions, readRasterWindow } from './geoTiff.js';
import { HEADER_BYTES, sizeFromHeader } from './imageHeader.js';
import { jpegDecoder } from './nativeReading.js';

/** Width and height of an image, from its header. */
export interface ImageSize {
  width: number;
  height: number;
}

/** Width, height and the channels `decodeImage` gives an image, from its header. */
export interface ImageHeader extends ImageSize {
  channels: number;
  /** Read band by band with geotiff.js (see `headerOf`), so that any window of it can be read alone. */
  raster: boolean;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}

const isTiffPath = (path: string): boolean => ['.tif', '.tiff'].includes(extname(path).toLowerCase());

/** Whether a TIFF of this header is read band by band (see `headerOf`). */
function readsAsRaster(info: GeoTiffInfo, raster: RasterReadOptions | undefined): boolean {
  const { georeference, bands, sampleFormat, bitsPerSample } = info;
  const selected = raster?.bands !== undefined || raster?.ranges !== undefined;
  return (
    selected ||
    georeference !== undefined ||
    ![1, 3, 4].includes(bands) ||
    sampleFormat !== 'uint' ||
    bitsPerSample !== 8
  );
}

/**
 * What an image's header says before any read option applies: a TIFF's whole header (whether it is read as a
 * raster depends on the options, see `headerOf`), or another image's size.
 */
export type ImageProbe = { tiff: GeoTiffInfo } | { size: ImageSize };

/**
 * Reads an image's header once, so that a run can ask what it is under several read options (`headerOf`).
 * @throws InputError naming the file when it is missing or not an image.
 */
export async function probeImage(path: string): Promise<ImageProbe> {
  if (!isTiffPath(path)) return { size: await readImageSize(path) };
  const reader = await GeoTiffReader.open(path);
  await reader.close();
  return { tiff: reader.info };
}

/**
 * The size and channel count `decodeImage` gives an image of this header under these read options: 3 for
 * PNG, JPEG and the like; one per selected band for rasters, the TIFFs that an RGB conversion would lose
 * something of (georeferenced, more or fewer bands than gray/RGB/RGBA, samples other than 8-bit unsigned, or
 * bands or ranges given), which are read band by band with geotiff.js.
 */
export function headerOf(probe: ImageProbe, raster?: RasterReadOptions): ImageHeader {
  if ('size' in probe) return { ...probe.size, channels: 3, raster: false };
  const { width, height, bands } = probe.tiff;
  if (!readsAsRaster(probe.tiff, raster)) return { width, height, channels: 3, raster: false };
  return { width, height, channels: raster?.bands?.length ?? bands, raster: true };
}

/** Whether `decodeImage` reads this file as a raster with geotiff.js (see `headerOf`), rather than as RGB with sharp. */
export async function isRasterFile(path: string, raster?: RasterReadOptions): Promise<boolean> {
  return (await readImageHeader(path, raster)).raster;
}

/**
 * The size and channel count `decodeImage` will give an image, from its header (see `headerOf`).
 *
 * @example
 * const { width, height, channels } = await readImageHeader('scene.tif'); // channels: 4 for a 4-band raster
 *
 * @throws InputError naming the file when it is missing or not an image.
 */
export async function readImageHeader(path: string, raster?: RasterReadOptions): Promise<ImageHeader> {
  return headerOf(await probeImage(path), raster);
}

/**
 * A buffer that `decodeImage` decodes a JPEG into (growing it when an image is larger), for a reader that
 * decodes image after image and is done with each image's pixels before the next: memory the process has
 * already touched, instead of fresh pages for every image.
 */
export interface ReusablePixels {
  bytes: Uint8Array;
}

/** A JPEG decoded by the libjpeg-turbo binding, or null where sharp must decode it (see `jpegDecoder`). */
function decodeWithBinding(bytes: Uint8Array, reuse: ReusablePixels | undefined): RasterImage | null {
  const decoder = jpegDecoder();
  if (!('binding' in decoder) || bytes[0] !== 0xff || bytes[1] !== 0xd8) return null;
  try {
    const image = decoder.binding.decodeJpeg(bytes, reuse?.bytes);
    if (!image) return null;
    // An image larger than the buffer came in a new one, the right size: it is the buffer from now on.
    if (reuse && image.data.buffer !== reuse.bytes.buffer) reuse.bytes = image.data;
    return { data: image.data, width: image.width, height: image.height, channels: 3 };
  } catch {
    // A file libjpeg cannot decode: sharp reads it again and names what is wrong, as without the binding.
    return null;
  }
}

/**
 * Decodes an image file (PNG, JPEG, TIFF, WebP...) into 8-bit interleaved pixels. Images are RGB: grayscale
 * becomes RGB, alpha is dropped, 16-bit samples are scaled to 8 bits. The EXIF orientation is not applied,
 * because label coordinates refer to the stored pixels. GeoTIFFs and multi-band or 16-bit/float TIFFs are
 * rasters instead: one channel per band of `raster.bands` (default all), each scaled to 8 bits by its range,
 * with the georeference (see `readGeoTiffImage`).
 *
 * @example
 * const image = await decodeImage('data/images/tile_001.jpg'); // { data, width, height, channels: 3 }
 *
 * @param path the image file.
 * @param raster band selection and ranges for rasters.
 * @param reuse a buffer a JPEG may be decoded into; the returned pixels are then a view of it, valid until
 *   the next decode into it.
 * @returns the image, row-major.
 * @throws InputError naming the file when it cannot be read or decoded (missing, corrupt, truncated).
 */
export async function decodeImage(
  path: string,
  raster?: RasterReadOptions,
  reuse?: ReusablePixels,
): Promise<RasterImage> {
  if (typeof path !== 'string' || path.length === 0) {
    throw new TypeError(`decodeImage: path must be a non-empty file path, got ${JSON.stringify(path)}`);
  }
  if (isTiffPath(path)) {
    // One open serves both the header that decides how to read and, for a raster, the read itself.
    const reader = await GeoTiffReader.open(path);
    try {
      if (readsAsRaster(reader.info, raster)) return await readRasterWindow(reader, raster);
    } finally {
      await reader.close();
    }
  }
  try {
    // The file's bytes, not its path: given a path, libvips opens and sniffs the file for each loader it
    // knows (38 opens and stats for a JPEG), about 2 ms of a 13-15 ms decode on a 2-core EPYC.
    const bytes = await readWholeFile(path);
    const decoded = decodeWithBinding(bytes, reuse);
    if (decoded) return decoded;
    // toColourspace('srgb') expands grayscale to RGB and brings 16-bit samples down to 8 bits.
    const { data, info } = await sharp(bytes, { failOn: 'error', limitInputPixels: false })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels instead of 3`);
    if (data.byteLength !== info.width * info.height * 3)
      throw new Error(`decoded to ${data.byteLength} bytes, not 8-bit RGB`);
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      width: info.width,
      height: info.height,
      channels: 3,
    };
  } catch (error) {
    throw new InputError(path, `cannot decode image: ${describe(error)}`, { cause: error });
  }
}

/**
 * The first `HEADER_BYTES` of a file (fewer when it is shorter), through fs's callbacks rather than a
 * FileHandle: the source reads this on the main thread for every image of every epoch, where the promise API
 * costs five times the CPU (0.3-0.4 against 0.07 ms a file on the 2-core EPYC VMs).
 */
function readFileStart(path: string): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    openFile(path, 'r', (openError, fd) => {
      if (openError) return reject(openError);
      const buffer = new Uint8Array(HEADER_BYTES);
      readFromFile(fd, buffer, 0, HEADER_BYTES, 0, (readError, bytesRead) =>
        closeFile(fd, (closeError) => {
          const error = readError ?? closeError;
          if (error) reject(error);
          else resolve(buffer.subarray(0, bytesRead));
        }),
      );
    });
  });
}

/**
 * Reads an image's width and height from its header, without decoding the pixels: PNG and JPEG from their
 * first bytes, other formats through sharp.
 *
 * @example
 * const { width, height } = await readImageSize('data/images/tile_001.png');
 *
 * @param path the image file.
 * @throws InputError naming the file when it is missing or not an image.
 */
export async function readImageSize(path: string): Promise<ImageSize> {
  if (typeof path !== 'string' || path.length === 0) {
    throw new TypeError(`readImageSize: path must be a non-empty file path, got ${JSON.stringify(path)}`);
  }
  let width: number | undefined;
  let height: number | undefined;
  try {
    // Called for every image on the main thread before it is read: sharp's metadata costs twice the CPU.
    ({ width, height } =
      sizeFromHeader(await readFileStart(path)) ??
      (await sharp(path, { limitInputPixels: false }).metadata()));
  } catch (error) {
    throw new InputError(path, `cannot read image header: ${describe(error)}`, { cause: error });
  }
  if (!width || !height) throw new InputError(path, 'image header has no width or height');
  return { width, height };
}
