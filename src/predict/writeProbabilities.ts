import { writeNpy } from '../io/writeNpy.js';
import type { GeoReference } from '../types.js';
import { type GeoTiffSampleType, GeoTiffStripWriter } from './writeClassGeoTiff.js';

/**
 * Where and how per-class probabilities are written: `uint8` (the default) stores round(p x 255), a quarter
 * of the size of `float32` and a precision of 1/255, which is finer than a model's calibration; GeoTIFFs carry
 * the scale 1/255, so GDAL's unscaling gives p back.
 */
export interface ProbabilityOutput {
  path: string;
  /** ['uint8'] */
  sampleType?: GeoTiffSampleType;
  /** Band names, by class id; classes past them are named `class <id>`. */
  classNames?: readonly string[];
}

/** The scale of `uint8` probabilities: a sample of 255 is probability 1. */
const BYTE_SCALE = 1 / 255;

/** Probabilities (each in [0, 1]) as samples of `sampleType`: floats as they are, bytes as round(p x 255). */
export function probabilitySamples(
  probabilities: Float32Array,
  sampleType: GeoTiffSampleType,
): Uint8Array | Float32Array {
  if (sampleType === 'float32') return probabilities;
  // A plain loop: TypedArray.from with a map function goes through an iterator of boxed numbers, several
  // times slower on the millions of values of a band of rows.
  const bytes = new Uint8Array(probabilities.length);
  for (let i = 0; i < probabilities.length; i++) bytes[i] = Math.round(probabilities[i]! * 255);
  return bytes;
}

/**
 * Creates the probability GeoTIFF of a raster of `width` x `height`: a band per class, named after it, placed
 * by `georeference`, written strip by strip as rows of [width, numClasses] probabilities come (pass them
 * through {@link probabilitySamples}).
 *
 * @example
 * ```ts
 * const writer = await createProbabilityGeoTiff({ path: 'out/scene.probabilities.tif', classNames }, { width, height, georeference }, 3);
 * await writer.writeRows(probabilitySamples(rows.probabilities, 'uint8'));
 * ```
 */
export function createProbabilityGeoTiff(
  { path, sampleType = 'uint8', classNames = [] }: ProbabilityOutput,
  { width, height, georeference }: { width: number; height: number; georeference?: GeoReference },
  numClasses: number,
): Promise<GeoTiffStripWriter> {
  return GeoTiffStripWriter.create(path, {
    width,
    height,
    bands: numClasses,
    sampleType,
    bandNames: Array.from({ length: numClasses }, (_, id) => classNames[id] ?? `class ${id}`),
    ...(sampleType === 'uint8' ? { scale: BYTE_SCALE } : {}),
    ...(georeference ? { georeference } : {}),
  });
}

/**
 * Writes the probabilities of an image without a georeference (PNG, JPEG) as a NumPy array of shape
 * [height, width, numClasses], of `sampleType` as {@link probabilitySamples} makes them.
 */
export async function writeProbabilityNpy(
  path: string,
  {
    probabilities,
    numClasses,
    width,
    height,
  }: { probabilities: Float32Array; numClasses: number; width: number; height: number },
  sampleType: GeoTiffSampleType = 'uint8',
): Promise<void> {
  await writeNpy(path, probabilitySamples(probabilities, sampleType), [height, width, numClasses]);
}
