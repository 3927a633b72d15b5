import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { HELPER_JOBS, type HelperJobKind, MOST_HELPER_FIELDS } from './wasmHelperJobs.js';
import { type WasmMemory, heapFunction, heapFunctionModule } from './wasmHeapFunctions.js';

/**
 * A helper thread for the hand-written SIMD kernels on a threaded wasm backend. XNNPACK's thread pool runs
 * only XNNPACK's operators, so the kernels written here would use one core of two; the helper takes part of
 * each job (half of a filter gradient's channel pairs, half of a Winograd convolution's tile rows) in the
 * shared wasm memory. A kernel must return synchronously, so the helper is woken and awaited through
 * Atomics on a shared control block, not through messages.
 */
interface Helper {
  /** The wasm memory the helper works in. */
  memory: WasmMemory;
  /** [0] the last job posted, [1] the last job done (negated when it failed). */
  flags: Int32Array;
  /** The job: its kind's index in HELPER_JOBS, first and end unit, then the kind's fields. */
  fields: Uint32Array;
  /** Where the helper reports why a job failed. */
  errors: MessagePort;
  posted: number;
}

/** Where the job's fields start in the control block's fields: after kind, first and end. */
export const JOB_FIELDS_AT = 3;

let helper: Helper | undefined;

/**
 * A kernel waits for the helper's part (a large layer's takes well under a second) in slices of 1 s and
 * gives up after 60 slices in a row that end without it. Counted in slices, not as one deadline, so that a
 * process stopped for a while (SIGSTOP, a suspended laptop) loses one slice, not the run.
 */
const HELPER_WAIT_SLICE_MS = 1_000;
const HELPER_WAIT_SLICES = 60;

/**
 * Starts the helper thread for `memory` (once per process); nothing when the memory is not shared (a
 * backend with one thread). The thread does not keep the process alive.
 */
export async function startWasmHelperThread(memory: WasmMemory): Promise<void> {
  if (helper || !(memory.buffer instanceof SharedArrayBuffer)) return;
  const control = new SharedArrayBuffer(4 * (2 + JOB_FIELDS_AT + MOST_HELPER_FIELDS));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(new URL('./wasmHelperWorker.js', import.meta.url));
  worker.unref();
  port1.unref();
  const sources = HELPER_JOBS.flatMap((kind) => kind.sources);
  const modules = sources.map((source) => heapFunctionModule(source, true));
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
    worker.postMessage({ memory, modules, names: sources.map((source) => source.name), control, errors: port2 }, [port2]);
  });
  helper = { memory, flags: new Int32Array(control, 0, 2), fields: new Uint32Array(control, 8), errors: port1, posted: 0 };
}

/**
 * Runs units [0, units) of `job`: the first half on the helper thread (scratch part 1) while this thread
 * runs the rest (part 0), or all of them here when no helper runs in `memory` or there is one unit.
 */
export function runOnBothThreads<Job>(memory: WasmMemory, kind: HelperJobKind<Job>, job: Job, units: number): void {
  const functions = kind.sources.map((source) => heapFunction(memory, source));
  if (!helper || helper.memory !== memory || units < 2) {
    kind.run(functions, memory, job, 0, units, 0);
    return;
  }
  const { flags, fields } = helper;
  const half = units >> 1;
  fields.set([HELPER_JOBS.indexOf(kind as HelperJobKind<never>), 0, half, ...kind.fields.map((field) => job[field] as number)]);
  const posted = ++helper.posted;
  Atomics.store(flags, 0, posted);
  Atomics.notify(flags, 0);
  kind.run(functions, memory, job, half, units, 0);
  for (let slices = 0; ; ) {
    const done = Atomics.load(flags, 1);
    if (done === posted) return;
    if (done === -posted) throw new Error(`the wasm helper thread failed: ${receiveMessageOnPort(helper.errors)?.message ?? 'no reason given'}`);
    if (Atomics.wait(flags, 1, done, HELPER_WAIT_SLICE_MS) !== 'timed-out') slices = 0;
    else if (++slices >= HELPER_WAIT_SLICES) throw new Error(`the wasm helper thread did not finish within ${HELPER_WAIT_SLICES} waits of ${HELPER_WAIT_SLICE_MS / 1000} s`);
  }
}
