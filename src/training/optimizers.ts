import * as tf from '@tensorflow/tfjs';
import { Adam } from './adam.js';

/** An optimizer as a config names it. */
export type OptimizerConfig =
  | { name: 'adam'; learningRate?: number; beta1?: number; beta2?: number; epsilon?: number }
  | { name: 'sgd'; learningRate?: number; momentum?: number; nesterov?: boolean };

/** An optimizer config with every default filled in. */
export type OptimizerSettings =
  | { name: 'adam'; learningRate: number; beta1: number; beta2: number; epsilon: number }
  | { name: 'sgd'; learningRate: number; momentum: number; nesterov: boolean };

/**
 * Checks an optimizer config and fills in its defaults: Adam (1e-3, 0.9, 0.999, 1e-7) or SGD with momentum
 * (0.01, 0.9; momentum 0 is plain SGD). Builds nothing.
 *
 * @throws RangeError naming the field when a value is out of range.
 */
export function optimizerSettings(config: OptimizerConfig): OptimizerSettings {
  const check = (name: string, value: number, ok: boolean) => {
    if (!ok || !Number.isFinite(value))
      throw new RangeError(`optimizer ${config.name}: ${name} out of range, got ${String(value)}`);
  };
  switch (config.name) {
    case 'adam': {
      const { learningRate = 1e-3, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-7 } = config;
      check('learningRate', learningRate, learningRate > 0);
      check('beta1', beta1, beta1 >= 0 && beta1 < 1);
      check('beta2', beta2, beta2 >= 0 && beta2 < 1);
      check('epsilon', epsilon, epsilon > 0);
      return { name: 'adam', learningRate, beta1, beta2, epsilon };
    }
    case 'sgd': {
      const { learningRate = 0.01, momentum = 0.9, nesterov = false } = config;
      check('learningRate', learningRate, learningRate > 0);
      check('momentum', momentum, momentum >= 0 && momentum < 1);
      return { name: 'sgd', learningRate, momentum, nesterov };
    }
    default:
      throw new RangeError(
        `optimizer: name must be adam or sgd, got ${String((config as { name: unknown }).name)}`,
      );
  }
}

/**
 * Builds an optimizer from a config checked by {@link optimizerSettings}.
 *
 * @example
 * ```ts
 * const optimizer = buildOptimizer({ name: 'adam', learningRate: 2e-4, beta1: 0.5 });
 * ```
 * @throws RangeError naming the field when a value is out of range.
 */
export function buildOptimizer(config: OptimizerConfig): tf.Optimizer {
  const settings = optimizerSettings(config);
  return settings.name === 'adam'
    ? new Adam(settings.learningRate, settings.beta1, settings.beta2, settings.epsilon)
    : tf.train.momentum(settings.learningRate, settings.momentum, settings.nesterov);
}

/** The learning rate an optimizer from {@link buildOptimizer} uses now. */
export function getLearningRate(optimizer: tf.Optimizer): number {
  return (optimizer as unknown as { learningRate: number }).learningRate;
}

/** Changes an optimizer's learning rate between steps (schedules). */
export function setLearningRate(optimizer: tf.Optimizer, rate: number): void {
  const sgd = optimizer as unknown as { setLearningRate?: (rate: number) => void };
  if (typeof sgd.setLearningRate === 'function') {
    // SGD and momentum read the rate from a kept scalar that setLearningRate replaces.
    sgd.setLearningRate(rate);
  } else {
    // Adam reads this.learningRate on every applyGradients.
    (optimizer as unknown as { learningRate: number }).learningRate = rate;
  }
}
