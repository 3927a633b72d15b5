import type { ClassMap } from '../labels/classMap.js';
import { readLabelMask, readLabelWindows } from '../labels/readLabelMask.js';
import type { ClassMask, GeoReference, LabelledPair } from '../types.js';
import { GeoTiffReader, type PixelWindow } from './geoTiff.js';
import type { ReadLabelMask } from './readLabelledImage.js';

/** A pair's labels ready to give the mask of any window of its image (see the labels module's `readLabelWindows`). */
export interface LabelWindows {
  mask(window: PixelWindow): ClassMask | Promise<ClassMask>;
}

/** Reads a pair's label file for the masks of many windows of its image. */
export type ReadLabelWindows = (
  pair: LabelledPair,
  size: { width: number; height: number },
  classMap: ClassMap,
  options: { format?: string; georeference?: GeoReference },
) => Promise<LabelWindows>;

/**
 * How a reader of masks reads the labels of many windows: the labels module's `readLabelMask` parses the file
 * once (`readLabelWindows`); any other reader is asked again for each window.
 */
export function labelWindowsReader(readMask: ReadLabelMask): ReadLabelWindows {
  if (readMask === readLabelMask) return readLabelWindows;
  return async (pair, size, classMap, options) => ({
    mask: (window) => readMask(pair, size, classMap, { ...options, window }),
  });
}

/** A raster open for reading windows, with its labels read and placed on its pixels. */
export interface OpenRaster {
  raster: GeoTiffReader;
  labels: LabelWindows;
}

interface Entry {
  imagePath: string;
  opening: Promise<OpenRaster>;
  /** Reads using it now: a raster released or evicted is closed once they are done. */
  users: number;
  open: boolean;
}

/** Most rasters held open at once by default: the image being read, and one of another stream beside it. */
const DEFAULT_OPEN_RASTERS = 2;

/**
 * The rasters being read block by block, each opened once with its label file parsed and mapped onto its
 * pixels once, for all its blocks: a label file of 100 MB over a raster of 100 blocks is parsed once, not
 * 100 times. Bounded: a raster is closed and its shapes dropped when `release` says its blocks are done, and
 * at most `limit` are held (opening another closes the least recently used), so memory holds at most `limit`
 * images' open files and parsed labels (a mask image's labels are its whole decoded mask).
 *
 * @example
 * const rasters = new OpenRasters(labelWindowsReader(readLabelMask));
 * const mask = await rasters.use(pair, { classMap }, ({ labels }) => labels.mask(window));
 * rasters.release(pair.imagePath);
 */
export class OpenRasters {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly readLabels: ReadLabelWindows,
    private readonly limit = DEFAULT_OPEN_RASTERS,
  ) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`OpenRasters: limit must be a positive integer, got ${limit}`);
  }

  /**
   * Runs `read` on the pair's open raster and labels, opening them first unless held. Labels read another
   * way (another label file, format or class map) open the raster again.
   * @throws InputError naming the raster or label file that cannot be read (for every read until released).
   */
  async use<T>(
    pair: LabelledPair,
    labels: { classMap: ClassMap; format?: string },
    read: (open: OpenRaster) => Promise<T>,
  ): Promise<T> {
    const key = JSON.stringify([
      pair.imagePath,
      pair.labelPath,
      pair.labelKey ?? null,
      labels.format ?? null,
      { ...labels.classMap, ids: [...labels.classMap.ids] },
    ]);
    let entry = this.entries.get(key);
    const evicted: Array<Promise<void>> = [];
    if (entry) {
      // Most recently used last: a Map iterates in insertion order.
      this.entries.delete(key);
      this.entries.set(key, entry);
    } else {
      entry = { imagePath: pair.imagePath, opening: this.open(pair, labels), users: 0, open: true };
      this.entries.set(key, entry);
      for (const [oldest, held] of this.entries) {
        if (this.entries.size <= this.limit) break;
        evicted.push(this.drop(oldest, held));
      }
    }
    entry.users++;
    try {
      await Promise.all(evicted);
      return await read(await entry.opening);
    } finally {
      entry.users--;
      if (!entry.open && entry.users === 0) await closeEntry(entry);
    }
  }

  /** Closes the rasters of `imagePath` (once the reads using them are done): its blocks are all read. */
  async release(imagePath: string): Promise<void> {
    const closing: Array<Promise<void>> = [];
    for (const [key, entry] of this.entries)
      if (entry.imagePath === imagePath) closing.push(this.drop(key, entry));
    await Promise.all(closing);
  }

  /** Closes every raster held (once the reads using them are done). */
  async releaseAll(): Promise<void> {
    await Promise.all([...this.entries].map(([key, entry]) => this.drop(key, entry)));
  }

  private async drop(key: string, entry: Entry): Promise<void> {
    this.entries.delete(key);
    entry.open = false;
    if (entry.users === 0) await closeEntry(entry);
  }

  private async open(
    pair: LabelledPair,
    options: { classMap: ClassMap; format?: string },
  ): Promise<OpenRaster> {
    const raster = await GeoTiffReader.open(pair.imagePath);
    try {
      const { width, height, georeference } = raster.info;
      // Labels in map coordinates are placed by the raster's georeference.
      const labels = await this.readLabels(pair, { width, height }, options.classMap, {
        ...(options.format === undefined ? {} : { format: options.format }),
        ...(georeference === undefined ? {} : { georeference }),
      });
      return { raster, labels };
    } catch (error) {
      await raster.close();
      throw error;
    }
  }
}

/**
 * Closes an entry's raster; one that failed to open has nothing to close. It was only read, so a failure to
 * close loses nothing and is not the error of the read that happened to close it.
 */
async function closeEntry(entry: Entry): Promise<void> {
  const open = await entry.opening.catch(() => undefined);
  await open?.raster.close().catch(() => undefined);
}
