import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';

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
