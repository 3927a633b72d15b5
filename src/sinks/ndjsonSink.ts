import { createWriteStream, type WriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import type { MetricSink } from './sinkEvents.js';

/**
 * Writes every event as one JSON line to a stream or file (`ndjson:-` is stdout). Sample images are written
 * without their PNG payload, which belongs in TensorBoard or the dashboard, not in a log.
 *
 * @example
 * ```ts
 * const sink = ndjsonSink('runs/a/metrics.ndjson');
 * events$.subscribe((e) => sink.write(e));
 * ```
 * @param target '-' for stdout, a file path, or a writable stream.
 */
export function ndjsonSink(target: string | Writable): MetricSink {
  if (typeof target === 'string' && target.length === 0)
    throw new TypeError('ndjsonSink: target must be "-" or a file path, got ""');
  const toStdout = target === '-';
  const stream: Writable =
    typeof target !== 'string'
      ? target
      : toStdout
        ? process.stdout
        : createWriteStream(target, { flags: 'a' });
  return {
    description: `ndjson:${typeof target === 'string' ? target : 'stream'}`,
    write(event) {
      const line = event.type === 'sample' ? { ...event, png: undefined } : event;
      stream.write(`${JSON.stringify(line)}\n`);
    },
    close() {
      if (typeof target !== 'string' || toStdout) return Promise.resolve();
      return new Promise((resolve, reject) =>
        (stream as WriteStream).end((error?: Error | null) => (error ? reject(error) : resolve())),
      );
    },
  };
}
