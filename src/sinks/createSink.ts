import type { Observable, Subscription } from 'rxjs';
import { type HttpSinkOptions, httpSink } from './httpSink.js';
import { ndjsonSink } from './ndjsonSink.js';
import type { MetricEvent, MetricSink } from './sinkEvents.js';
import { tensorboardSink } from './tensorboardSink.js';

/** The sink kinds `--metrics` accepts. */
export const SINK_SPEC_FORMS = [
  'ndjson:-',
  'ndjson:FILE',
  'tensorboard:DIR',
  'http:PORT',
  'http:HOST:PORT',
] as const;

/**
 * Creates a sink from its command-line form: `ndjson:-` (stdout), `ndjson:FILE`, `tensorboard:DIR`,
 * `http:PORT` or `http:HOST:PORT` (host defaults to 127.0.0.1).
 *
 * @example
 * ```ts
 * const sinks = ['ndjson:-', 'http:6006'].map((spec) => createSink(spec));
 * ```
 * @param spec The sink spec.
 * @param httpOptions Token, warning and bounds for an HTTP sink.
 * @throws RangeError naming the spec when it has none of the forms.
 */
export function createSink(
  spec: string,
  httpOptions: Omit<HttpSinkOptions, 'port' | 'host'> = {},
): MetricSink {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const target = colon < 0 ? '' : spec.slice(colon + 1);
  const bad = (why: string): RangeError =>
    new RangeError(`--metrics: '${spec}' ${why}; expected one of ${SINK_SPEC_FORMS.join(', ')}`);
  if (target.length === 0) throw bad('has no target');
  switch (kind) {
    case 'ndjson':
      return ndjsonSink(target);
    case 'tensorboard':
      return tensorboardSink(target);
    case 'http': {
      const match = /^(?:(.+):)?(\d{1,5})$/.exec(target);
      if (!match) throw bad('has no port');
      const host = match[1]?.replace(/^\[(.*)\]$/, '$1');
      return httpSink({ ...httpOptions, port: Number(match[2]), ...(host ? { host } : {}) });
    }
    default:
      throw bad(`has unknown kind '${kind}'`);
  }
}

/**
 * Feeds every event of `events$` to each sink. A sink that throws is reported once and left out, so a full
 * disk does not stop training.
 *
 * @example
 * ```ts
 * const subscription = writeToSinks(trainingEvents$, sinks);
 * ```
 * @param events$ The events (the trainer's observable, shared).
 * @param sinks Where they go.
 * @param onSinkError Told about a failing sink.
 */
export function writeToSinks(
  events$: Observable<MetricEvent>,
  sinks: readonly MetricSink[],
  onSinkError: (sink: MetricSink, error: unknown) => void = (sink, error) =>
    process.stderr.write(
      `warning: metrics sink ${sink.description} failed and is left out: ${String(error)}\n`,
    ),
): Subscription {
  const working = new Set(sinks);
  return events$.subscribe((event) => {
    for (const sink of working) {
      try {
        sink.write(event);
      } catch (error) {
        working.delete(sink);
        onSinkError(sink, error);
      }
    }
  });
}
