import type { BandRange, RasterReadOptions } from '../io/geoTiff.js';

/**
 * `--band-ranges`: one `low:high` per band, comma-separated (`0:3000,0:3000,0:3000,0:5000`), mapping each
 * band's samples onto 0..255.
 *
 * @throws RangeError naming the flag and the part that is not a range of two numbers with low < high.
 */
export function parseBandRanges(value: string): BandRange[] {
  return value.split(',').map((part) => {
    const [low, high, ...rest] = part.split(':').map((n) => (n.trim() === '' ? NaN : Number(n)));
    if (rest.length > 0 || !Number.isFinite(low) || !Number.isFinite(high) || !(low! < high!)) {
      throw new RangeError(
        `--band-ranges must be low:high per band, comma-separated, with low < high; got '${part}' in '${value}'`,
      );
    }
    return { low: low!, high: high! };
  });
}

/**
 * The raster read options of `--bands` (band numbers from 1, as GDAL counts them) and `--band-ranges`;
 * undefined when neither is given (every band, ranges from the data).
 *
 * @example
 * rasterReadOptions([4, 3, 2], '0:4000,0:3000,0:3000'); // { bands: [3, 2, 1], ranges: [...] }
 * @throws RangeError naming the flag when a band number is not an integer >= 1, or the counts differ.
 */
export function rasterReadOptions(
  bands: readonly number[] | undefined,
  bandRanges: string | undefined,
): RasterReadOptions | undefined {
  if (bands === undefined && bandRanges === undefined) return undefined;
  if (
    bands !== undefined &&
    (bands.length === 0 || bands.some((band) => !Number.isInteger(band) || band < 1))
  ) {
    throw new RangeError(
      `--bands must be band numbers from 1 (as GDAL counts them), comma-separated, got ${bands.join(',')}`,
    );
  }
  const ranges = bandRanges === undefined ? undefined : parseBandRanges(bandRanges);
  if (bands && ranges && ranges.length !== bands.length)
    throw new RangeError(
      `--band-ranges gives ${ranges.length} ranges for the ${bands.length} bands of --bands`,
    );
  return { ...(bands ? { bands: bands.map((band) => band - 1) } : {}), ...(ranges ? { ranges } : {}) };
}

/**
 * The raster read options a resumed run reads with: those given, or, when they give no ranges, the ranges its
 * run.json recorded for the same band selection, so that the run goes on reading its rasters as it did
 * (without another statistics pass over every training raster) even if the rasters changed since.
 *
 * @example
 * resumedRasterOptions(undefined, manifest.input?.raster); // { ranges: [...] } as recorded
 */
export function resumedRasterOptions(
  given: RasterReadOptions | undefined,
  recorded: RasterReadOptions | undefined,
): RasterReadOptions | undefined {
  if (given?.ranges || !recorded?.ranges) return given;
  if (JSON.stringify(given?.bands) !== JSON.stringify(recorded.bands)) return given;
  return { ...given, ranges: recorded.ranges };
}
