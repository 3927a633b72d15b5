import type * as tf from '@tensorflow/tfjs';
import type { TrainingPosition } from '../checkpoint.js';
import type { EpochSummaryEvent } from '../events.js';
import { setLearningRate } from '../optimizers.js';
import type { LearningRateSchedule } from '../schedules.js';
import type { MonitoredMetric } from '../trainerOptions.js';
import { monitoredValue } from './runMonitor.js';
import type { TrainerListener } from './trainerListener.js';

/** An optimizer whose rate follows the schedule in proportion: its base rate over the schedule's. */
export interface ScheduledOptimizer {
  optimizer: tf.Optimizer;
  baseRate: number;
}

/**
 * Sets the optimizers' learning rates before each step from the schedule, and feeds the schedule the
 * monitored metric at each epoch's end (reduce-on-plateau). Its state travels in `position.schedule`.
 */
export class LearningRateScheduleListener implements TrainerListener {
  constructor(
    private readonly schedule: LearningRateSchedule,
    /** Takes the schedule's rate itself. */
    private readonly optimizer: tf.Optimizer,
    /** The schedule's base rate, against which `others` scale theirs. */
    private readonly baseRate: number,
    private readonly others: readonly ScheduledOptimizer[],
    private readonly metric: MonitoredMetric,
  ) {}

  start(position: TrainingPosition, resumed: boolean): void {
    if (resumed) this.schedule.restore(position.schedule);
  }

  stepStarting(position: TrainingPosition): void {
    const rate = this.schedule.rateAt(position.epoch, position.globalStep);
    setLearningRate(this.optimizer, rate);
    for (const { optimizer, baseRate } of this.others)
      setLearningRate(optimizer, (baseRate * rate) / this.baseRate);
    position.learningRate = rate;
  }

  epochEnding(summary: EpochSummaryEvent, position: TrainingPosition): void {
    this.schedule.epochEnded(monitoredValue(this.metric, summary));
    position.schedule = this.schedule.state();
  }
}
