import type * as tf from '@tensorflow/tfjs';
import { bandRanges, GeoTiffReader, type RasterReadOptions } from '../io/geoTiff.js';
import { geoTiffPixelSource } from '../io/pixelSource.js';
import type { ClassMask, GeoReference } from '../types.js';
import { predictRows, type SlidingWindowOptions } from './slidingWindow.js';
import { GeoTiffStripWriter } from './writeClassGeoTiff.js';
import {
  createProbabilityGeoTiff,
  type ProbabilityOutput,
  probabilitySamples,
} from './writeProbabilities.js';

/** Pixels up to which {@link predictRasterFile} also returns the whole class mask: 8192 x 8192, 64 MiB of class ids. */
export const WHOLE_MASK_PIXELS = 8192 * 8192;

/** What {@link predictRasterFile} predicted. */
export interface RasterPrediction {
  width: number;
  height: number;
  windows: number;
  georeference?: GeoReference;
  /** The whole class mask, for rasters of at most `keepMaskUpTo` pixels. */
  classes?: ClassMask;
}

/**
 * Predicts a GeoTIFF of any size window by window straight from the file and writes its classes to
 * `classesPath` as a class GeoTIFF with the raster's georeference, strip by strip as rows are finished: memory
 * holds one band of rows (see `predictRows`), never the raster or its mask, so a 20,000 x 20,000 raster
 * predicts in well under 1 GiB. Band ranges not given come from a streaming statistics pass first. With
 * `probabilities`, each class's softmax probability is written the same way, a band per class (see
 * `createProbabilityGeoTiff`).
 *
 * @example
 * ```ts
 * const { windows } = await predictRasterFile(model, 'survey.tif', 'out/survey.classes.tif', { tileSize: 256, raster: { bands: [0, 1, 2, 3] } });
 * ```
 */
export async function predictRasterFile(
  model: tf.LayersModel,
  path: string,
  classesPath: string,
  options: SlidingWindowOptions & {
    raster?: RasterReadOptions;
    keepMaskUpTo?: number;
    probabilities?: ProbabilityOutput;
    onProgress?: (rowsDone: number, height: number) => void;
  } = {},
): Promise<RasterPrediction> {
  const raster = await GeoTiffReader.open(path);
  try {
    const { width, height, georeference } = raster.info;
    const bands = options.raster?.bands ?? Array.from({ length: raster.info.bands }, (_, band) => band);
    const ranges = await bandRanges(raster, bands, options.raster?.ranges);
    const mask =
      width * height <= (options.keepMaskUpTo ?? WHOLE_MASK_PIXELS)
        ? new Uint8Array(width * height)
        : undefined;
    const layout = { width, height, ...(georeference ? { georeference } : {}) };
    const writer = await GeoTiffStripWriter.create(classesPath, layout);
    // Opened once the first rows tell the number of classes.
    let probabilityWriter: GeoTiffStripWriter | undefined;
    let windows: number;
    try {
      ({ windows } = await predictRows(
        model,
        geoTiffPixelSource(raster, bands, ranges),
        options,
        async (rows) => {
          mask?.set(rows.classes, rows.y * width);
          await writer.writeRows(rows.classes);
          if (options.probabilities) {
            probabilityWriter ??= await createProbabilityGeoTiff(
              options.probabilities,
              layout,
              rows.numClasses,
            );
            await probabilityWriter.writeRows(
              probabilitySamples(rows.probabilities, options.probabilities.sampleType ?? 'uint8'),
            );
          }
          options.onProgress?.(rows.y + rows.height, height);
        },
      ));
    } catch (error) {
      // The file is left incomplete; its handle is closed and the prediction's error is the one reported.
      await writer.close().catch(() => undefined);
      await probabilityWriter?.close().catch(() => undefined);
      throw error;
    }
    await writer.close();
    await probabilityWriter?.close();
    return {
      width,
      height,
      windows,
      ...(georeference ? { georeference } : {}),
      ...(mask ? { classes: { data: mask, width, height } } : {}),
    };
  } finally {
    await raster.close();
  }
}
