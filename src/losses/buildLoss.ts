import { InputError } from '../errors.js';
import {
  binaryCrossEntropy,
  categoricalCrossEntropy,
  diceLoss,
  focalLoss,
  focalTverskyLoss,
  l1OneHot,
  sparseCrossEntropy,
  tverskyLoss,
  weightedSum,
  type LossCommonOptions,
  type SegmentationLoss,
} from './segmentationLosses.js';

/** The losses a config can name. */
export const LOSS_NAMES = [
  'sparseCrossEntropy',
  'categoricalCrossEntropy',
  'binaryCrossEntropy',
  'l1',
  'dice',
  'tversky',
  'focalTversky',
  'focal',
  'weightedSum',
] as const;
export type LossName = (typeof LOSS_NAMES)[number];

/**
 * A loss as written in a config file: its name and its own parameters, e.g.
 * `{"name": "focalTversky", "alpha": 0.3, "beta": 0.7, "gamma": 0.75}` or
 * `{"name": "weightedSum", "terms": [{"weight": 1, "loss": {"name": "sparseCrossEntropy"}}, ...]}`.
 * `classWeights` may be set per loss; otherwise the run's class weights apply.
 */
export type LossConfig =
  | { name: Exclude<LossName, 'weightedSum'>; [parameter: string]: unknown }
  | { name: 'weightedSum'; terms: Array<{ weight: number; loss: LossConfig }> };

const PARAMETERS: Record<Exclude<LossName, 'weightedSum'>, readonly string[]> = {
  sparseCrossEntropy: [],
  categoricalCrossEntropy: ['labelSmoothing'],
  binaryCrossEntropy: [],
  l1: [],
  dice: ['smooth', 'activation', 'skipAbsentClasses'],
  tversky: ['smooth', 'activation', 'skipAbsentClasses', 'alpha', 'beta'],
  focalTversky: ['smooth', 'activation', 'skipAbsentClasses', 'alpha', 'beta', 'gamma'],
  focal: ['gamma'],
};

/**
 * Builds a loss from its config.
 *
 * @example
 * ```ts
 * const loss = buildLoss({ name: 'focalTversky', gamma: 0.75 }, { numClasses: 5, classWeights });
 * ```
 * @param config - see {@link LossConfig}.
 * @param common - class count, ignore value and default class weights of the run.
 * @param source - where the config came from (a file name), for errors.
 * @throws InputError naming `source` for an unknown loss name or parameter; RangeError for values out of range.
 */
export function buildLoss(config: LossConfig, common: LossCommonOptions, source = 'loss config'): SegmentationLoss {
  if (typeof config !== 'object' || config === null || typeof config.name !== 'string') {
    throw new InputError(source, `loss must be an object with a "name" (one of ${LOSS_NAMES.join(', ')}), got ${JSON.stringify(config)}`);
  }
  if (config.name === 'weightedSum') {
    const terms = (config as { terms?: unknown }).terms;
    if (!Array.isArray(terms) || terms.length === 0) throw new InputError(source, 'weightedSum loss needs a non-empty "terms" array of {weight, loss}');
    return weightedSum(terms.map((term: { weight: number; loss: LossConfig }) => ({ weight: term.weight, loss: buildLoss(term.loss, common, source) })));
  }
  const allowed = PARAMETERS[config.name];
  if (allowed === undefined) throw new InputError(source, `unknown loss "${config.name}": expected one of ${LOSS_NAMES.join(', ')}`);
  const { name, ...parameters } = config;
  for (const key of Object.keys(parameters)) {
    if (key !== 'classWeights' && !allowed.includes(key)) {
      throw new InputError(source, `loss "${name}" has no parameter "${key}" (it takes ${[...allowed, 'classWeights'].join(', ')})`);
    }
  }
  const options = { ...common, ...parameters } as never;
  switch (name) {
    case 'sparseCrossEntropy':
      return sparseCrossEntropy(options);
    case 'categoricalCrossEntropy':
      return categoricalCrossEntropy(options);
    case 'binaryCrossEntropy':
      return binaryCrossEntropy(options);
    case 'l1':
      return l1OneHot(options);
    case 'dice':
      return diceLoss(options);
    case 'tversky':
      return tverskyLoss(options);
    case 'focalTversky':
      return focalTverskyLoss(options);
    case 'focal':
      return focalLoss(options);
  }
}
