import { stat } from 'node:fs/promises';
import { fromFile, type GeoTIFF, type GeoTIFFImage, type TypedArray } from 'geotiff';
import { InputError } from '../errors.js';
import type { GeoReference, RasterImage } from '../types.js';

/** A rectangle of pixels: top-left column and row, width and height. Parts outside the raster read as 0. */
export interface PixelWindow {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** What a GeoTIFF holds, from its header. */
export interface GeoTiffInfo {
  width: number;
  height: number;
  /** Samples per pixel. */
  bands: number;
  /** Bits per sample of the first band (8, 16, 32...). */
  bitsPerSample: number;
  /** How samples are stored: unsigned or signed integers, or floating point. */
  sampleFormat: 'uint' | 'int' | 'float';
  /** Undefined for a TIFF without georeferencing tags. */
  georeference: GeoReference | undefined;
}

/** Linear map of one band's samples onto 0..255: `low` and below to 0, `high` and above to 255. */
export interface BandRange {
  low: number;
  high: number;
}

/** How a GeoTIFF becomes 8-bit pixels: which bands, in which order, and the range of each. */
export interface RasterReadOptions {
  /** 0-based band indices, in the order the image's channels take them. [all bands] */
  bands?: readonly number[];
  /**
   * Range of each selected band. Default: 0..255 for 8-bit unsigned bands; otherwise mean +/- 3 standard
   * deviations (within the band's minimum and maximum) from a streaming pass over the raster.
   */
  ranges?: readonly BandRange[];
}

const SAMPLE_FORMATS = { 1: 'uint', 2: 'int', 3: 'float' } as const;
/** GeoKey values: GTModelTypeGeoKey 1 = projected, 2 = geographic; GTRasterTypeGeoKey 2 = PixelIsPoint. */
const MODEL_PROJECTED = 1;
const RASTER_PIXEL_IS_POINT = 2;
const USER_DEFINED = 32767;

function describe(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}

/**
 * The georeference of a GeoTIFF image: the transform from ModelTransformation, or from ModelTiepoint and
 * ModelPixelScale (north-up), shifted half a pixel for PixelIsPoint rasters so that it always maps pixel
 * corners; the EPSG code from ProjectedCSTypeGeoKey or GeographicTypeGeoKey.
 *
 * @throws InputError naming the file when the tags are incomplete or the CRS is user-defined.
 */
function georeferenceOf(image: GeoTIFFImage, path: string): GeoReference | undefined {
  const directory = image.fileDirectory;
  const matrix = directory.getValue('ModelTransformation') as ArrayLike<number> | undefined;
  const tiepoint = directory.getValue('ModelTiepoint') as ArrayLike<number> | undefined;
  const scale = directory.getValue('ModelPixelScale') as ArrayLike<number> | undefined;
  let transform: GeoReference['transform'];
  if (matrix && matrix.length >= 8) {
    transform = [matrix[3]!, matrix[0]!, matrix[1]!, matrix[7]!, matrix[4]!, matrix[5]!];
  } else if (tiepoint && tiepoint.length >= 6 && scale && scale.length >= 2) {
    // Tiepoint (i, j, k, x, y, z): pixel (i, j) lies at map (x, y); rows go south, so y falls by scale[1].
    const [i, j, , x, y] = Array.from(tiepoint);
    transform = [x! - i! * scale[0]!, scale[0]!, 0, y! + j! * scale[1]!, 0, -scale[1]!];
  } else {
    return undefined;
  }
  const keys = image.getGeoKeys() ?? {};
  if (keys.GTRasterTypeGeoKey === RASTER_PIXEL_IS_POINT) {
    transform = [
      transform[0] - 0.5 * (transform[1] + transform[2]),
      transform[1],
      transform[2],
      transform[3] - 0.5 * (transform[4] + transform[5]),
      transform[4],
      transform[5],
    ];
  }
  const epsg = (
    keys.GTModelTypeGeoKey === MODEL_PROJECTED ? keys.ProjectedCSTypeGeoKey : keys.GeographicTypeGeoKey
  ) as number | undefined;
  if (epsg === undefined || epsg === USER_DEFINED) {
    throw new InputError(
      path,
      'georeferenced, but its GeoKeys name no EPSG code for its coordinate reference system (user-defined CRS are not read)',
    );
  }
  return { transform, epsg };
}

/**
 * An open GeoTIFF (or Cloud-Optimized GeoTIFF) that reads windows of bands: only the strips or tiles a
 * window touches are decoded, so a raster far larger than memory can be read tile by tile. Close it when done.
 *
 * @example
 * const raster = await GeoTiffReader.open('scene.tif');
 * const [red, nir] = await raster.readWindow({ x: 0, y: 0, width: 256, height: 256 }, [0, 3]);
 * await raster.close();
 */
export class GeoTiffReader {
  private constructor(
    readonly path: string,
    readonly info: GeoTiffInfo,
    private readonly tiff: GeoTIFF,
    private readonly image: GeoTIFFImage,
  ) {}

