import type { SegmentationMetrics } from '../metrics/confusionMatrix.js';

/**
 * What the trainer operator emits: one event per optimizer step and one summary per epoch, told apart by
 * `type`. Every field is plain JSON (numbers, strings, arrays, records), so events can be written as JSON
 * lines, sent to a dashboard or logged as they are.
 */

/** Process memory at the time of an event. */
export interface MemorySample {
  /** Resident set size, bytes. */
  rss: number;
  /** V8 heap in use, bytes. */
  heapUsed: number;
  /** Bytes held by TF.js tensors (tf.memory().numBytes). */
  tensorBytes: number;
  /** Size of the wasm backend's linear memory in bytes, when the backend is wasm. */
  wasmHeap?: number;
}

/** Losses of one step. `total` is what the segmentation model was trained on. */
export interface StepLosses {
  total: number;
  /** Pix2Pix: the generator's adversarial part and segmentation part, and the discriminator's loss on
   * the steps where the discriminator was updated. */
  adversarial?: number;
  segmentation?: number;
  discriminator?: number;
}

/** Emitted after every optimizer step. */
export interface BatchMetricsEvent {
  type: 'batch';
  /** 0-based epoch. */
  epoch: number;
  /** 0-based step within the epoch (optimizer steps, not micro-batches). */
  step: number;
  /** Optimizer steps since the start of the run, including steps done before a resume. */
  globalStep: number;
  losses: StepLosses;
  learningRate: number;
  /** Running metrics over the epoch so far (training batches, predictions before the update). */
  running: { loss: number; pixelAccuracy: number; meanIoU: number; perClassIoU: number[] };
  /** Images in this step divided by the step's wall time. */
  imagesPerSecond: number;
  /** tf.memory().numTensors after the step. */
  tensorsAlive: number;
  memory: MemorySample;
}

/** Emitted at the end of every epoch. */
export interface EpochSummaryEvent {
  type: 'epoch';
  epoch: number;
  /** Optimizer steps in this epoch. */
  steps: number;
  globalStep: number;
  trainLoss: number;
  train: SegmentationMetrics;
  /** Present when a validation source was given. */
  validationLoss?: number;
  validation?: SegmentationMetrics;
  learningRate: number;
  /** The monitored metric's best value so far and the epoch where it was reached. */
  best?: { metric: string; value: number; epoch: number };
  /** Set when early stopping ends the run after this epoch. */
  earlyStopped?: boolean;
  /** Wall time of the epoch from its first batch to the end of its summary, validation included; after a
   * resume, from the first batch since the resume. */
  seconds: number;
  /** Wall time of the validation pass, part of `seconds`; present when a validation source was given. */
  validationSeconds?: number;
}

/** Emitted when a checkpoint has been written completely. */
export interface CheckpointEvent {
  type: 'checkpoint';
  path: string;
  epoch: number;
  /** Steps of `epoch` already done when the checkpoint was written. */
  step: number;
  globalStep: number;
  reason: 'step' | 'epoch' | 'abort' | 'end';
}

/** Emitted last when an AbortSignal stopped the run at a batch boundary (after the checkpoint). */
export interface StoppedEvent {
  type: 'stopped';
  reason: 'aborted';
  epoch: number;
  step: number;
  globalStep: number;
  /** The checkpoint written on stopping, when a checkpoint directory was configured. */
  checkpoint?: string;
}

export type TrainingEvent = BatchMetricsEvent | EpochSummaryEvent | CheckpointEvent | StoppedEvent;
