import { type MessagePort, parentPort } from 'node:worker_threads';
import { type FilterGradientProducts, PRODUCT_FIELDS, runFilterGradientProducts } from './filterGradientProducts.js';
import { type WasmMemory, instantiateHeapFunction } from './wasmHeapFunctions.js';

/** What filterGradientThread hands its helper: the backend's memory, the compiled products and the control block. */
interface HelperSetup {
  memory: WasmMemory;
  modules: object[];
  names: string[];
  control: SharedArrayBuffer;
  errors: MessagePort;
}

// The helper thread: waits for a job, runs its channel pairs, flags it done (or failed, with the reason on `errors`).
parentPort!.once('message', ({ memory, modules, names, control, errors }: HelperSetup) => {
  const accumulate = modules.map((module, i) => instantiateHeapFunction(module, memory, names[i]!));
  const flags = new Int32Array(control, 0, 2);
  const fields = new Uint32Array(control, 8);
  parentPort!.postMessage('ready');
  for (let seen = 0; ; ) {
    Atomics.wait(flags, 0, seen);
    seen = Atomics.load(flags, 0);
    try {
      const job = Object.fromEntries(PRODUCT_FIELDS.map((field, i) => [field, fields[i]!])) as unknown as FilterGradientProducts;
      runFilterGradientProducts(accumulate, job, fields[PRODUCT_FIELDS.length]!, fields[PRODUCT_FIELDS.length + 1]!);
      Atomics.store(flags, 1, seen);
    } catch (error) {
      errors.postMessage(error instanceof Error ? error.stack ?? error.message : String(error));
      Atomics.store(flags, 1, -seen);
    }
    Atomics.notify(flags, 1);
  }
});
