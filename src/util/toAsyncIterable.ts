import type { Observable } from 'rxjs';

export interface ToAsyncIterableOptions<T> {
  /** Called for items that were emitted but never taken because the consumer stopped early (e.g. to release a batch). */
  onDiscard?: (item: T) => void;
}

/**
 * The pull side of a pipeline: iterates an Observable with `for await`. Items the Observable pushes before
 * they are asked for wait in a queue; the queue is bounded only by the pipeline's own demand signal (the
 * credit gate of `tileBatches`), which is why a pipeline should be gated. Leaving the loop early
 * unsubscribes and hands queued items to `onDiscard`.
 *
 * @example
 * for await (const batch of toAsyncIterable(tileBatches(options), { onDiscard: (b) => b.release() })) {
 *   await trainStep(batch);
 *   batch.release();
 * }
 */
export function toAsyncIterable<T>(
  source: Observable<T>,
  options: ToAsyncIterableOptions<T> = {},
): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const queue: T[] = [];
      let done = false;
      let failure: { error: unknown } | undefined;
      let wake: (() => void) | undefined;
      const notify = (): void => {
        wake?.();
        wake = undefined;
      };
      const subscription = source.subscribe({
        next: (item) => {
          queue.push(item);
          notify();
        },
        error: (error: unknown) => {
          failure = { error };
          notify();
        },
        complete: () => {
          done = true;
          notify();
        },
      });
      const finish = (): IteratorReturnResult<undefined> => {
        subscription.unsubscribe();
        for (const item of queue.splice(0)) options.onDiscard?.(item);
        return { done: true, value: undefined };
      };
      return {
        async next(): Promise<IteratorResult<T>> {
          while (queue.length === 0 && !done && !failure)
            await new Promise<void>((resolve) => (wake = resolve));
          if (queue.length > 0) return { done: false, value: queue.shift()! };
          if (failure) {
            finish();
            throw failure.error;
          }
          return finish();
        },
        async return(): Promise<IteratorResult<T>> {
          return finish();
        },
      };
    },
  };
}
