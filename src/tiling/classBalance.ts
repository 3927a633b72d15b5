import type { ClassMask } from '../types.js';
import type { LabelledTile } from './labelledTile.js';

export interface BalanceClassesOptions {
  /** Class ids whose tiles are drawn more often (e.g. xBD's minor and major damage, 2 and 3). */
  classes: readonly number[];
  /** How many times a tile holding one of `classes` is drawn per epoch; others are drawn once. An integer >= 1. */
  factor: number;
  /** Pixels of those classes a tile must hold to count as theirs. Default 1. */
  minPixels?: number;
}

/**
 * Checks balance options once, up front.
 * @throws RangeError naming the option, what was expected and what was given.
 */
export function checkBalanceClasses(options: BalanceClassesOptions): void {
  const { classes, factor, minPixels = 1 } = options ?? ({} as BalanceClassesOptions);
  if (
    !Array.isArray(classes) ||
    classes.length === 0 ||
    classes.some((c) => !Number.isInteger(c) || c < 0 || c > 254)
  ) {
    throw new RangeError(
      `balanceClasses: classes must be a non-empty list of class ids (0-254), got ${JSON.stringify(classes)}`,
    );
  }
  if (!Number.isInteger(factor) || factor < 1)
    throw new RangeError(`balanceClasses: factor must be an integer >= 1, got ${factor}`);
  if (!Number.isInteger(minPixels) || minPixels < 1)
    throw new RangeError(`balanceClasses: minPixels must be an integer >= 1, got ${minPixels}`);
}

/**
 * Whether the window of `mask` at (x, y) of side `size` holds at least `minPixels` pixels of the given
 * classes. Pixels outside the mask (a padded edge tile) hold none. Reads the mask in place, so a run can
 * count its balanced tiles from the labels alone, before any image is decoded.
 */
export function windowHoldsClasses(
  mask: ClassMask,
  x: number,
  y: number,
  size: number,
  options: BalanceClassesOptions,
): boolean {
  const wanted = new Uint8Array(256);
  for (const c of options.classes) wanted[c] = 1;
  const minPixels = options.minPixels ?? 1;
  let found = 0;
  for (let row = Math.max(0, y); row < Math.min(mask.height, y + size); row++) {
    const start = row * mask.width;
    for (let col = Math.max(0, x); col < Math.min(mask.width, x + size); col++) {
      if (wanted[mask.data[start + col]!] === 1 && ++found >= minPixels) return true;
    }
  }
  return false;
}

/** How many times a tile is drawn: `factor` when it holds the balanced classes, else once. */
export function tileDraws(tile: LabelledTile, options: BalanceClassesOptions): number {
  return windowHoldsClasses(tile.mask, 0, 0, tile.mask.width, options) ? options.factor : 1;
}

/**
 * Each tile with the given classes, repeated `factor - 1` more times right after it; the rest as they come.
 * Deterministic (a tile's draws depend on its mask alone), so an epoch's length in tiles is known from the
 * labels and a resumed stream is the uninterrupted one; put it before `augment` and `shuffle`, which give
 * each repeat its own transform and place.
 */
export function repeatBalancedTiles(
  tiles: readonly LabelledTile[],
  options: BalanceClassesOptions,
): LabelledTile[] {
  return tiles.flatMap((tile) => Array.from({ length: tileDraws(tile, options) }, () => tile));
}
