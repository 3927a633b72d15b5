import type { TrainingPosition } from '../checkpoint.js';
import type { EpochSummaryEvent } from '../events.js';
import type { MonitoredMetric } from '../trainerOptions.js';
import type { TrainerListener } from './trainerListener.js';

/** The monitored metric's value in an epoch summary, negated for losses so that higher is always better. */
export function monitoredValue(metric: MonitoredMetric, summary: EpochSummaryEvent): number | undefined {
  switch (metric) {
    case 'train.meanIoU':
      return summary.train.meanIoU;
    case 'trainLoss':
      return -summary.trainLoss;
    case 'validation.meanIoU':
      return summary.validation?.meanIoU;
    case 'validation.xview2':
      return summary.validation?.xview2?.score;
    case 'validationLoss':
      return summary.validationLoss === undefined ? undefined : -summary.validationLoss;
  }
}

/**
 * Watches the monitored metric at each epoch's end: keeps the best epoch (`position.best`, shown in the
 * summary's `best`) and the epochs since it improved by more than `minDelta`, and marks the summary
 * `earlyStopped` when early stopping's patience is used up.
 */
export class RunMonitor implements TrainerListener {
  constructor(
    readonly metric: MonitoredMetric,
    private readonly minDelta = 0,
    private readonly patience?: number,
  ) {}

  epochEnding(summary: EpochSummaryEvent, position: TrainingPosition): void {
    const value = monitoredValue(this.metric, summary);
    if (value !== undefined) {
      if (position.best === null || value > position.best.value + this.minDelta) {
        position.best = { value, epoch: position.epoch };
        position.epochsWithoutImprovement = 0;
      } else {
        position.epochsWithoutImprovement += 1;
      }
      summary.best = { metric: this.metric, value: position.best.value, epoch: position.best.epoch };
    }
    if (this.patienceExhausted(position)) summary.earlyStopped = true;
  }

  /** Early stopping is on and the metric has not improved for `patience` epochs. */
  patienceExhausted(position: TrainingPosition): boolean {
    return this.patience !== undefined && position.epochsWithoutImprovement >= this.patience;
  }
}
