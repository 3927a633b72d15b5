import type { TrainingPosition } from '../checkpoint.js';
import type { CheckpointEvent, EpochSummaryEvent, TrainingEvent } from '../events.js';

/** Where a run can be saved: after a step inside an epoch, at an epoch's end, when it is aborted, at its end. */
export type RunBoundary = CheckpointEvent['reason'];

/**
 * What watches a run (the monitor of best epoch and patience, the learning-rate schedule, the checkpoint
 * writer). The trainer calls its listeners in the order it was given them, at these points; each keeps what
 * must survive a resume in the position it is handed.
 */
export interface TrainerListener {
  /** Before the first batch, at the run's position: a fresh start, or the checkpoint's when `resumed`. */
  start?(position: TrainingPosition, resumed: boolean): Promise<void> | void;
  /** Before a batch of an optimizer step is trained on, at the position of that step. */
  stepStarting?(position: TrainingPosition): void;
  /** An epoch's summary, before the position moves to the next epoch: may add to both. */
  epochEnding?(summary: EpochSummaryEvent, position: TrainingPosition): void;
  /** The run reached a boundary (the position has moved past it); returns the events it made. */
  boundary?(reason: RunBoundary, position: TrainingPosition): Promise<TrainingEvent[]>;
}
