import { concatMap, from, type OperatorFunction } from 'rxjs';
import {
  type BalanceClassesOptions,
  checkBalanceClasses,
  repeatBalancedTiles,
} from '../tiling/classBalance.js';
import type { LabelledTile } from '../tiling/labelledTile.js';

/**
 * Class-balanced sampling: tiles that hold a rare class are drawn `factor` times per epoch, the way chip
 * samplers oversample target classes, so a class present in a few tiles is seen in many batches. Repeats
 * share the tile's arrays; `augment` (which makes new ones) gives each its own flip and turn.
 *
 * @example
 * tiles$.pipe(balanceClasses({ classes: [2, 3], factor: 4 }), augment({ seed: 1 }), shuffle({ bufferSize: 1024, seed: 2 }))
 *
 * @param options the classes to oversample, how often, and how many of their pixels make a tile theirs.
 * @returns an operator from tiles to tiles, each emitted once or `factor` times in a row.
 * @throws RangeError when the options are out of range (see {@link checkBalanceClasses}).
 */
export function balanceClasses(options: BalanceClassesOptions): OperatorFunction<LabelledTile, LabelledTile> {
  checkBalanceClasses(options);
  return concatMap((tile) => from(repeatBalancedTiles([tile], options)));
}