  /** Opens a GeoTIFF and reads its header. @throws InputError naming the file when it is missing or not a TIFF. */
  static async open(path: string): Promise<GeoTiffReader> {
    let tiff: GeoTIFF;
    let image: GeoTIFFImage;
    try {
      tiff = await fromFile(path);
      image = await tiff.getImage();
    } catch (error) {
      throw new InputError(path, `cannot read TIFF: ${describe(error)}`, { cause: error });
    }
    try {
      const format = SAMPLE_FORMATS[image.getSampleFormat(0) as keyof typeof SAMPLE_FORMATS];
      if (format === undefined)
        throw new InputError(
          path,
          `sample format ${image.getSampleFormat(0)} is not unsigned, signed or floating point`,
        );
      const info: GeoTiffInfo = {
        width: image.getWidth(),
        height: image.getHeight(),
        bands: image.getSamplesPerPixel(),
        bitsPerSample: image.getBitsPerSample(0),
        sampleFormat: format,
        georeference: georeferenceOf(image, path),
      };
      return new GeoTiffReader(path, info, tiff, image);
    } catch (error) {
      await tiff.close();
      throw error;
    }
  }

  /**
   * The samples of `bands` (0-based; default all) in `window`, one array per band, row-major.
   * @throws RangeError for a band the raster lacks; InputError naming the file when its data cannot be decoded.
   */
  async readWindow(window: PixelWindow, bands: readonly number[] = this.allBands()): Promise<TypedArray[]> {
    for (const band of bands) {
      if (!Number.isInteger(band) || band < 0 || band >= this.info.bands) {
        throw new RangeError(
          `${this.path}: band ${band} does not exist (the raster has ${this.info.bands}, numbered from 0)`,
        );
      }
    }
    const { x, y, width, height } = window;
    try {
      const rasters = await this.image.readRasters({
        window: [x, y, x + width, y + height],
        samples: [...bands],
        interleave: false,
        fillValue: 0,
      });
      return Array.from(rasters as TypedArray[]);
    } catch (error) {
      throw new InputError(
        this.path,
        `cannot decode window ${width}x${height} at (${x}, ${y}): ${describe(error)}`,
        { cause: error },
      );
    }
  }

  /** Closes the file. */
  async close(): Promise<void> {
    await this.tiff.close();
  }

