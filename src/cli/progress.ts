import type { Writable } from 'node:stream';
import type { MetricEvent } from '../sinks/sinkEvents.js';

/** Options of {@link progressReporter}. */
export interface ProgressOptions {
  /** Steps per epoch, for the bar's length. */
  stepsPerEpoch: number;
  epochs: number;
  /** [stream=process.stderr] */
  stream?: Writable & { isTTY?: boolean; columns?: number };
  /** [everySteps=10] Without a terminal: a plain line every this many steps (and at each epoch end). */
  everySteps?: number;
}

const fixed = (value: number | undefined, digits: number): string =>
  value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);

/**
 * Shows training progress: on a terminal one line redrawn in place (a bar with epoch, step, loss, mIoU and
 * images/s); elsewhere (logs, CI) plain lines every few steps, so logs stay readable. Epoch summaries and
 * the stop message are always whole lines.
 *
 * @example
 * ```ts
 * const report = progressReporter({ stepsPerEpoch: 40, epochs: 3 });
 * events$.subscribe(report);
 * ```
 * @param options Steps, epochs, stream and line interval.
 * @returns A function to call with each event.
 */
export function progressReporter(options: ProgressOptions): (event: MetricEvent) => void {
  const stream = options.stream ?? process.stderr;
  const everySteps = options.everySteps ?? 10;
  const onTerminal = stream.isTTY === true;
  let barShown = false;
  const line = (text: string): void => {
    stream.write(`${barShown ? '\r\x1b[2K' : ''}${text}\n`);
    barShown = false;
  };
  return (event) => {
    switch (event.type) {
      case 'batch': {
        const status = `epoch ${event.epoch + 1}/${options.epochs} step ${event.step + 1}/${options.stepsPerEpoch} loss ${fixed(event.losses.total, 4)} mIoU ${fixed(event.running.meanIoU, 3)} ${fixed(event.imagesPerSecond, 1)} img/s`;
        if (onTerminal) {
          const width = 24;
          const done = Math.min(width, Math.round(((event.step + 1) / options.stepsPerEpoch) * width));
          stream.write(`\r\x1b[2K[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${status}`);
          barShown = true;
        } else if ((event.step + 1) % everySteps === 0 || event.step === 0) {
          line(status);
        }
        break;
      }
      case 'epoch': {
        const validation = event.validation
          ? ` | validation loss ${fixed(event.validationLoss, 4)} mIoU ${fixed(event.validation.meanIoU, 3)} accuracy ${fixed(event.validation.pixelAccuracy, 3)}`
          : '';
        const validationTime =
          event.validationSeconds === undefined ? '' : ` (validation ${fixed(event.validationSeconds, 1)}s)`;
        line(
          `epoch ${event.epoch + 1}/${options.epochs} done in ${fixed(event.seconds, 1)}s${validationTime}: train loss ${fixed(event.trainLoss, 4)} mIoU ${fixed(event.train.meanIoU, 3)}${validation}`,
        );
        break;
      }
      case 'checkpoint':
        if (event.reason !== 'step') line(`checkpoint (${event.reason}): ${event.path}`);
        break;
      case 'stopped':
        line(
          `stopped at epoch ${event.epoch + 1}, step ${event.step} (global step ${event.globalStep})${event.checkpoint ? `; checkpoint ${event.checkpoint}` : ''}`,
        );
        break;
      default:
        break;
    }
  };
}
