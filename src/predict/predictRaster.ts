import { rm } from 'node:fs/promises';
import type * as tf from '@tensorflow/tfjs';
import { bandRanges, GeoTiffReader, type RasterReadOptions, windowGeoreference } from '../io/geoTiff.js';
import { geoTiffPixelSource } from '../io/pixelSource.js';
import type { ClassMask, GeoReference } from '../types.js';
import { BandPolygonizer, OpenRegionLimitError } from './bandPolygons.js';
import type { PolygonCrsChoice } from './mapPolygons.js';
import type { MaskPolygon } from './maskToPolygons.js';
import { predictRows, type RowRange, type SlidingWindowOptions } from './slidingWindow.js';
import { classStripRows, GeoTiffStripWriter } from './writeClassGeoTiff.js';
import { type PolygonStreamOutput, PolygonStreamWriter } from './writePolygonStream.js';
import {
  createProbabilityGeoTiff,
  type ProbabilityOutput,
  probabilitySamples,
} from './writeProbabilities.js';

/** Pixels up to which {@link predictRasterFile} also returns the whole class mask: 8192 x 8192, 64 MiB of class ids. */
export const WHOLE_MASK_PIXELS = 8192 * 8192;

/** Where {@link predictRasterFile} writes the polygons: in map coordinates in `crs` when the raster has a georeference, else in pixel coordinates. */
export type RasterPolygonOutput = Omit<PolygonStreamOutput, 'placement'> & {
  crs: PolygonCrsChoice;
  /** `BandPolygonizer`'s bound on an open region (default `MAX_HELD_VERTICES`). */
  maxHeldVertices?: number;
};

/** What {@link predictRasterFile} predicted. */
export interface RasterPrediction {
  width: number;
  height: number;
  windows: number;
  georeference?: GeoReference;
  /** The whole class mask, for rasters of at most `keepMaskUpTo` pixels. */
  classes?: ClassMask;
  /** Polygons written, with the `polygons` option. */
  polygons?: number;
  /**
   * Why the polygons asked for were not written: tracing them would hold more than the polygonizer's bound
   * (see `OpenRegionLimitError`); the class GeoTIFF is complete, for a tool that polygonizes from disk.
   */
  polygonsRefused?: string;
}

/**
 * Predicts a GeoTIFF of any size window by window straight from the file and writes its classes to
 * `classesPath` as a class GeoTIFF with the raster's georeference, strip by strip as rows are finished: memory
 * holds one band of rows (see `predictRows`), never the raster or its mask, so a 20,000 x 20,000 raster
 * predicts in well under 1 GiB. Band ranges not given come from a streaming statistics pass first. With
 * `probabilities`, each class's softmax probability is written the same way, a band per class (see
 * `createProbabilityGeoTiff`). With `polygons`, the regions of the classes are traced band by band as rows
 * finish (`BandPolygonizer`: exactly `maskToPolygons`' polygons of the whole mask) and each is written to the
 * file as soon as its region is complete (`PolygonStreamWriter`): memory adds the open regions' boundaries.
 * Where one open region would hold more than `MAX_HELD_VERTICES` (a noisy prediction), tracing stops there,
 * its file is removed, the classes are finished, and `polygonsRefused` says why.
 *
 * With `rows`, only those rows are predicted (exactly as in the whole raster, see `predictRows`) and
 * written, placed where they lie and in the whole raster's strips: the part of one shard, which
 * `assembleClassGeoTiff` puts together with the others.
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
    polygons?: RasterPolygonOutput;
    rows?: RowRange;
    onProgress?: (rowsDone: number, height: number) => void;
  } = {},
): Promise<RasterPrediction> {
  if (options.polygons && options.rows)
    throw new RangeError(
      `predictRasterFile: ${path}: polygons need the whole raster's rows; rows ${options.rows.start} to ${options.rows.end} are a part`,
    );
  const raster = await GeoTiffReader.open(path);
  try {
    const { width, height, georeference } = raster.info;
    const bands = options.raster?.bands ?? Array.from({ length: raster.info.bands }, (_, band) => band);
    const ranges = await bandRanges(raster, bands, options.raster?.ranges);
    const rows = options.rows ?? { start: 0, end: height };
    const mask =
      !options.rows && width * height <= (options.keepMaskUpTo ?? WHOLE_MASK_PIXELS)
        ? new Uint8Array(width * height)
        : undefined;
    // A part of the raster (its rows) is placed where it lies; its classes keep the whole raster's strips.
    const layout = {
      width,
      height: rows.end - rows.start,
      ...(georeference ? { georeference: windowGeoreference(georeference, { x: 0, y: rows.start }) } : {}),
    };
    const writer = await GeoTiffStripWriter.create(classesPath, {
      ...layout,
      rowsPerStrip: classStripRows(width, height),
    });
    // Opened once the first rows tell the number of classes.
    let probabilityWriter: GeoTiffStripWriter | undefined;
    let traced: { polygonizer: BandPolygonizer; writer: PolygonStreamWriter } | undefined;
    let polygonsRefused: string | undefined;
    // Writes the polygons that `trace` closes; past the polygonizer's bound, drops the tracing and its file.
    const writeTraced = async (trace: (polygonizer: BandPolygonizer) => MaskPolygon[]): Promise<void> => {
      if (!traced) return;
      try {
        await traced.writer.write(trace(traced.polygonizer));
      } catch (error) {
        if (!(error instanceof OpenRegionLimitError)) throw error;
        await traced.writer.abandon();
        await rm(options.polygons!.path, { force: true });
        traced = undefined;
        polygonsRefused = error.message;
      }
    };
    let windows: number;
    try {
      if (options.polygons) {
        const { crs, maxHeldVertices, ...output } = options.polygons;
        traced = {
          polygonizer: new BandPolygonizer(width, {
            ignoreValue: output.classMap.ignoreValue,
            ...(maxHeldVertices !== undefined ? { maxHeldVertices } : {}),
          }),
          writer: await PolygonStreamWriter.create({
            ...output,
            ...(georeference ? { placement: { georeference, crs } } : {}),
          }),
        };
      }
      ({ windows } = await predictRows(
        model,
        geoTiffPixelSource(raster, bands, ranges),
        { ...options, rows },
        async (finished) => {
          mask?.set(finished.classes, finished.y * width);
          await writer.writeRows(finished.classes);
          if (options.probabilities) {
            probabilityWriter ??= await createProbabilityGeoTiff(
              options.probabilities,
              layout,
              finished.numClasses,
            );
            await probabilityWriter.writeRows(
              probabilitySamples(finished.probabilities, options.probabilities.sampleType ?? 'uint8'),
            );
          }
          await writeTraced((polygonizer) => polygonizer.addRows(finished.classes));
          options.onProgress?.(finished.y + finished.height - rows.start, rows.end - rows.start);
        },
      ));
      await writeTraced((polygonizer) => polygonizer.finish());
    } catch (error) {
      // The files are left incomplete; their handles are closed and the prediction's error is the one reported.
      await writer.close().catch(() => undefined);
      await probabilityWriter?.close().catch(() => undefined);
      await traced?.writer.abandon().catch(() => undefined);
      throw error;
    }
    await writer.close();
    await probabilityWriter?.close();
    const polygons = await traced?.writer.close();
    return {
      width,
      height,
      windows,
      ...(georeference ? { georeference } : {}),
      ...(mask ? { classes: { data: mask, width, height } } : {}),
      ...(polygons !== undefined ? { polygons } : {}),
      ...(polygonsRefused ? { polygonsRefused } : {}),
    };
  } finally {
    await raster.close();
  }
}
