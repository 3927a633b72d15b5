import * as tf from '@tensorflow/tfjs';
import { imagePixelSource, type PixelSource } from '../io/pixelSource.js';
import type { ClassMask, RasterImage } from '../types.js';

/** Options of {@link predictFullImage}. */
export interface SlidingWindowOptions {
  /** [tileSize=256] Side of the square window the model sees. */
  tileSize?: number;
  /** [overlap=tileSize/4] Pixels shared by neighbouring windows; their predictions are blended there. */
  overlap?: number;
  /** [batchSize=4] Windows per model call. */
  batchSize?: number;
  /** [normalize=x/255] Maps uint8 pixels to what the model was trained on; must match training. */
  normalize?: (pixels: tf.Tensor4D) => tf.Tensor4D;
  /**
   * ['none'] Test-time augmentation: each window is also predicted flipped ('flips': 4 views) or flipped and
   * transposed ('dihedral': the 8 symmetries of the square, for overhead imagery that has no up), each
   * prediction mapped back and their probabilities averaged. Costs as many model calls as views.
   */
  testTimeAugmentation?: TestTimeAugmentation;
}

/** The views {@link predictFullImage} averages over: the window alone, its 4 flips, or all 8 symmetries of the square. */
export const TEST_TIME_AUGMENTATIONS = ['none', 'flips', 'dihedral'] as const;
export type TestTimeAugmentation = (typeof TEST_TIME_AUGMENTATIONS)[number];

/** A symmetry of the square window (flip rows, flip columns, then transpose) applied to [B, H, W, C]. */
interface WindowSymmetry {
  flipRows: boolean;
  flipColumns: boolean;
  transpose: boolean;
}

function symmetries(kind: TestTimeAugmentation): WindowSymmetry[] {
  const flips =
    kind === 'none'
      ? [[false, false]]
      : [
          [false, false],
          [true, false],
          [false, true],
          [true, true],
        ];
  const transposes = kind === 'dihedral' ? [false, true] : [false];
  return transposes.flatMap((transpose) =>
    flips.map(([flipRows, flipColumns]) => ({ flipRows: flipRows!, flipColumns: flipColumns!, transpose })),
  );
}

function applySymmetry(t: tf.Tensor4D, { flipRows, flipColumns, transpose }: WindowSymmetry): tf.Tensor4D {
  const axes = [...(flipRows ? [1] : []), ...(flipColumns ? [2] : [])];
  const flipped = axes.length > 0 ? tf.reverse(t, axes) : t;
  return transpose ? tf.transpose(flipped, [0, 2, 1, 3]) : flipped;
}

/** The inverse: transpose back first, then the flips (each its own inverse). */
function undoSymmetry(t: tf.Tensor4D, symmetry: WindowSymmetry): tf.Tensor4D {
  const untransposed = symmetry.transpose ? tf.transpose(t, [0, 2, 1, 3]) : t;
  return applySymmetry(untransposed, { ...symmetry, transpose: false });
}

/** A full-image prediction: the class of each pixel and the blended class probabilities. */
export interface FullImagePrediction {
  classes: ClassMask;
  /** Softmax probabilities, [height, width, numClasses] row-major. */
  probabilities: Float32Array;
  numClasses: number;
  /** Windows the model was run on. */
  windows: number;
}

/** Window starts along one axis: stride tileSize - overlap, the last window flush with the far edge. */
export function windowStarts(length: number, tileSize: number, overlap: number): number[] {
  if (length <= tileSize) return [0];
  const stride = tileSize - overlap;
  const starts: number[] = [];
  for (let start = 0; start + tileSize < length; start += stride) starts.push(start);
  starts.push(length - tileSize);
  return starts;
}

/**
 * Blending weight along one axis of a window: a quadratic ramp over the overlap at each side, 1 in between. Where
 * windows overlap, each one's weight falls as the other's rises, so predictions cross-fade instead of
 * switching at a seam; window edges (where a model sees zero padding) count least.
 */
function rampWeights(tileSize: number, overlap: number): Float32Array {
  const weights = new Float32Array(tileSize);
  for (let i = 0; i < tileSize; i++) {
    const fromEdge = Math.min(i, tileSize - 1 - i) + 0.5;
    // Squared so that the few pixels next to a window edge, which see the window's zero padding, count
    // almost nothing where another window covers them.
    weights[i] = overlap === 0 ? 1 : Math.min(1, fromEdge / overlap) ** 2;
  }
  return weights;
}

/** The window side and overlap `options` give, defaults applied (unchecked). */
export function windowSizes(options: SlidingWindowOptions): { tileSize: number; overlap: number } {
  const tileSize = options.tileSize ?? 256;
  return { tileSize, overlap: options.overlap ?? Math.floor(tileSize / 4) };
}

