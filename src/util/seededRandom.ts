import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

/**
 * A seeded random source (pure-rand's xoroshiro128+): the same seed gives the same sequence on every
 * machine, which is what makes shuffles, splits and augmentations reproducible.
 */
export class SeededRandom {
  private readonly generator;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new TypeError(`SeededRandom: seed must be an integer, got ${seed}`);
    this.generator = xoroshiro128plus(seed);
  }

  /** An integer in [from, to], both included. */
  int(from: number, to: number): number {
    return uniformInt(this.generator, from, to);
  }

  /** A float in [0, 1). */
  float(): number {
    return uniformFloat64(this.generator);
  }

  /** A float in [from, to). */
  between(from: number, to: number): number {
    return from + (to - from) * this.float();
  }

  /** Shuffles an array in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}

/**
 * The seed of one epoch of one random stream, from the run's seed and the absolute epoch alone: an epoch
 * draws the same whatever ran before it, so a run resumed in its middle redraws it exactly. Streams that
 * share a seed (a pipeline's image order and shuffle buffer) pass different `stream` numbers so that their
 * sequences are unrelated.
 *
 * @example
 * const order = new SeededRandom(epochSeed(seed, epoch, 1));
 */
export function epochSeed(seed: number, epoch: number, stream = 0): number {
  if (!Number.isInteger(seed) || !Number.isInteger(epoch) || !Number.isInteger(stream)) {
    throw new TypeError(
      `epochSeed: seed, epoch and stream must be integers, got ${seed}, ${epoch}, ${stream}`,
    );
  }
  // MurmurHash3's 32-bit finalizer: neighbouring inputs give unrelated seeds.
  let hash =
    Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b) ^ Math.imul(stream + 1, 0xc2b2ae35);
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  return hash ^ (hash >>> 16);
}

/**
 * Runs `fn` with `Math.random` drawing from `random`. TF.js's initializers and dropout given no seed seed
 * their own generators from `Math.random`, so this fixes initial weights and dropout masks without
 * threading a seed through every layer. `fn` must be synchronous: the global is restored when it returns.
 */
export function withMathRandomFrom<T>(random: SeededRandom, fn: () => T): T {
  const original = Math.random;
  Math.random = () => random.float();
  try {
    return fn();
  } finally {
    Math.random = original;
  }
}
