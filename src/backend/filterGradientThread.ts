import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { ACCUMULATE_PRODUCT, type FilterGradientProducts, PRODUCT_FIELDS, runFilterGradientProducts } from './filterGradientProducts.js';
import { type WasmMemory, heapFunction, heapFunctionModule } from './wasmHeapFunctions.js';

/**
 * A helper thread for the filter gradient's products on a threaded wasm backend. XNNPACK's thread pool runs
 * only XNNPACK's operators, so the hand-written products would use one core of two; the helper takes half
 * of each gradient's channel pairs in the shared wasm memory. A kernel must return synchronously, so the
 * helper is woken and awaited through Atomics on a shared control block, not through messages.
 */
interface Helper {
  /** The wasm memory the helper works in. */
  memory: WasmMemory;
  /** [0] the last job posted, [1] the last job done (negated when it failed). */
  flags: Int32Array;
  /** The job: PRODUCT_FIELDS, then its first and end channel pair. */
  fields: Uint32Array;
  /** Where the helper reports why a job failed. */
  errors: MessagePort;
  posted: number;
}

let helper: Helper | undefined;

/**
 * A kernel waits for the helper's half (a large layer's takes well under a second) in slices of 1 s and
 * gives up after 60 slices in a row that end without it. Counted in slices, not as one deadline, so that a
 * process stopped for a while (SIGSTOP, a suspended laptop) loses one slice, not the run.
 */
const HELPER_WAIT_SLICE_MS = 1_000;
const HELPER_WAIT_SLICES = 60;

/**
 * Starts the helper thread for `memory` (once per process); nothing when the memory is not shared (a
 * backend with one thread). The thread does not keep the process alive.
 */
export async function startFilterGradientThread(memory: WasmMemory): Promise<void> {
  if (helper || !(memory.buffer instanceof SharedArrayBuffer)) return;
  const control = new SharedArrayBuffer(4 * (2 + PRODUCT_FIELDS.length + 2));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(new URL('./filterGradientWorker.js', import.meta.url));
  worker.unref();
  port1.unref();
  const modules = ACCUMULATE_PRODUCT.map((source) => heapFunctionModule(source, true));
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
    worker.postMessage({ memory, modules, names: ACCUMULATE_PRODUCT.map((source) => source.name), control, errors: port2 }, [port2]);
  });
  helper = { memory, flags: new Int32Array(control, 0, 2), fields: new Uint32Array(control, 8), errors: port1, posted: 0 };
}

/** Adds `job`'s products to its sums, half of the channel pairs on the helper thread when it was started. */
export function filterGradientProducts(memory: WasmMemory, job: FilterGradientProducts): void {
  const accumulate = ACCUMULATE_PRODUCT.map((source) => heapFunction(memory, source));
  const pairs = job.pairedChannels / 2;
  if (!helper || helper.memory !== memory || pairs < 2) {
    runFilterGradientProducts(accumulate, job, 0, pairs);
    return;
  }
  const { flags, fields } = helper;
  const half = pairs >> 1;
  PRODUCT_FIELDS.forEach((field, i) => {
    fields[i] = job[field];
  });
  fields.set([0, half], PRODUCT_FIELDS.length);
  const posted = ++helper.posted;
  Atomics.store(flags, 0, posted);
  Atomics.notify(flags, 0);
  runFilterGradientProducts(accumulate, job, half, pairs);
  for (let slices = 0; ; ) {
    const done = Atomics.load(flags, 1);
    if (done === posted) return;
    if (done === -posted) throw new Error(`the filter-gradient helper thread failed: ${receiveMessageOnPort(helper.errors)?.message ?? 'no reason given'}`);
    if (Atomics.wait(flags, 1, done, HELPER_WAIT_SLICE_MS) !== 'timed-out') slices = 0;
    else if (++slices >= HELPER_WAIT_SLICES) throw new Error(`the filter-gradient helper thread did not finish within ${HELPER_WAIT_SLICES} waits of ${HELPER_WAIT_SLICE_MS / 1000} s`);
  }
}
