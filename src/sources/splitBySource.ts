import type { LabelledPair, Split } from '../types.js';
import { SeededRandom } from '../util/seededRandom.js';

export interface SplitOptions {
  /** Fractions for train, validation and test; non-negative, summing to 1. Default [0.8, 0.1, 0.1]. */
  ratios?: readonly [number, number, number];
  /** Seed of the assignment. Default 0. */
  seed?: number;
}

/** The pairs of each split. */
export type SplitPairs = Record<Split, LabelledPair[]>;

/**
 * Splits pairs into train, validation and test by source image, so no image (and none of its tiles) is in
 * two splits. Deterministic: ids are sorted, shuffled with the seed and cut by the ratios (counts rounded,
 * the test split taking what is left), so the result does not depend on the order the files were listed.
 *
 * @example
 * const { train, validation } = splitBySource(pairs, { ratios: [0.7, 0.15, 0.15], seed: 42 });
 *
 * @param pairs the pairs, each id once.
 * @param options ratios and seed.
 * @returns the pairs of each split, each in id order.
 */
export function splitBySource(pairs: readonly LabelledPair[], options: SplitOptions = {}): SplitPairs {
  const ratios = options.ratios ?? [0.8, 0.1, 0.1];
  const seed = options.seed ?? 0;
  if (
    !Array.isArray(ratios) ||
    ratios.length !== 3 ||
    ratios.some((r) => typeof r !== 'number' || !(r >= 0)) ||
    Math.abs(ratios[0] + ratios[1] + ratios[2] - 1) > 1e-9
  ) {
    throw new RangeError(
      `splitBySource: ratios must be three non-negative numbers summing to 1, got ${JSON.stringify(ratios)}`,
    );
  }
  const byId = new Map<string, LabelledPair>();
  for (const pair of pairs) {
    if (byId.has(pair.id))
      throw new RangeError(
        `splitBySource: the id ${pair.id} occurs twice (${byId.get(pair.id)!.imagePath}, ${pair.imagePath})`,
      );
    byId.set(pair.id, pair);
  }
  const ids = new SeededRandom(seed).shuffle([...byId.keys()].sort());
  const trainCount = Math.round(ids.length * ratios[0]);
  const validationCount = Math.min(ids.length - trainCount, Math.round(ids.length * ratios[1]));
  const pick = (part: string[]): LabelledPair[] => part.sort().map((id) => byId.get(id)!);
  return {
    train: pick(ids.slice(0, trainCount)),
    validation: pick(ids.slice(trainCount, trainCount + validationCount)),
    test: pick(ids.slice(trainCount + validationCount)),
  };
}
