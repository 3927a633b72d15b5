import type { MetricEvent } from './sinkEvents.js';

/** What the `/metrics` endpoint reports: the latest batch and epoch events and server counters. */
export interface PrometheusState {
  batch: MetricEvent | undefined;
  epoch: MetricEvent | undefined;
  events: number;
  viewers: number;
}

function labelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * Renders the run's latest metrics in the Prometheus text exposition format (version 0.0.4). A handful of
 * gauges does not need a metrics library's registry.
 *
 * @example
 * ```ts
 * prometheusText({ batch, epoch, events: 10, viewers: 1 }); // "# TYPE segstream_loss gauge\nsegstream_loss 0.42\n..."
 * ```
 * @param state The latest events and counters.
 */
export function prometheusText(state: PrometheusState): string {
  const lines: string[] = [];
  const gauge = (
    name: string,
    help: string,
    samples: [labels: string, value: number | undefined][],
  ): void => {
    const present = samples.filter(([, v]) => v !== undefined && Number.isFinite(v));
    if (present.length === 0) return;
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, value] of present) lines.push(`${name}${labels} ${value}`);
  };
  const { batch, epoch } = state;
  if (batch?.type === 'batch') {
    gauge('segstream_loss', 'Loss of the latest optimizer step.', [['', batch.losses.total]]);
    gauge('segstream_running_mean_iou', 'Running mean IoU over the current epoch.', [
      ['', batch.running.meanIoU],
    ]);
    gauge('segstream_running_pixel_accuracy', 'Running pixel accuracy over the current epoch.', [
      ['', batch.running.pixelAccuracy],
    ]);
    gauge('segstream_images_per_second', 'Training throughput of the latest step.', [
      ['', batch.imagesPerSecond],
    ]);
    gauge('segstream_learning_rate', 'Current learning rate.', [['', batch.learningRate]]);
    gauge('segstream_global_step', 'Optimizer steps since the start of the run.', [['', batch.globalStep]]);
    gauge('segstream_epoch', 'Current epoch (0-based).', [['', batch.epoch]]);
    gauge('segstream_tensors_alive', 'TF.js tensors alive after the latest step.', [
      ['', batch.tensorsAlive],
    ]);
    gauge('segstream_memory_bytes', 'Process memory.', [
      ['{kind="rss"}', batch.memory.rss],
      ['{kind="heap_used"}', batch.memory.heapUsed],
      ['{kind="tensors"}', batch.memory.tensorBytes],
      ['{kind="wasm_heap"}', batch.memory.wasmHeap],
    ]);
  }
  if (epoch?.type === 'epoch') {
    const metrics = epoch.validation ?? epoch.train;
    const split = epoch.validation ? 'validation' : 'train';
    gauge('segstream_epoch_loss', 'Loss of the latest finished epoch.', [
      ['{split="train"}', epoch.trainLoss],
      ['{split="validation"}', epoch.validationLoss],
    ]);
    gauge('segstream_epoch_mean_iou', 'Mean IoU of the latest finished epoch.', [
      ['{split="train"}', epoch.train.meanIoU],
      ['{split="validation"}', epoch.validation?.meanIoU],
    ]);
    gauge(
      'segstream_class_iou',
      'Per-class IoU of the latest finished epoch.',
      metrics.perClass.map((c) => [`{split="${split}",class="${labelValue(c.name)}"}`, c.iou]),
    );
  }
  gauge('segstream_events_received', 'Events received by the metrics server.', [['', state.events]]);
  gauge('segstream_viewers', 'Dashboard viewers connected.', [['', state.viewers]]);
  return `${lines.join('\n')}\n`;
}
