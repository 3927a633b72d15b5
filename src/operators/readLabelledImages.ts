import { availableParallelism } from 'node:os';
import type { OperatorFunction } from 'rxjs';
import { type BadInputPolicy, InputError, type SkipSink } from '../errors.js';
import { decodeImage } from '../io/decodeImage.js';
import type { ClassMap } from '../labels/classMap.js';
import { orderedReads } from '../stream/orderedReads.js';
import type { ClassMask, LabelledImage, LabelledPair } from '../types.js';

/** Reads a pair's label file into a class mask of the image's size (the labels module's `readLabelMask`). */
export type ReadLabelMask = (
  pair: LabelledPair,
  size: { width: number; height: number },
  classMap: ClassMap,
  options: { format?: string },
) => Promise<ClassMask>;

export interface ReadLabelledImagesOptions {
  classMap: ClassMap;
  /** Reads the masks; pass the labels module's `readLabelMask`. */
  readMask: ReadLabelMask;
  /** Label format, or undefined to detect it per file. */
  format?: string;
  /** Pairs read at the same time (sharp decodes on libuv threads). Default: the number of cores. */
  concurrency?: number;
  /** Default `throw`. */
  onBadInput?: BadInputPolicy;
  /** Where skipped pairs are recorded under `skip`. */
  skipReport?: SkipSink;
  /** Called for each pair skipped under `skip` (the tile pipeline uses it to return the pair's credits). */
  onSkip?: (pair: LabelledPair, error: InputError) => void;
}

/** Decodes one pair's image and reads its mask; a mask of another size is an InputError on the label file. */
export async function readLabelledImage(pair: LabelledPair, options: ReadLabelledImagesOptions): Promise<LabelledImage> {
  const image = await decodeImage(pair.imagePath);
  const size = { width: image.width, height: image.height };
  const formatOption = options.format === undefined ? {} : { format: options.format };
  const mask = await options.readMask(pair, size, options.classMap, formatOption);
  if (mask.width !== image.width || mask.height !== image.height) {
    throw new InputError(pair.labelPath, `mask is ${mask.width}x${mask.height} but image ${pair.imagePath} is ${image.width}x${image.height}`);
  }
  return { ...pair, image, mask };
}

/**
 * Decodes each pair's image and reads its label into a class mask, several pairs at once, emitting in input
 * order whatever order the reads finish in. Bad input (unreadable image, broken label, sizes that differ)
 * stops the stream with an `InputError` naming the file, or under `onBadInput: 'skip'` is recorded in the
 * skip report and left out.
 *
 * @example
 * pairs$.pipe(readLabelledImages({ classMap: xbdClassMap(), readMask: readLabelMask, concurrency: 2 }))
 *
 * @param options class map, mask reader, format, concurrency, bad-input policy and skip report.
 * @returns an operator from pairs to decoded labelled images, in input order.
 */
export function readLabelledImages(options: ReadLabelledImagesOptions): OperatorFunction<LabelledPair, LabelledImage> {
  if (!options || typeof options.readMask !== 'function') {
    throw new TypeError(`readLabelledImages: readMask must be a function, got ${typeof options?.readMask}`);
  }
  if (!options.classMap) throw new TypeError('readLabelledImages: classMap is required');
  const concurrency = options.concurrency ?? availableParallelism();
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`readLabelledImages: concurrency must be a positive integer, got ${concurrency}`);
  }
  const policy = options.onBadInput ?? 'throw';
  if (policy !== 'throw' && policy !== 'skip') throw new RangeError(`readLabelledImages: onBadInput must be 'throw' or 'skip', got ${JSON.stringify(policy)}`);

  return orderedReads((pair) => readLabelledImage(pair, options), {
    concurrency,
    onBadInput: policy,
    ...(options.skipReport === undefined ? {} : { skipReport: options.skipReport }),
    ...(options.onSkip === undefined ? {} : { onSkip: options.onSkip }),
  });
}
