import { availableParallelism } from 'node:os';
import { Observable, type OperatorFunction } from 'rxjs';
import { type BadInputPolicy, InputError, type SkipReport, handleBadInput } from '../errors.js';
import { decodeImage } from '../io/decodeImage.js';
import type { ClassMap } from '../labels/classMap.js';
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
  skipReport?: SkipReport;
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

  return (pairs) =>
    new Observable<LabelledImage>((subscriber) => {
      // Reads in flight, in input order; the head is emitted as soon as it is done, so at most
      // `concurrency` results wait here however the reads finish.
      const queue: Array<{ pair: LabelledPair; settled: boolean; result?: LabelledImage; error?: unknown }> = [];
      const waiting: LabelledPair[] = [];
      let inputDone = false;
      let stopped = false;

      const drain = (): void => {
        while (!stopped && queue.length > 0 && queue[0]!.settled) {
          const head = queue.shift()!;
          if (head.error !== undefined) {
            try {
              handleBadInput(head.error, policy, options.skipReport);
              options.onSkip?.(head.pair, head.error as InputError);
            } catch (error) {
              stopped = true;
              subscriber.error(error);
              return;
            }
          } else {
            subscriber.next(head.result!);
          }
        }
        while (!stopped && waiting.length > 0 && queue.length < concurrency) start(waiting.shift()!);
        if (!stopped && inputDone && queue.length === 0 && waiting.length === 0) subscriber.complete();
      };

      const start = (pair: LabelledPair): void => {
        const entry: (typeof queue)[number] = { pair, settled: false };
        queue.push(entry);
        readLabelledImage(pair, options).then(
          (result) => Object.assign(entry, { settled: true, result }),
          (error: unknown) => Object.assign(entry, { settled: true, error: error ?? new Error('read failed') }),
        ).then(drain);
      };

      const subscription = pairs.subscribe({
        next: (pair) => {
          waiting.push(pair);
          drain();
        },
        error: (error: unknown) => {
          stopped = true;
          subscriber.error(error);
        },
        complete: () => {
          inputDone = true;
          drain();
        },
      });
      return () => {
        stopped = true;
        subscription.unsubscribe();
      };
    });
}
