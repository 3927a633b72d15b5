import { availableParallelism } from 'node:os';
import type { OperatorFunction } from 'rxjs';
import type { BadInputPolicy, InputError, SkipSink } from '../errors.js';
import { type ReadLabelledImageOptions, readLabelledImage } from '../io/readLabelledImage.js';
import type { LabelledImage, LabelledPair } from '../types.js';
import { orderedReads } from './orderedReads.js';

export interface ReadLabelledImagesOptions extends ReadLabelledImageOptions {
  /** Pairs read at the same time (sharp decodes on libuv threads). Default: the number of cores. */
  concurrency?: number;
  /** Default `throw`. */
  onBadInput?: BadInputPolicy;
  /** Where skipped pairs are recorded under `skip`. */
  skipReport?: SkipSink;
  /** Called for each pair skipped under `skip` (the tile pipeline uses it to return the pair's credits). */
  onSkip?: (pair: LabelledPair, error: InputError) => void;
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
export function readLabelledImages(
  options: ReadLabelledImagesOptions,
): OperatorFunction<LabelledPair, LabelledImage> {
  if (!options || typeof options.readMask !== 'function') {
    throw new TypeError(`readLabelledImages: readMask must be a function, got ${typeof options?.readMask}`);
  }
  if (!options.classMap) throw new TypeError('readLabelledImages: classMap is required');
  const concurrency = options.concurrency ?? availableParallelism();
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`readLabelledImages: concurrency must be a positive integer, got ${concurrency}`);
  }
  const policy = options.onBadInput ?? 'throw';
  if (policy !== 'throw' && policy !== 'skip')
    throw new RangeError(
      `readLabelledImages: onBadInput must be 'throw' or 'skip', got ${JSON.stringify(policy)}`,
    );

  return orderedReads((pair) => readLabelledImage(pair, options), {
    concurrency,
    onBadInput: policy,
    ...(options.skipReport === undefined ? {} : { skipReport: options.skipReport }),
    ...(options.onSkip === undefined ? {} : { onSkip: options.onSkip }),
  });
}
