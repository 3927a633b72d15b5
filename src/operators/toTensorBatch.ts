import * as tf from '@tensorflow/tfjs';
import { map, Observable, type OperatorFunction } from 'rxjs';
import { uploadToDevice } from '../backend/uploadToDevice.js';
import { normalizedPixelTensor } from '../backend/wasm/pixels.js';
import { widenBytesOnDevice } from '../backend/widenBytesOnDevice.js';
import { IGNORE_VALUE } from '../labels/classMap.js';
import type { LabelledTile } from '../tiling/labelledTile.js';
import {
  normalizedPixels,
  type PixelNormalization,
  pixelNormalization,
} from '../tiling/pixelNormalization.js';
import type { TensorBatch } from '../types.js';

export interface ToTensorBatchOptions {
  /** Per-channel mean subtracted from pixels scaled to [0, 1], one per channel of the tiles. Default 0 for each. */
  mean?: readonly number[];
  /** Per-channel standard deviation the centred pixels are divided by, one per channel. Default 1 for each. */
  std?: readonly number[];
  /** Also build one-hot labels, float32 [B, H, W, numClasses]; ignored pixels are all zero. Default false. */
  oneHot?: boolean;
  /** Number of classes; required with `oneHot`. */
  numClasses?: number;
  /** Mask value of ignored pixels. Default 255. */
  ignoreValue?: number;
  /** Called with the batch's tile count when it is released (returns the tiles' credits to the source). */
  onRelease?: (tiles: number) => void;
  /**
   * Called with a batch's tiles once their values are in its tensors, before the batch is emitted: nothing
   * here reads them again, so a source that owns them may cut new tiles into their buffers.
   */
  onConverted?: (tiles: readonly LabelledTile[]) => void;
  /**
   * The most batches made into tensors and not yet released; later batches wait as tiles (a quarter of the
   * bytes: one byte per channel against float32 pixels and int32 labels) until one is released. Without it a
   * shuffle buffer flushed at an epoch's end becomes tensors all at once. Default: no limit.
   */
  ahead?: number;
}

/** A tensor batch that also carries one-hot labels. */
export interface OneHotTensorBatch extends TensorBatch {
  /** float32 [B, H, W, numClasses]; all zero where the label is the ignore value. */
  oneHot: tf.Tensor4D;
}

function checkPerChannel(value: readonly number[] | undefined, name: string, positive: boolean): void {
  if (value === undefined) return;
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    value.some((v) => typeof v !== 'number' || !Number.isFinite(v) || (positive && v <= 0))
  ) {
    throw new RangeError(
      `toTensorBatch: ${name} must be ${positive ? 'positive ' : ''}numbers, one per channel, got ${JSON.stringify(value)}`,
    );
  }
}

/**
 * Builds a batch's tensors from its tiles with one tensor creation each (per-tile tensor ops are slow on
 * the CPU backends): images float32 [B, H, W, C] (C: the tiles' channels) as (pixel / 255 - mean) / std, labels int32 [B, H, W], and
 * optionally one-hot labels. On wasm the images are normalized in the backend's memory by a SIMD function
 * (see `normalizedPixelTensor`), and on webgpu the tiles' bytes are widened and normalized on the GPU (see
 * `widenBytesOnDevice`), both in float32 arithmetic, so their values may differ from the cpu backend's by one
 * float32 rounding step. The consumer must call `release()`, which disposes the tensors and reports the
 * released tiles through `onRelease`.
 *
 * @example
 * batches$.pipe(toTensorBatch({ mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }))
 *
 * @param options normalization, one-hot labels, ignore value, release callback and how far ahead to convert.
 * @returns an operator from tile arrays to tensor batches.
 */
export function toTensorBatch(
  options: ToTensorBatchOptions = {},
): OperatorFunction<LabelledTile[], TensorBatch | OneHotTensorBatch> {
  const { ahead } = options;
  if (ahead === undefined) return map(tensorBatchMaker(options));
  if (!Number.isInteger(ahead) || ahead < 1)
    throw new RangeError(`toTensorBatch: ahead must be a positive integer, got ${ahead}`);
  return (source) =>
    new Observable((subscriber) => {
      const waiting: LabelledTile[][] = [];
      let unreleased = 0;
      let sourceDone = false;
      let draining = false;
      const make = tensorBatchMaker({
        ...options,
        onRelease: (tiles) => {
          unreleased--;
          options.onRelease?.(tiles);
          drain();
        },
      });
      // A loop, not recursion: a consumer that releases inside `next` would otherwise nest one call per batch.
      function drain(): void {
        if (draining || subscriber.closed) return;
        draining = true;
        try {
          while (waiting.length > 0 && unreleased < ahead!) {
            unreleased++;
            subscriber.next(make(waiting.shift()!));
          }
          if (sourceDone && waiting.length === 0) subscriber.complete();
        } catch (error) {
          subscriber.error(error);
        } finally {
          draining = false;
        }
      }
      const subscription = source.subscribe({
        next: (tiles) => {
          waiting.push(tiles);
          drain();
        },
        error: (error) => subscriber.error(error),
        complete: () => {
          sourceDone = true;
          drain();
        },
      });
      return () => subscription.unsubscribe();
    });
}

