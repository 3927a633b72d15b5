import type { SegmentationMetrics } from '../../src/metrics/confusionMatrix.js';
import type { BatchMetricsEvent, EpochSummaryEvent } from '../../src/training/events.js';

/** A batch event as the trainer emits it, with the given step and loss (synthetic: sinks only format events). */
export function batchEvent(globalStep: number, loss: number): BatchMetricsEvent {
  return {
    type: 'batch',
    epoch: 0,
    step: globalStep,
    globalStep,
    losses: { total: loss },
    learningRate: 1e-3,
    running: { loss, pixelAccuracy: 0.9, meanIoU: 0.25 + globalStep / 100, perClassIoU: [0.9, 0.1] },
    imagesPerSecond: 4 + globalStep,
    tensorsAlive: 100,
    memory: { rss: 1e8, heapUsed: 5e7, tensorBytes: 1e6 },
  };
}

function metrics(iou: number[]): SegmentationMetrics {
  const names = ['background', 'building "main"'];
  return {
    pixelAccuracy: 0.9,
    meanIoU: iou.reduce((a, b) => a + b, 0) / iou.length,
    macro: { precision: 0.5, recall: 0.5, f1: 0.5 },
    micro: { precision: 0.9, recall: 0.9, f1: 0.9 },
    perClass: iou.map((value, i) => ({
      name: names[i] ?? `class ${i}`,
      precision: 0.5,
      recall: 0.5,
      f1: 0.5,
      iou: value,
      support: 10,
    })),
    pixels: 1000,
  };
}

export function epochEvent(epoch: number, globalStep: number): EpochSummaryEvent {
  return {
    type: 'epoch',
    epoch,
    steps: globalStep,
    globalStep,
    trainLoss: 0.5,
    train: metrics([0.8, 0.2]),
    validationLoss: 0.6,
    validation: metrics([0.85, 0.3]),
    learningRate: 1e-3,
    seconds: 1,
  };
}