function checkOptions(
  model: tf.LayersModel,
  channels: number,
  options: SlidingWindowOptions,
): Required<Omit<SlidingWindowOptions, 'normalize'>> {
  const { tileSize, overlap } = windowSizes(options);
  const testTimeAugmentation = options.testTimeAugmentation ?? 'none';
  if (!TEST_TIME_AUGMENTATIONS.includes(testTimeAugmentation))
    throw new RangeError(
      `predictFullImage: testTimeAugmentation must be 'none', 'flips' or 'dihedral', got ${String(testTimeAugmentation)}`,
    );
  const batchSize = options.batchSize ?? 4;
  if (!Number.isInteger(tileSize) || tileSize < 1)
    throw new RangeError(`predictFullImage: tileSize must be an integer >= 1, got ${String(tileSize)}`);
  if (!Number.isInteger(overlap) || overlap < 0 || overlap >= tileSize)
    throw new RangeError(
      `predictFullImage: overlap must be an integer in [0, tileSize), got ${String(overlap)}`,
    );
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`predictFullImage: batchSize must be an integer >= 1, got ${String(batchSize)}`);
  const modelChannels = model.inputs[0]!.shape[3];
  if (channels !== modelChannels)
    throw new RangeError(
      `predictFullImage: the model takes ${modelChannels} channels, the image has ${channels}`,
    );
  return { tileSize, overlap, batchSize, testTimeAugmentation };
}

/** Rows `start` (included) to `end` (excluded) of an image. */
export interface RowRange {
  start: number;
  end: number;
}

/** @throws RangeError unless `rows` is a non-empty range of whole rows within `height`. */
function checkRows(rows: RowRange, height: number): RowRange {
  const { start, end } = rows;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > height || start >= end)
    throw new RangeError(
      `predictRows: rows must be whole rows with 0 <= start < end <= ${height}, got ${start} to ${end}`,
    );
  return rows;
}

/** Finished rows of a prediction, top to bottom: their classes and blended probabilities. */
export interface PredictedRows {
  /** The first row's index in the image. */
  y: number;
  height: number;
  /** Class of each pixel, [height, width]. */
  classes: Uint8Array;
  /** Softmax probabilities, [height, width, numClasses]; valid only during the callback (the buffer is reused). */
  probabilities: Float32Array;
  numClasses: number;
}

/** The windows of one row of windows, starting at columns `xs`, cut from a band of rows `bandWidth` wide, as floats. */
function windowPixels(
  band: Uint8Array,
  bandWidth: number,
  xs: readonly number[],
  tileSize: number,
  channels: number,
): Float32Array {
  const out = new Float32Array(xs.length * tileSize * tileSize * channels);
  xs.forEach((x, i) => {
    for (let row = 0; row < tileSize; row++) {
      const from = (row * bandWidth + x) * channels;
      out.set(band.subarray(from, from + tileSize * channels), (i * tileSize + row) * tileSize * channels);
    }
  });
  return out;
}

/**
 * Predicts the classes of an image of any size with a model trained on tiles, in memory bounded by one band
 * of rows: reads one row of overlapping windows at a time from `source` (zero-padded where the image is
 * smaller than a window), runs the model on them, blends the windows' softmax probabilities with weights that
 * ramp across the overlaps into a band of `tileSize` rows, and hands the rows no later window reaches to
 * `onRows` (arg-max classes and probabilities), top to bottom. Memory: one band of pixels and
 * tileSize x width x (numClasses + 1) floats, whatever the height; a raster source decodes only that band.
 *
 * With `rows`, only those rows are handed on, computed from every window that covers them (those starting
 * above `rows.start` included) in the order the whole image takes them, so each value is bit for bit the
 * whole image's: the shards of one raster (see `shardRows`) together give exactly one process's prediction.
 *
 * @example
 * ```ts
 * const raster = await GeoTiffReader.open('scene.tif');
 * await predictRows(model, geoTiffPixelSource(raster, [0, 1, 2, 3], ranges), { tileSize: 256 }, ({ classes }) => writer.writeRows(classes));
 * ```
 */
