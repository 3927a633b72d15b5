import type * as tf from '@tensorflow/tfjs';
import { assertCheckpointDirWritable, saveCheckpoint, type TrainingPosition } from '../checkpoint.js';
import type { CheckpointEvent, TrainingEvent } from '../events.js';
import type { RunBoundary, TrainerListener } from './trainerListener.js';

/** Where and how often a {@link CheckpointWriter} writes. */
export interface CheckpointWriterOptions {
  dir: string;
  /** Also write after every this many optimizer steps. */
  everySteps?: number;
  /** Checkpoints kept (see saveCheckpoint). */
  keep?: number;
}

/**
 * Writes checkpoints of the run's networks and optimizers (by role: `model`, `discriminator`) at each
 * epoch's end (marked best when the monitored metric improved in it), every `everySteps` steps, on abort
 * and at the end; never twice for the same step and state.
 */
export class CheckpointWriter implements TrainerListener {
  private lastStep = -1;
  private lastFinished = false;

  constructor(
    private readonly options: CheckpointWriterOptions,
    private readonly models: Record<string, tf.LayersModel>,
    private readonly optimizers: Record<string, tf.Optimizer>,
  ) {}

  async start(position: TrainingPosition, resumed: boolean): Promise<void> {
    await assertCheckpointDirWritable(this.options.dir);
    if (!resumed) return;
    // The checkpoint resumed from holds this position already.
    this.lastStep = position.globalStep;
    this.lastFinished = position.finished;
  }

  async boundary(reason: RunBoundary, position: TrainingPosition): Promise<TrainingEvent[]> {
    const { everySteps } = this.options;
    if (reason === 'step' && !(everySteps && position.globalStep % everySteps === 0)) return [];
    // The epoch just ended is the best when the monitor moved the best to it.
    const best = reason === 'epoch' && position.best?.epoch === position.epoch - 1;
    const saved = await this.write(reason, position, best);
    return saved ? [saved] : [];
  }

  private async write(
    reason: RunBoundary,
    position: TrainingPosition,
    best: boolean,
  ): Promise<CheckpointEvent | null> {
    if (this.lastStep === position.globalStep && this.lastFinished === position.finished) return null;
    const { dir, keep } = this.options;
    const path = await saveCheckpoint(
      dir,
      { models: this.models, optimizers: this.optimizers, position },
      { ...(keep !== undefined ? { keep } : {}), best },
    );
    this.lastStep = position.globalStep;
    this.lastFinished = position.finished;
    return {
      type: 'checkpoint',
      path,
      epoch: position.epoch,
      step: position.step,
      globalStep: position.globalStep,
      reason,
    };
  }
}
