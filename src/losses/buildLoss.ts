import { InputError } from '../errors.js';
import {
  binaryCrossEntropy,
  categoricalCrossEntropy,
  diceLoss,
  focalLoss,
  focalTverskyLoss,
  type LossCommonOptions,
  l1OneHot,
  type SegmentationLoss,
  sparseCrossEntropy,
  tverskyLoss,
  weightedSum,
} from './segmentationLosses.js';

/**
 * The losses a config names, each with its builder and the parameters it takes (besides `classWeights`):
 * one table, so that a loss is added in one place. `weightedSum`, which nests losses, is built apart.
 */
const LOSSES = {
  sparseCrossEntropy: { build: sparseCrossEntropy, parameters: [] },
  categoricalCrossEntropy: { build: categoricalCrossEntropy, parameters: ['labelSmoothing'] },
  binaryCrossEntropy: { build: binaryCrossEntropy, parameters: [] },
  l1: { build: l1OneHot, parameters: [] },
  dice: { build: diceLoss, parameters: ['smooth', 'activation', 'skipAbsentClasses'] },
  tversky: { build: tverskyLoss, parameters: ['smooth', 'activation', 'skipAbsentClasses', 'alpha', 'beta'] },
  focalTversky: {
    build: focalTverskyLoss,
    parameters: ['smooth', 'activation', 'skipAbsentClasses', 'alpha', 'beta', 'gamma'],
  },
  focal: { build: focalLoss, parameters: ['gamma'] },
} as const satisfies Record<
  string,
  { build: (options: never) => SegmentationLoss; parameters: readonly string[] }
>;

/** The losses a config can name. */
export const LOSS_NAMES = [...(Object.keys(LOSSES) as Array<keyof typeof LOSSES>), 'weightedSum'] as const;
export type LossName = keyof typeof LOSSES | 'weightedSum';

/**
 * A loss as written in a config file: its name and its own parameters, e.g.
 * `{"name": "focalTversky", "alpha": 0.3, "beta": 0.7, "gamma": 0.75}` or
 * `{"name": "weightedSum", "terms": [{"weight": 1, "loss": {"name": "sparseCrossEntropy"}}, ...]}`.
 * `classWeights` may be set per loss; otherwise the run's class weights apply.
 */
export type LossConfig =
  | { name: Exclude<LossName, 'weightedSum'>; [parameter: string]: unknown }
  | { name: 'weightedSum'; terms: Array<{ weight: number; loss: LossConfig }> };

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
export function buildLoss(
  config: LossConfig,
  common: LossCommonOptions,
  source = 'loss config',
): SegmentationLoss {
  if (typeof config !== 'object' || config === null || typeof config.name !== 'string') {
    throw new InputError(
      source,
      `loss must be an object with a "name" (one of ${LOSS_NAMES.join(', ')}), got ${JSON.stringify(config)}`,
    );
  }
  if (config.name === 'weightedSum') {
    const terms = (config as { terms?: unknown }).terms;
    if (!Array.isArray(terms) || terms.length === 0)
      throw new InputError(source, 'weightedSum loss needs a non-empty "terms" array of {weight, loss}');
    return weightedSum(
      terms.map((term: { weight: number; loss: LossConfig }) => ({
        weight: term.weight,
        loss: buildLoss(term.loss, common, source),
      })),
    );
  }
  const entry = Object.hasOwn(LOSSES, config.name) ? LOSSES[config.name as keyof typeof LOSSES] : undefined;
  if (entry === undefined)
    throw new InputError(source, `unknown loss "${config.name}": expected one of ${LOSS_NAMES.join(', ')}`);
  const { name, ...parameters } = config;
  const allowed: readonly string[] = entry.parameters;
  for (const key of Object.keys(parameters)) {
    if (key !== 'classWeights' && !allowed.includes(key)) {
      throw new InputError(
        source,
        `loss "${name}" has no parameter "${key}" (it takes ${[...allowed, 'classWeights'].join(', ')})`,
      );
    }
  }
  // Each builder checks its own parameters' values.
  return entry.build({ ...common, ...parameters } as never);
}
