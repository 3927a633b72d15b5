import { open, rename, rm } from 'node:fs/promises';
import { fromFile } from 'geotiff';
import { InputError } from '../errors.js';
import type { GeoReference } from '../types.js';
import type { Shard } from '../util/shard.js';
import { type RowRange, type SlidingWindowOptions, windowSizes, windowStarts } from './slidingWindow.js';
import { classStripRows, GeoTiffStripWriter } from './writeClassGeoTiff.js';

/**
 * The rows of a raster `width` x `height` that `shard` predicts when the raster is split between the shards
 * of a job: contiguous bands, shard k's starting at the window start nearest k/count of the height, moved up
 * to a strip boundary of the class GeoTIFF. On strip boundaries, each part's strips are the whole file's, so
 * `assembleClassGeoTiff` copies them without inflating anything; near a window start, a shard recomputes
 * only the row of windows that ends in its rows (where strips are at most half a window apart). The range
 * is empty for a shard left without rows (more shards than strips).
 *
 * @example
 * shardRows(4096, 4096, { tileSize: 256 }, { index: 1, count: 3 }) // { start: 1344, end: 2688 }
 */
export function shardRows(
  width: number,
  height: number,
  options: SlidingWindowOptions,
  shard: Shard,
): RowRange {
  const { tileSize, overlap } = windowSizes(options);
  const starts = windowStarts(height, tileSize, overlap);
  const stripRows = classStripRows(width, height);
  const boundary = (k: number): number => {
    if (k === shard.count) return height;
    const even = (k * height) / shard.count;
    const nearest = starts.reduce((best, y) => (Math.abs(y - even) < Math.abs(best - even) ? y : best));
    return Math.floor(nearest / stripRows) * stripRows;
  };
  return { start: boundary(shard.index), end: boundary(shard.index + 1) };
}

/** A class GeoTIFF of some rows of a raster, as a shard wrote it. */
export interface ClassRasterPart {
  path: string;
  /** Its rows in the whole raster. */
  rows: RowRange;
}

/** The strips of a class GeoTIFF: where each lies in the file and its size. */
async function stripsOf(
  path: string,
  expected: { width: number; height: number; rowsPerStrip: number },
): Promise<Array<{ offset: number; bytes: number }>> {
  const tiff = await fromFile(path).catch((error: unknown) => {
    throw new InputError(path, `cannot read TIFF: ${(error as Error).message}`, { cause: error });
  });
  try {
    const image = await tiff.getImage();
    const directory = image.fileDirectory;
    const found = {
      width: image.getWidth(),
      height: image.getHeight(),
      rowsPerStrip: Number(await directory.loadValue('RowsPerStrip')),
    };
    if (
      found.width !== expected.width ||
      found.height !== expected.height ||
      found.rowsPerStrip !== expected.rowsPerStrip
    )
      throw new InputError(
        path,
        `is ${found.width}x${found.height} in strips of ${found.rowsPerStrip} rows, not the part of ${expected.width}x${expected.height} in strips of ${expected.rowsPerStrip} rows its manifest names: rerun its shard`,
      );
    const offsets = Array.from((await directory.loadValue('StripOffsets')) as ArrayLike<number>, Number);
    const counts = Array.from((await directory.loadValue('StripByteCounts')) as ArrayLike<number>, Number);
    return offsets.map((offset, k) => ({ offset, bytes: counts[k]! }));
  } finally {
    await tiff.close();
  }
}

/**
 * Writes the class GeoTIFF of a whole raster from the parts its shards wrote (see {@link shardRows}),
 * byte for byte the file one process writes: every part's deflated strips copied in order, one at a time
 * (memory holds one strip), then the directory. Written to a temporary name and renamed into place.
 *
 * @param parts Contiguous parts from row 0 to `height`, in order.
 * @throws InputError naming a part that is not the part of this raster it should be.
 */
export async function assembleClassGeoTiff(
  path: string,
  raster: { width: number; height: number; georeference?: GeoReference },
  parts: readonly ClassRasterPart[],
): Promise<void> {
  const rowsPerStrip = classStripRows(raster.width, raster.height);
  const temporary = `${path}.${process.pid}.tmp`;
  const writer = await GeoTiffStripWriter.create(temporary, raster);
  try {
    for (const { path: partPath, rows } of parts) {
      const strips = await stripsOf(partPath, {
        width: raster.width,
        height: rows.end - rows.start,
        rowsPerStrip,
      });
      const file = await open(partPath, 'r');
      try {
        for (const { offset, bytes } of strips) {
          const strip = new Uint8Array(bytes);
          await file.read(strip, 0, bytes, offset);
          await writer.writeStrip(strip);
        }
      } finally {
        await file.close();
      }
    }
    await writer.close();
  } catch (error) {
    await writer.close().catch(() => undefined);
    await rm(temporary, { force: true });
    throw error;
  }
  await rename(temporary, path);
}