  private allBands(): number[] {
    return Array.from({ length: this.info.bands }, (_, band) => band);
  }
}

/** Minimum, maximum, mean and standard deviation of one band. */
export interface BandStatistics {
  min: number;
  max: number;
  mean: number;
  std: number;
}

/** Side of the square windows a streaming pass reads: 4 MiB per 16-bit band, whatever the raster's size. */
const STATISTICS_WINDOW = 1024;

/** Running moments of one band: what statistics merge (count, mean, sum of squared deviations, bounds). */
interface BandMoments {
  count: number;
  mean: number;
  m2: number;
  min: number;
  max: number;
}

const noMoments = (): BandMoments => ({ count: 0, mean: 0, m2: 0, min: Infinity, max: -Infinity });

/** Adds `part` into `total` (Chan et al.'s pairwise merge), which keeps the variance exact for billions of samples. */
function mergeMoments(total: BandMoments, part: BandMoments): void {
  const count = total.count + part.count;
  if (count === 0) return;
  const delta = part.mean - total.mean;
  total.mean += (delta * part.count) / count;
  total.m2 += part.m2 + (delta * delta * total.count * part.count) / count;
  total.count = count;
  total.min = Math.min(total.min, part.min);
  total.max = Math.max(total.max, part.max);
}

/** The moments of one window's samples, in double precision. */
function windowMoments(values: TypedArray): BandMoments {
  let sum = 0,
    min = Infinity,
    max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = sum / values.length;
  let m2 = 0;
  for (let i = 0; i < values.length; i++) m2 += (values[i]! - mean) ** 2;
  return { count: values.length, mean, m2, min, max };
}

/** Adds every sample of the raster's `bands` into `totals` (one per band), window by window. */
async function addRasterMoments(
  raster: GeoTiffReader,
  bands: readonly number[],
  totals: BandMoments[],
): Promise<void> {
  const { width, height } = raster.info;
  for (let y = 0; y < height; y += STATISTICS_WINDOW) {
    for (let x = 0; x < width; x += STATISTICS_WINDOW) {
      const window = {
        x,
        y,
        width: Math.min(STATISTICS_WINDOW, width - x),
        height: Math.min(STATISTICS_WINDOW, height - y),
      };
      const samples = await raster.readWindow(window, bands);
      samples.forEach((values, b) => mergeMoments(totals[b]!, windowMoments(values)));
    }
  }
}

const statisticsOf = ({ count, mean, m2, min, max }: BandMoments): BandStatistics => ({
  min,
  max,
  mean,
  std: Math.sqrt(m2 / count),
});

/**
 * Statistics of each band in one streaming pass over windows of the raster, so memory stays that of one
 * window. Sums are taken in double precision per window and then merged (Chan et al.), which keeps the
 * variance exact enough for 16-bit and float rasters of billions of pixels.
 */
export async function bandStatistics(
  raster: GeoTiffReader,
  bands: readonly number[],
): Promise<BandStatistics[]> {
  const totals = bands.map(noMoments);
  await addRasterMoments(raster, bands, totals);
  return totals.map(statisticsOf);
}

/**
 * The ranges that one run reads all its rasters with: the rule of `bandRanges` applied to the rasters
 * together, so that every raster of a survey maps a sample value onto the same 8-bit value. Undefined when
 * every raster is 8-bit unsigned (each maps 0..255 already); else, per selected band (default all), mean
 * +/- 3 standard deviations within the minimum and maximum over every pixel of every raster, from one
 * streaming pass that merges the moments of each window of each file. `onUnreadable` is given the error of a
 * raster that cannot be read (to skip it); without it the error is thrown.
 *
 * @example
 * const ranges = await sharedBandRanges(['a.tif', 'b.tif'], [3, 2, 1]); // one { low, high } per band
 */
export async function sharedBandRanges(
  paths: readonly string[],
  bands?: readonly number[],
  onUnreadable?: (error: unknown) => void,
): Promise<BandRange[] | undefined> {
  const guarded = async (path: string, use: (raster: GeoTiffReader) => Promise<void>): Promise<void> => {
    try {
      const raster = await GeoTiffReader.open(path);
      try {
        await use(raster);
      } finally {
        await raster.close();
      }
    } catch (error) {
      if (!onUnreadable) throw error;
      onUnreadable(error);
    }
  };
  const readable: string[] = [];
  let eightBit = true;
  for (const path of paths) {
    await guarded(path, async ({ info }) => {
      eightBit &&= info.sampleFormat === 'uint' && info.bitsPerSample === 8;
      readable.push(path);
    });
  }
  if (eightBit || readable.length === 0) return undefined;
  let totals: BandMoments[] | undefined;
  for (const path of readable) {
    await guarded(path, async (raster) => {
      const selected = bands ?? Array.from({ length: raster.info.bands }, (_, band) => band);
      if (totals && selected.length !== totals.length)
        throw new InputError(
          path,
          `has ${selected.length} bands where the run's other rasters have ${totals.length}: select bands with --bands`,
        );
      // Per file, then merged, so that a file that fails halfway adds nothing.
      const fileTotals = selected.map(noMoments);
      await addRasterMoments(raster, selected, fileTotals);
      if (!totals) totals = fileTotals;
      else fileTotals.forEach((part, b) => mergeMoments(totals![b]!, part));
    });
  }
  return totals?.map((moments) => rangeFromStatistics(statisticsOf(moments)));
}

/** The range of a band: mean +/- 3 standard deviations, within its minimum and maximum (never empty). */
export function rangeFromStatistics({ min, max, mean, std }: BandStatistics): BandRange {
  const low = Math.max(min, mean - 3 * std);
  const high = Math.min(max, mean + 3 * std);
  return high > low ? { low, high } : { low, high: low + 1 };
}

/** Band samples (one array per band) as interleaved 8-bit pixels, each band mapped through its range. */
export function toEightBitPixels(samples: readonly TypedArray[], ranges: readonly BandRange[]): Uint8Array {
  const channels = samples.length;
  const pixels = samples[0]?.length ?? 0;
  // A clamped array's store rounds and clamps to 0..255 itself, where a Uint8Array would wrap around.
  const out = new Uint8ClampedArray(pixels * channels);
  samples.forEach((values, c) => {
    const { low, high } = ranges[c]!;
    const scale = 255 / (high - low);
    for (let i = 0; i < pixels; i++) out[i * channels + c] = (values[i]! - low) * scale;
  });
  return new Uint8Array(out.buffer);
}

/** Computed ranges per file, kept while the file is unchanged: a raster is read again every epoch. */
const computedRanges = new Map<string, { mtimeMs: number; size: number; ranges: BandRange[] }>();
const RANGE_CACHE_LIMIT = 256;

/**
 * The range of each selected band: given, 0..255 for 8-bit unsigned rasters, else from a streaming
 * statistics pass (kept per file and band selection while the file is unchanged).
 */
export async function bandRanges(
  raster: GeoTiffReader,
  bands: readonly number[],
  given?: readonly BandRange[],
): Promise<BandRange[]> {
  if (given) {
    if (given.length !== bands.length)
      throw new RangeError(`${raster.path}: ${given.length} band ranges given for ${bands.length} bands`);
    return [...given];
  }
  if (raster.info.sampleFormat === 'uint' && raster.info.bitsPerSample === 8)
    return bands.map(() => ({ low: 0, high: 255 }));
  const key = `${raster.path}#${bands.join(',')}`;
  const { mtimeMs, size } = await stat(raster.path);
  const cached = computedRanges.get(key);
  if (cached && cached.mtimeMs === mtimeMs && cached.size === size) return cached.ranges;
  const ranges = (await bandStatistics(raster, bands)).map(rangeFromStatistics);
  if (computedRanges.size >= RANGE_CACHE_LIMIT) computedRanges.delete(computedRanges.keys().next().value!);
  computedRanges.set(key, { mtimeMs, size, ranges });
  return ranges;
}

/**
 * Reads a GeoTIFF window (default: the whole raster) as 8-bit pixels with one channel per selected band,
 * each band mapped through its range (see {@link RasterReadOptions}), carrying the raster's georeference
 * moved to the window's corner.
 *
 * @example
 * const image = await readGeoTiffImage('scene.tif', { bands: [2, 1, 0] }); // { data, width, height, channels: 3, georeference }
 */
export async function readGeoTiffImage(
  path: string,
  options: RasterReadOptions = {},
  window?: PixelWindow,
): Promise<RasterImage> {
  const raster = await GeoTiffReader.open(path);
  try {
    return await readRasterWindow(raster, options, window);
  } finally {
    await raster.close();
  }
}

/** {@link readGeoTiffImage} on a raster already open (to read several windows, or its header too). */
export async function readRasterWindow(
  raster: GeoTiffReader,
  options: RasterReadOptions = {},
  window?: PixelWindow,
): Promise<RasterImage> {
  const bands = options.bands ?? Array.from({ length: raster.info.bands }, (_, band) => band);
  if (bands.length === 0) throw new RangeError(`${raster.path}: the band selection is empty`);
  const ranges = await bandRanges(raster, bands, options.ranges);
  const area = window ?? { x: 0, y: 0, width: raster.info.width, height: raster.info.height };
  const data = toEightBitPixels(await raster.readWindow(area, bands), ranges);
  const georeference = raster.info.georeference && windowGeoreference(raster.info.georeference, area);
  return {
    data,
    width: area.width,
    height: area.height,
    channels: bands.length,
    ...(georeference ? { georeference } : {}),
  };
}

/** The georeference of a window: the raster's, with its origin moved to the window's top-left corner. */
export function windowGeoreference(
  { transform: t, epsg }: GeoReference,
  window: { x: number; y: number },
): GeoReference {
  return {
    transform: [
      t[0] + window.x * t[1] + window.y * t[2],
      t[1],
      t[2],
      t[3] + window.x * t[4] + window.y * t[5],
      t[4],
      t[5],
    ],
    epsg,
  };
}
