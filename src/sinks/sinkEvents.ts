import type { TrainingEvent } from '../training/events.js';

/**
 * A sample prediction for viewers: the image, its label and the model's prediction as colour PNGs (base64),
 * side by side. Emitted by the train pipeline after each epoch, beside the trainer's own events.
 */
export interface PredictionSampleEvent {
  type: 'sample';
  epoch: number;
  globalStep: number;
  /** Source image id of the sample. */
  id: string;
  /** PNG, base64: image | label colours | prediction colours. */
  png: string;
  width: number;
  height: number;
}

/** What sinks receive: the trainer's events plus sample predictions. */
export type MetricEvent = TrainingEvent | PredictionSampleEvent;

/** A destination for live metrics. `close()` flushes and releases what the sink holds (files, sockets). */
export interface MetricSink {
  /** What the sink writes to, for a log line (`ndjson:-`, `http://127.0.0.1:6006/`). */
  readonly description: string;
  write(event: MetricEvent): void;
  close(): Promise<void>;
}
