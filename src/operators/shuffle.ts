import { Observable, type OperatorFunction } from 'rxjs';
import { SeededRandom } from '../util/seededRandom.js';

/**
 * The default memory budget of a training stream's shuffle buffer, in MiB. A buffer counted in tiles mixed
 * too few scenes: 64 tiles are four 1024 px images cut into 256 px tiles, so batches held tiles of one or two
 * scenes and, on a 6-class land-cover set, cost up to 0.13 held-out mean IoU against a full shuffle
 * (docs/BACKPRESSURE.md). 256 MiB holds 1,024 tiles of 256 px (64 such images) or 4,096 of 128 px.
 */
export const DEFAULT_SHUFFLE_MEMORY_MIB = 256;

/** Bytes one tile holds in the stream: one byte per pixel and channel, and one mask byte per pixel. */
export function tileBytes(tileSize: number, channels = 3): number {
  return tileSize * tileSize * (channels + 1);
}

/**
 * The shuffle buffer, in tiles, that a memory budget holds: what `--shuffle-memory` turns into.
 * @throws RangeError when the budget is not a positive number or holds no tile at all.
 */
export function shuffleBufferForMemory(memoryMiB: number, tileSize: number, channels = 3): number {
  if (typeof memoryMiB !== 'number' || !(memoryMiB > 0) || !Number.isFinite(memoryMiB)) throw new RangeError(`shuffle: the memory budget must be a positive number of MiB, got ${memoryMiB}`);
  const tiles = Math.floor((memoryMiB * 2 ** 20) / tileBytes(tileSize, channels));
  if (tiles < 1) throw new RangeError(`shuffle: ${memoryMiB} MiB holds no ${tileSize} px tile (${tileBytes(tileSize, channels)} bytes each)`);
  return tiles;
}

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
  if (!Number.isInteger(bufferSize) || bufferSize < 1) throw new RangeError(`shuffle: bufferSize must be a positive integer, got ${bufferSize}`);
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
