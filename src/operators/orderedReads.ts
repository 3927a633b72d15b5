import { Observable, type OperatorFunction } from 'rxjs';
import { type BadInputPolicy, handleBadInput, type InputError, type SkipSink } from '../errors.js';
import type { LabelledPair } from '../types.js';

export interface OrderedReadsOptions<P extends LabelledPair = LabelledPair> {
  /** Reads in flight at once. */
  concurrency: number;
  onBadInput: BadInputPolicy;
  /** Where skipped pairs are recorded under `skip`. */
  skipReport?: SkipSink;
  /** Called for each pair skipped under `skip`. */
  onSkip?: (pair: P, error: InputError) => void;
}

/**
 * Reads each pair with `read`, up to `concurrency` at once, and emits the results in input order whatever
 * order the reads finish in: the head is emitted as soon as it is done, so at most `concurrency` results
 * wait. A failed read stops the stream with its error, or under `skip` (for an `InputError`) is recorded
 * and left out. The reading engine of `readLabelledImages` and of the tile pipeline's worker threads.
 */
export function orderedReads<T, P extends LabelledPair = LabelledPair>(
  read: (pair: P) => Promise<T>,
  options: OrderedReadsOptions<P>,
): OperatorFunction<P, T> {
  const { concurrency, onBadInput: policy } = options;
  return (pairs) =>
    new Observable<T>((subscriber) => {
      const queue: Array<{ pair: P; settled: boolean; result?: T; error?: unknown }> = [];
      const waiting: P[] = [];
      let inputDone = false;
      let stopped = false;

      const drain = (): void => {
        while (!stopped && queue.length > 0 && queue[0]!.settled) {
          const head = queue.shift()!;
          if (head.error !== undefined) {
            try {
              handleBadInput(head.error, policy, options.skipReport);
              options.onSkip?.(head.pair, head.error as InputError);
            } catch (error) {
              stopped = true;
              subscriber.error(error);
              return;
            }
          } else {
            subscriber.next(head.result!);
          }
        }
        while (!stopped && waiting.length > 0 && queue.length < concurrency) start(waiting.shift()!);
        if (!stopped && inputDone && queue.length === 0 && waiting.length === 0) subscriber.complete();
      };

      const start = (pair: P): void => {
        const entry: (typeof queue)[number] = { pair, settled: false };
        queue.push(entry);
        read(pair)
          .then(
            (result) => Object.assign(entry, { settled: true, result }),
            (error: unknown) =>
              Object.assign(entry, { settled: true, error: error ?? new Error('read failed') }),
          )
          .then(drain)
          // drain emits downstream: a throw there ends the stream instead of going unhandled.
          .catch((error: unknown) => {
            stopped = true;
            subscriber.error(error);
          });
      };

      const subscription = pairs.subscribe({
        next: (pair) => {
          waiting.push(pair);
          drain();
        },
        error: (error: unknown) => {
          stopped = true;
          subscriber.error(error);
        },
        complete: () => {
          inputDone = true;
          drain();
        },
      });
      return () => {
        stopped = true;
        subscription.unsubscribe();
      };
    });
}
