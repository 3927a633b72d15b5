import { type MessagePort, parentPort } from 'node:worker_threads';
import { HELPER_JOBS } from './helperJobs.js';
import { JOB_FIELDS_AT } from './helperThread.js';
import { instantiateHeapFunction, type WasmMemory } from './simd/heapFunctions.js';

/** What helperThread hands a helper: the backend's memory, every kind's compiled functions and its control block. */
interface HelperSetup {
  memory: WasmMemory;
  modules: object[];
  names: string[];
  control: SharedArrayBuffer;
  errors: MessagePort;
}

// The helper thread: waits for a job, runs its units, flags it done (or failed, with the reason on `errors`).
parentPort!.once('message', ({ memory, modules, names, control, errors }: HelperSetup) => {
  const instances = modules.map((module, i) => instantiateHeapFunction(module, memory, names[i]!));
  let next = 0;
  const functions = HELPER_JOBS.map((kind) => instances.slice(next, (next += kind.sources.length)));
  const flags = new Int32Array(control, 0, 2);
  const fields = new Float64Array(control, 8);
  parentPort!.postMessage('ready');
  for (let seen = 0; ; ) {
    Atomics.wait(flags, 0, seen);
    seen = Atomics.load(flags, 0);
    try {
      const [index, first, end, part] = fields as unknown as [number, number, number, number];
      const kind = HELPER_JOBS[index]!;
      const job = Object.fromEntries(kind.fields.map((field, i) => [field, fields[JOB_FIELDS_AT + i]!]));
      kind.run(functions[index]!, memory, job as never, first, end, part);
      Atomics.store(flags, 1, seen);
    } catch (error) {
      errors.postMessage(error instanceof Error ? (error.stack ?? error.message) : String(error));
      Atomics.store(flags, 1, -seen);
    }
    Atomics.notify(flags, 1);
  }
});
