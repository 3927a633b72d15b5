/**
 * Learning-rate schedules. A schedule gives the rate for an (epoch, global step) and, for reduce-on-plateau,
 * learns from epoch results; its whole state is plain JSON so checkpoints can carry it.
 */
export type ScheduleConfig =
  | { name: 'constant' }
  /** Multiply by `gamma` every `everyEpochs` epochs. */
  | { name: 'step'; everyEpochs: number; gamma?: number }
  /** Cosine from the base rate to `minLearningRate` over `totalSteps` optimizer steps. */
  | { name: 'cosine'; totalSteps: number; minLearningRate?: number }
  /** base * (1 - step / totalSteps)^power (DeepLab's "poly"). */
  | { name: 'poly'; totalSteps: number; power?: number; minLearningRate?: number }
  /** Multiply by `factor` when the monitored epoch metric has not improved for `patience` epochs. */
  | {
      name: 'reduceOnPlateau';
      factor?: number;
      patience?: number;
      minLearningRate?: number;
      minDelta?: number;
    };

/** What a reduce-on-plateau schedule remembers between epochs (also saved in checkpoints). */
export interface ScheduleState {
  /** Current rate multiplier from plateaus. */
  scale: number;
  best: number | null;
  epochsWithoutImprovement: number;
}

export interface LearningRateSchedule {
  readonly config: ScheduleConfig;
  /** The rate to use for the step with this global index in this epoch. */
  rateAt(epoch: number, globalStep: number): number;
  /** Feeds an epoch's monitored value (higher is better); only reduce-on-plateau uses it. */
  epochEnded(value: number | undefined): void;
  state(): ScheduleState;
  restore(state: ScheduleState): void;
}

function positive(name: string, value: number | undefined, fallback: number, allowZero = false): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0))
    throw new RangeError(
      `schedule: ${name} must be a finite number ${allowZero ? '>= 0' : '> 0'}, got ${String(value)}`,
    );
  return v;
}

/**
 * Creates a schedule around a base learning rate.
 *
 * @example
 * ```ts
 * const schedule = createSchedule({ name: 'cosine', totalSteps: 1000 }, 1e-3);
 * optimizerRate = schedule.rateAt(epoch, globalStep);
 * ```
 * @param config - see {@link ScheduleConfig}; defaults to constant.
 * @param baseRate - the rate at step 0.
 * @throws RangeError naming the field when a value is out of range.
 */
export function createSchedule(
  config: ScheduleConfig = { name: 'constant' },
  baseRate: number,
): LearningRateSchedule {
  positive('baseRate', baseRate, baseRate);
  let plateau: ScheduleState = { scale: 1, best: null, epochsWithoutImprovement: 0 };
  let rate: (epoch: number, step: number) => number;
  switch (config.name) {
    case 'constant':
      rate = () => baseRate;
      break;
    case 'step': {
      const every = positive('everyEpochs', config.everyEpochs, NaN);
      const gamma = positive('gamma', config.gamma, 0.1);
      rate = (epoch) => baseRate * gamma ** Math.floor(epoch / every);
      break;
    }
    case 'cosine': {
      const total = positive('totalSteps', config.totalSteps, NaN);
      const min = positive('minLearningRate', config.minLearningRate, 0, true);
      rate = (_, step) =>
        min + ((baseRate - min) * (1 + Math.cos((Math.PI * Math.min(step, total)) / total))) / 2;
      break;
    }
    case 'poly': {
      const total = positive('totalSteps', config.totalSteps, NaN);
      const power = positive('power', config.power, 0.9);
      const min = positive('minLearningRate', config.minLearningRate, 0, true);
      rate = (_, step) => Math.max(min, baseRate * (1 - Math.min(step, total) / total) ** power);
      break;
    }
    case 'reduceOnPlateau': {
      const min = positive('minLearningRate', config.minLearningRate, 0, true);
      positive('factor', config.factor, 0.1);
      positive('patience', config.patience, 2, true);
      positive('minDelta', config.minDelta, 0, true);
      rate = () => Math.max(min, baseRate * plateau.scale);
      break;
    }
    default:
      throw new RangeError(
        `schedule: name must be constant, step, cosine, poly or reduceOnPlateau, got ${String((config as { name: unknown }).name)}`,
      );
  }
  return {
    config,
    rateAt: rate,
    epochEnded(value) {
      if (config.name !== 'reduceOnPlateau' || value === undefined) return;
      const { factor = 0.1, patience = 2, minDelta = 0 } = config;
      if (plateau.best === null || value > plateau.best + minDelta) {
        plateau = { ...plateau, best: value, epochsWithoutImprovement: 0 };
      } else if (plateau.epochsWithoutImprovement + 1 > patience) {
        plateau = { ...plateau, scale: plateau.scale * factor, epochsWithoutImprovement: 0 };
      } else {
        plateau = { ...plateau, epochsWithoutImprovement: plateau.epochsWithoutImprovement + 1 };
      }
    },
    state: () => ({ ...plateau }),
    restore(state) {
      plateau = { ...state };
    },
  };
}
