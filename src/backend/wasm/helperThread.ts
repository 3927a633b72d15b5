import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { HELPER_JOBS, type HelperJobKind, MOST_HELPER_FIELDS } from './helperJobs.js';
import { heapFunction, heapFunctionModule, type WasmMemory } from './simd/heapFunctions.js';

/**
 * Helper threads for the hand-written SIMD kernels on a threaded wasm backend. XNNPACK's thread pool runs
 * only XNNPACK's operators, so the kernels written here would use one core of several; the helpers take
 * parts of each job (channel pairs of a filter gradient, tile rows of a Winograd convolution) in the shared
 * wasm memory. A kernel must return synchronously, so helpers are woken and awaited through Atomics on
 * shared control blocks, not through messages.
 */
interface Helper {
  /** [0] the last job posted, [1] the last job done (negated when it failed). */
  flags: Int32Array;
  /**
   * The job: its kind's index in HELPER_JOBS, first and end unit, scratch part, then the kind's fields. Float64,
   * so that addresses up to 4 GiB and negative values (a padding of -1) both travel exactly.
   */
  fields: Float64Array;
  /** Where the helper reports why a job failed. */
  errors: MessagePort;
  posted: number;
}

/** Where the job's fields start in a control block's fields: after kind, first and end unit, and part. */
export const JOB_FIELDS_AT = 4;

/** The helpers and the wasm memory they work in. */
let pool: { memory: WasmMemory; helpers: Helper[] } | undefined;

/**
 * A kernel waits for a helper's part (a large layer's takes well under a second) in slices of 1 s and gives
 * up after 60 slices in a row that end without it. Counted in slices, not as one deadline, so that a process
 * stopped for a while (SIGSTOP, a suspended laptop) loses one slice, not the run.
 */
const HELPER_WAIT_SLICE_MS = 1_000;
const HELPER_WAIT_SLICES = 60;

async function startHelper(memory: WasmMemory): Promise<Helper> {
  const control = new SharedArrayBuffer(8 + 8 * (JOB_FIELDS_AT + MOST_HELPER_FIELDS));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(new URL('./helperWorker.js', import.meta.url));
  worker.unref();
  port1.unref();
  const sources = HELPER_JOBS.flatMap((kind) => kind.sources);
  const modules = sources.map((source) => heapFunctionModule(source, true));
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
    worker.postMessage(
      { memory, modules, names: sources.map((source) => source.name), control, errors: port2 },
      [port2],
    );
  });
  return {
    flags: new Int32Array(control, 0, 2),
    fields: new Float64Array(control, 8),
    errors: port1,
    posted: 0,
  };
}

/**
 * Starts `count` helper threads for `memory` (once per process); nothing when the memory is not shared (a
 * backend with one thread). The threads do not keep the process alive.
 */
export async function startWasmHelperThreads(memory: WasmMemory, count: number): Promise<void> {
  if (pool || count < 1 || !(memory.buffer instanceof SharedArrayBuffer)) return;
  pool = { memory, helpers: await Promise.all(Array.from({ length: count }, () => startHelper(memory))) };
}

/** How many threads share a job in `memory` (this one and the helpers): the per-thread scratch parts to allocate. */
export function threadsSharingJobs(memory: WasmMemory): number {
  return pool && pool.memory === memory ? pool.helpers.length + 1 : 1;
}

function awaitHelper(helper: Helper, posted: number): void {
  for (let slices = 0; ; ) {
    const done = Atomics.load(helper.flags, 1);
    if (done === posted) return;
    if (done === -posted)
      throw new Error(
        `a wasm helper thread failed: ${receiveMessageOnPort(helper.errors)?.message ?? 'no reason given'}`,
      );
    if (Atomics.wait(helper.flags, 1, done, HELPER_WAIT_SLICE_MS) !== 'timed-out') slices = 0;
    else if (++slices >= HELPER_WAIT_SLICES)
      throw new Error(
        `a wasm helper thread did not finish within ${HELPER_WAIT_SLICES} waits of ${HELPER_WAIT_SLICE_MS / 1000} s`,
      );
  }
}

/**
 * Runs units [0, units) of `job` split into contiguous ranges, one per thread of `threadsSharingJobs`
 * (at most one per unit): range 0 here (scratch part 0), range k on helper k (part k).
 */
export function runOnAllThreads<Job>(
  memory: WasmMemory,
  kind: HelperJobKind<Job>,
  job: Job,
  units: number,
): void {
  const functions = kind.sources.map((source) => heapFunction(memory, source));
  const parts = Math.min(threadsSharingJobs(memory), units);
  const start = (part: number) => Math.floor((part * units) / parts);
  const helpers = pool?.helpers.slice(0, parts - 1) ?? [];
  const kindIndex = HELPER_JOBS.indexOf(kind);
  const values = kind.fields.map((field) => job[field] as number);
  const posted = helpers.map((helper, k) => {
    helper.fields.set([kindIndex, start(k + 1), start(k + 2), k + 1, ...values]);
    const id = ++helper.posted;
    Atomics.store(helper.flags, 0, id);
    Atomics.notify(helper.flags, 0);
    return id;
  });
  kind.run(functions, memory, job, 0, start(1), 0);
  helpers.forEach((helper, k) => awaitHelper(helper, posted[k]!));
}