/** The conversion of one batch of tiles, with the staging buffer it reuses across batches. */
function tensorBatchMaker(
  options: ToTensorBatchOptions,
): (tiles: LabelledTile[]) => TensorBatch | OneHotTensorBatch {
  checkPerChannel(options.mean, 'mean', false);
  checkPerChannel(options.std, 'std', true);
  const ignoreValue = options.ignoreValue ?? IGNORE_VALUE;
  const numClasses = options.numClasses;
  if (options.oneHot && (!Number.isInteger(numClasses) || numClasses! < 1)) {
    throw new RangeError(
      `toTensorBatch: numClasses must be a positive integer with oneHot, got ${numClasses}`,
    );
  }
  if (options.mean && options.std && options.mean.length !== options.std.length) {
    throw new RangeError(
      `toTensorBatch: mean and std must have one value per channel each, got ${options.mean.length} and ${options.std.length}`,
    );
  }
  /** The factors for a channel count, checked against the given mean and std. */
  const normalizationFor = (channels: number): PixelNormalization => {
    const given = options.mean ?? options.std;
    if (given && given.length !== channels)
      throw new RangeError(
        `toTensorBatch: ${given.length} values of mean/std for tiles of ${channels} channels`,
      );
    return pixelNormalization(
      options.mean ?? new Array<number>(channels).fill(0),
      options.std ?? new Array<number>(channels).fill(1),
    );
  };
  let normalization: PixelNormalization | undefined;
  // Backends that copy values into their own memory when a tensor is made (wasm) let one staging buffer
  // serve every batch's labels, which spares an allocation and its garbage collection per batch.
  let staging: Int32Array | undefined;
  const labelBuffer = (length: number): Int32Array => {
    if (tf.getBackend() !== 'wasm') return new Int32Array(length);
    if (!staging || staging.length < length) staging = new Int32Array(length);
    return staging.subarray(0, length);
  };

  return (tiles) => {
    if (tiles.length === 0) throw new RangeError('toTensorBatch: a batch must hold at least one tile');
    const { width, height, channels } = tiles[0]!.image;
    const pixels = width * height;
    for (const tile of tiles) {
      if (tile.image.width !== width || tile.image.height !== height || tile.mask.data.length !== pixels) {
        throw new RangeError(
          `toTensorBatch: tiles of one batch must share a size; ${tile.origin.sourceId} is ${tile.image.width}x${tile.image.height} with a mask of ${tile.mask.data.length} pixels, not ${width}x${height}`,
        );
      }
      if (tile.image.channels !== channels) {
        throw new RangeError(
          `toTensorBatch: tiles of one batch must share a channel count; ${tile.origin.sourceId} has ${tile.image.channels}, not ${channels}`,
        );
      }
    }
    const masks = tiles.map((tile) => tile.mask.data);
    let labelValues: Int32Array | undefined;
    /** The labels as int32 values on the CPU: for one-hot encoding, and for backends that do not widen bytes. */
    const labelArray = (): Int32Array => {
      if (labelValues) return labelValues;
      labelValues = labelBuffer(tiles.length * pixels);
      masks.forEach((mask, b) => labelValues!.set(mask, b * pixels));
      return labelValues;
    };
    // One-hot first: a bad class id is refused before any tensor exists, so nothing leaks.
    let encoded: Float32Array | undefined;
    if (options.oneHot) {
      const labels = labelArray();
      const channels = numClasses!;
      encoded = new Float32Array(labels.length * channels);
      for (let i = 0; i < labels.length; i++) {
        const label = labels[i]!;
        if (label === ignoreValue) continue;
        if (label >= channels)
          throw new RangeError(
            `toTensorBatch: class id ${label} in a tile of ${tiles[Math.floor(i / pixels)]!.origin.sourceId} is not below numClasses=${channels}`,
          );
        encoded[i * channels + label] = 1;
      }
    }
    if (normalization?.scale.length !== channels) normalization = normalizationFor(channels);
    const { scale, offset } = normalization;
    const shape: [number, number, number] = [tiles.length, height, width];
    const pixelData = tiles.map((tile) => tile.image.data);
    const batch: TensorBatch = {
      images: (normalizedPixelTensor(pixelData, [...shape, channels], scale, offset) ??
        widenBytesOnDevice(pixelData, [...shape, channels], { scale, offset }) ??
        tf.tensor4d(
          normalizedPixels(pixelData, { scale, offset }),
          [...shape, channels],
          'float32',
        )) as tf.Tensor4D,
      labels: (widenBytesOnDevice(masks, shape) ?? tf.tensor3d(labelArray(), shape, 'int32')) as tf.Tensor3D,
      origins: tiles.map((tile) => tile.origin),
      release: () => undefined,
    };
    const oneHot = encoded ? tf.tensor4d(encoded, [...shape, numClasses!], 'float32') : undefined;
    uploadToDevice([batch.images, batch.labels, ...(oneHot ? [oneHot] : [])]);
    options.onConverted?.(tiles);
    let released = false;
    batch.release = () => {
      if (released) return;
      released = true;
      batch.images.dispose();
      batch.labels.dispose();
      oneHot?.dispose();
      options.onRelease?.(tiles.length);
    };
    return oneHot ? { ...batch, oneHot, release: batch.release } : batch;
  };
}
