import { Observable, type OperatorFunction } from 'rxjs';
import { SeededRandom } from '../util/seededRandom.js';

export interface ShuffleOptions {
  /** Items held to draw from; memory grows with it. A positive integer. */
  bufferSize: number;
  /** Seed of the draws; each subscription starts from it. */
  seed: number;
}

/**
 * Shuffles a stream with a bounded buffer (as `tf.data.Dataset.shuffle`): the first `bufferSize` items fill
 * the buffer, then each new item takes the place of one drawn at random, which is emitted; at the end the
 * rest is emitted in random order. At most `bufferSize` items are held.
 *
 * @example
 * tiles$.pipe(shuffle({ bufferSize: 64, seed: 1 }))
 *
 * @param options buffer size and seed.
 * @returns an operator that emits the same items in a seeded, buffer-local random order.
 */
export function shuffle<T>(options: ShuffleOptions): OperatorFunction<T, T> {
  const { bufferSize, seed } = options ?? ({} as ShuffleOptions);
  if (!Number.isInteger(bufferSize) || bufferSize < 1)
    throw new RangeError(`shuffle: bufferSize must be a positive integer, got ${bufferSize}`);
  if (!Number.isInteger(seed)) throw new TypeError(`shuffle: seed must be an integer, got ${seed}`);
  return (source) =>
    new Observable<T>((subscriber) => {
      const random = new SeededRandom(seed);
      const buffer: T[] = [];
      return source.subscribe({
        next: (item) => {
          if (buffer.length < bufferSize) {
            buffer.push(item);
            return;
          }
          const index = random.int(0, bufferSize - 1);
          const drawn = buffer[index]!;
          buffer[index] = item;
          subscriber.next(drawn);
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => {
          for (const item of random.shuffle(buffer.splice(0))) subscriber.next(item);
          subscriber.complete();
        },
      });
    });
}
