import { defer, map, type OperatorFunction } from 'rxjs';
import { type AugmentOptions, applyAugmentation, drawAugmentation } from '../tiling/augmentation.js';
import type { LabelledTile } from '../tiling/labelledTile.js';
import type { SpareTileBuffers } from '../tiling/spareTileBuffers.js';
import { SeededRandom } from '../util/seededRandom.js';

/** Derives the colour generator's seed from the augmentation seed. */
const COLOUR_SEED_SALT = 0x5bd1e995;

function checkFraction(value: number | undefined, name: string, max: number): number {
  const given = value ?? 0;
  if (typeof given !== 'number' || !(given >= 0 && given <= max))
    throw new RangeError(`augment: ${name} must be a number in [0, ${max}], got ${value}`);
  return given;
}

/** Where a stream that owns its tiles lets `augment` take and leave tile buffers (see `SpareTileBuffers`). */
export interface AugmentBuffers {
  /** Augmented tiles are written into its buffers. */
  spare: SpareTileBuffers;
  /** Each input tile's buffers go to `spare` once it is augmented: only where nothing else reads the input tiles. */
  recycleInputs: boolean;
}

/**
 * Augments tiles: flips, quarter turns and random crop-and-scale applied identically to image and mask
 * (nearest for the mask, so class ids stay class ids), brightness/contrast/saturation/hue on the image only.
 * Seeded: each subscription starts from the seed, so the same input order gives the same tiles.
 *
 * @example
 * tiles$.pipe(augment({ seed: 7, cropScale: [0.6, 1], brightness: 0.1, hue: 10 }))
 *
 * @param options seed and which augmentations to draw, with their ranges.
 * @param buffers where the augmented tiles' buffers come from and the input tiles' go (default: new ones, and
 *   the input tiles are left as they are).
 * @returns an operator from tiles to augmented tiles (new arrays; the input tiles are not changed).
 */
export function augment(
  options: AugmentOptions,
  buffers?: AugmentBuffers,
): OperatorFunction<LabelledTile, LabelledTile> {
  if (!options || !Number.isInteger(options.seed))
    throw new TypeError(`augment: seed must be an integer, got ${options?.seed}`);
  if (options.cropScale !== undefined) {
    const [min, max] = options.cropScale;
    if (!(min > 0 && min <= max && max <= 1))
      throw new RangeError(
        `augment: cropScale must be [min, max] with 0 < min <= max <= 1, got [${min}, ${max}]`,
      );
  }
  checkFraction(options.brightness, 'brightness', 1);
  checkFraction(options.contrast, 'contrast', 1);
  checkFraction(options.saturation, 'saturation', 1);
  checkFraction(options.hue, 'hue', 180);
  return (tiles) =>
    defer(() => {
      const random = new SeededRandom(options.seed);
      const colourRandom = new SeededRandom(options.seed ^ COLOUR_SEED_SALT);
      return tiles.pipe(
        map((tile) => {
          const augmented = applyAugmentation(
            tile,
            drawAugmentation(random, colourRandom, options, tile.image.width),
            buffers?.spare.allocate,
          );
          if (buffers?.recycleInputs) buffers.spare.give([tile]);
          return augmented;
        }),
      );
    });
}