export async function predictRows(
  model: tf.LayersModel,
  source: PixelSource,
  options: SlidingWindowOptions & { rows?: RowRange },
  onRows: (rows: PredictedRows) => void | Promise<void>,
): Promise<{ windows: number; numClasses: number }> {
  const { channels, width, height } = source;
  const { tileSize, overlap, batchSize, testTimeAugmentation } = checkOptions(model, channels, options);
  const { start, end } = checkRows(options.rows ?? { start: 0, end: height }, height);
  const views = symmetries(testTimeAugmentation);
  const normalize = options.normalize ?? ((pixels: tf.Tensor4D) => tf.div(pixels, 255) as tf.Tensor4D);
  const xs = windowStarts(width, tileSize, overlap);
  const ys = windowStarts(height, tileSize, overlap).filter((y) => y + tileSize > start && y < end);
  const ramp = rampWeights(tileSize, overlap);
  const bandWidth = Math.max(width, tileSize);
  // The band of rows [top, top + tileSize) that windows still add to; the first window covering `start`
  // starts at or above it.
  let top = ys[0]!;
  let numClasses = 0;
  let sums: Float32Array | undefined;
  const weightSums = new Float32Array(tileSize * width);

  const finish = async (rows: number): Promise<void> => {
    // Rows above `start` lack the windows above them and are dropped, as are rows from `end` on.
    const [first, last] = [Math.max(top, start) - top, Math.min(top + rows, end) - top];
    if (last > first) {
      const probabilities = sums!.subarray(first * width * numClasses, last * width * numClasses);
      const classes = new Uint8Array((last - first) * width);
      for (let pixel = 0; pixel < classes.length; pixel++) {
        let best = 0;
        for (let c = 0; c < numClasses; c++) {
          probabilities[pixel * numClasses + c]! /= weightSums[first * width + pixel]!;
          if (probabilities[pixel * numClasses + c]! > probabilities[pixel * numClasses + best]!) best = c;
        }
        classes[pixel] = best;
      }
      await onRows({ y: top + first, height: last - first, classes, probabilities, numClasses });
    }
    // The band moves down: the rows kept go to its top, the new ones start from zero.
    sums!.copyWithin(0, rows * width * numClasses).fill(0, (tileSize - rows) * width * numClasses);
    weightSums.copyWithin(0, rows * width).fill(0, (tileSize - rows) * width);
    top += rows;
  };

  for (const y of ys) {
    if (y > top) await finish(y - top);
    const band = await source.read({ x: 0, y, width: bandWidth, height: tileSize });
    const windowProbabilities = (group: number[]) =>
      tf.tidy(() => {
        const pixels = tf.tensor4d(windowPixels(band, bandWidth, group, tileSize, channels), [
          group.length,
          tileSize,
          tileSize,
          channels,
        ]);
        const batch = normalize(pixels);
        const predictions = views.map((view) =>
          undoSymmetry(tf.softmax(model.predict(applySymmetry(batch, view)) as tf.Tensor4D), view),
        );
        return predictions.length === 1
          ? predictions[0]!
          : (tf.div(tf.addN(predictions), predictions.length) as tf.Tensor4D);
      });
    const groups: number[][] = [];
    for (let first = 0; first < xs.length; first += batchSize)
      groups.push(xs.slice(first, first + batchSize));
    let next: tf.Tensor4D | undefined = windowProbabilities(groups[0]!);
    try {
      for (const [groupIndex, group] of groups.entries()) {
        const probabilities = next!;
        // The next group is encoded before this one is read back: a GPU runs it while the CPU blends this one.
        next = groupIndex + 1 < groups.length ? windowProbabilities(groups[groupIndex + 1]!) : undefined;
        const [, outHeight, outWidth, outChannels] = probabilities.shape;
        if (outHeight !== tileSize || outWidth !== tileSize) {
          probabilities.dispose();
          throw new RangeError(
            `predictFullImage: the model maps ${tileSize}x${tileSize} windows to ${outHeight}x${outWidth}; it must keep the size`,
          );
        }
        const values = await probabilities.data();
        probabilities.dispose();
        numClasses = outChannels;
        sums ??= new Float32Array(tileSize * width * numClasses);
        group.forEach((x, index) => {
          const base = index * tileSize * tileSize * numClasses;
          for (let row = 0; row < tileSize && y + row < height; row++) {
            for (let col = 0; col < tileSize && x + col < width; col++) {
              const weight = ramp[row]! * ramp[col]!;
              const pixel = (y - top + row) * width + x + col;
              weightSums[pixel]! += weight;
              const from = base + (row * tileSize + col) * numClasses;
              for (let c = 0; c < numClasses; c++)
                sums![pixel * numClasses + c]! += weight * values[from + c]!;
            }
          }
        });
      }
    } finally {
      next?.dispose();
    }
  }
  await finish(end - top);
  return { windows: xs.length * ys.length, numClasses };
}

/**
 * Predicts the classes of an image of any size with a model trained on tiles: runs the model over
 * overlapping windows (zero-padded where the image is smaller than a window), blends the windows' softmax
 * probabilities with weights that ramp across the overlaps, and takes the arg-max (see {@link predictRows},
 * which this collects into whole arrays). With a model whose output depends only on each pixel, the result
 * equals predicting the whole image at once. With `testTimeAugmentation`, each window's probabilities are
 * the mean over its flipped (and transposed) views.
 *
 * @example
 * ```ts
 * const { classes } = await predictFullImage(model, await decodeImage('scene.png'), { tileSize: 256, overlap: 64 });
 * ```
 * @param model Images [B, tileSize, tileSize, channels] -> logits [B, tileSize, tileSize, C].
 * @param image The full image, with as many channels as the model takes.
 * @param options Window size, overlap, batch size, normalization and test-time augmentation.
 */
export async function predictFullImage(
  model: tf.LayersModel,
  image: RasterImage,
  options: SlidingWindowOptions = {},
): Promise<FullImagePrediction> {
  const { width, height } = image;
  const classes = new Uint8Array(width * height);
  let probabilities: Float32Array | undefined;
  const { windows, numClasses } = await predictRows(model, imagePixelSource(image), options, (rows) => {
    classes.set(rows.classes, rows.y * width);
    probabilities ??= new Float32Array(width * height * rows.numClasses);
    probabilities.set(rows.probabilities, rows.y * width * rows.numClasses);
  });
  return { classes: { data: classes, width, height }, probabilities: probabilities!, numClasses, windows };
}
