import { Observable, type OperatorFunction } from 'rxjs';
import type { TrainingEvent } from '../training/events.js';
import { Trainer } from '../training/trainer.js';
import { checkTrainerOptions, type TrainerOptions } from '../training/trainerOptions.js';
import type { TensorBatch } from '../types.js';

/** Options of {@link train}: the trainer's, plus a signal to stop at the next batch boundary. */
export interface TrainOptions extends TrainerOptions {
  /** Aborting stops training at the next batch boundary, writes a checkpoint and completes with a `stopped` event. */
  signal?: AbortSignal;
}

/**
 * Trains a segmentation model on a stream of batches and emits what happens: a `batch` event per optimizer
 * step, an `epoch` summary (with validation metrics) per epoch, `checkpoint` events, and `stopped` when an
 * AbortSignal ended the run.
 *
 * Batches are trained one at a time, in order; each is released right after its step, which returns its
 * credits to the source: the pace of training is what pulls the source. Batches still queued when the run
 * ends (epochs done, early stopping, abort, error, unsubscribe) are released unused, and the source is
 * unsubscribed. UNet / DeepLabV3+ train supervised; with `discriminator`, Pix2Pix trains as a conditional GAN
 * and segmentation comes from the generator (`model`) alone. Mixed precision is not offered: the cpu and
 * wasm backends compute in float32 only.
 *
 * To resume: `const checkpoint = await loadLatestCheckpoint(dir)`, start the source at
 * `resumeSourcePosition(checkpoint.position)` (tileBatches' `startAt`), and pass
 * `model: checkpoint.models.model` and `resumeFrom: checkpoint`.
 *
 * @example
 * ```ts
 * const { model } = buildNetworks('unet', { numClasses: 5 });
 * tileBatches$.pipe(
 *   train({ model, numClasses: 5, epochs: 30, stepsPerEpoch: 100, loss: { name: 'focalTversky' },
 *           validation: () => validationBatches$, checkpoint: { dir: 'runs/a/checkpoints' }, signal }),
 * ).subscribe((event) => console.log(JSON.stringify(event)));
 * ```
 * @param options - see {@link TrainOptions}; argument errors are thrown here, before subscription.
 * @returns an operator from batches to {@link TrainingEvent}s; it completes when the epochs are done, early
 *   stopping ends the run, the input completes, or the signal aborts.
 */
export function train(options: TrainOptions): OperatorFunction<TensorBatch, TrainingEvent> {
  // Checked now so a bad option fails where it is written, not at subscription.
  checkTrainerOptions(options);
  return (batches) =>
    new Observable<TrainingEvent>((subscriber) => {
      const trainer = new Trainer(options);
      const queue: TensorBatch[] = [];
      let inputDone = false;
      let busy = false;
      let ended = false;
      const releaseQueued = () => {
        for (const batch of queue.splice(0)) batch.release();
      };
      const end = (error?: unknown) => {
        if (ended) return;
        ended = true;
        releaseQueued();
        input.unsubscribe();
        trainer.dispose();
        if (error === undefined) subscriber.complete();
        else subscriber.error(error);
      };
      const emit = (events: TrainingEvent[]) => events.forEach((event) => subscriber.next(event));
      // One step at a time: a new batch or an abort while a step runs is picked up when it ends.
      const pump = async () => {
        if (busy || ended) return;
        busy = true;
        try {
          while (!ended) {
            if (options.signal?.aborted) {
              const state = trainer.state;
              const { events, checkpoint } = await trainer.abort();
              emit(events);
              emit([
                {
                  type: 'stopped',
                  reason: 'aborted',
                  epoch: state.epoch,
                  step: state.step,
                  globalStep: state.globalStep,
                  ...(checkpoint ? { checkpoint } : {}),
                },
              ]);
              end();
              break;
            }
            const batch = queue.shift();
            if (!batch) {
              if (inputDone) {
                emit(await trainer.finish());
                end();
              }
              break;
            }
            try {
              emit(await trainer.consume(batch));
            } finally {
              batch.release();
            }
            // Give the event loop a turn between steps: a signal handler (SIGINT asks for this stop), the
            // dashboard's server and the readers' callbacks run there. Steps chained only through promises
            // would train a whole queue of batches before any of them ran.
            await new Promise((resolve) => setImmediate(resolve));
            if (trainer.done) {
              emit(await trainer.finish());
              end();
            }
          }
        } catch (error) {
          end(error);
        } finally {
          busy = false;
        }
      };
      const onAbort = () => void pump();
      options.signal?.addEventListener('abort', onAbort);
      const input = batches.subscribe({
        next(batch) {
          if (ended) return batch.release();
          queue.push(batch);
          void pump();
        },
        error: (error: unknown) => end(error),
        complete() {
          inputDone = true;
          void pump();
        },
      });
      if (ended) input.unsubscribe();
      return () => {
        options.signal?.removeEventListener('abort', onAbort);
        if (!ended) {
          ended = true;
          releaseQueued();
          input.unsubscribe();
          trainer.dispose();
        }
      };
    });
}
