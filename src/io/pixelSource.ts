import type { RasterImage } from '../types.js';
import { type BandRange, type GeoTiffReader, type PixelWindow, toEightBitPixels } from './geoTiff.js';

/**
 * An image read window by window as interleaved 8-bit pixels: a decoded image in memory, or a raster on
 * disk of which only the windows asked for are decoded. Pixels outside the image read as 0.
 */
export interface PixelSource {
  width: number;
  height: number;
  channels: number;
  read(window: PixelWindow): Promise<Uint8Array>;
}

/** A decoded image as a pixel source (windows are copies). */
export function imagePixelSource(image: RasterImage): PixelSource {
  const { width, height, channels, data } = image;
  return {
    width,
    height,
    channels,
    read: async ({ x, y, width: windowWidth, height: windowHeight }) => {
      const out = new Uint8Array(windowWidth * windowHeight * channels);
      const left = Math.max(0, x);
      const right = Math.min(width, x + windowWidth);
      for (let row = Math.max(0, y); row < Math.min(height, y + windowHeight) && right > left; row++) {
        out.set(
          data.subarray((row * width + left) * channels, (row * width + right) * channels),
          ((row - y) * windowWidth + left - x) * channels,
        );
      }
      return out;
    },
  };
}

/** The selected bands of an open GeoTIFF as a pixel source, each band mapped onto 0..255 by its range. */
export function geoTiffPixelSource(
  raster: GeoTiffReader,
  bands: readonly number[],
  ranges: readonly BandRange[],
): PixelSource {
  return {
    width: raster.info.width,
    height: raster.info.height,
    channels: bands.length,
    read: async (window) => toEightBitPixels(await raster.readWindow(window, bands), ranges),
  };
}
