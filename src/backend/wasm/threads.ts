import { mkdtempSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import workerThreads from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';

/**
 * Runs the threaded-SIMD wasm binary in Node. As shipped, TF.js turns threads off in Node and hands its
 * pthread workers their scripts as `blob:` URLs, which Node's Worker cannot load. While the backend
 * initialises, these shims write those scripts to temporary files instead and hand over their paths, and
 * make the workers not keep the process alive (so a finished program exits). Nothing in node_modules is
 * changed.
 */

/** Where the worker scripts are written, once per process. */
let scriptDir: string | undefined;

/**
 * Stands in for Blob while the backend initialises: writes its text to a file at once and carries the path,
 * which survives being posted to a worker (a real Blob's contents cannot be read synchronously there).
 */
class ScriptFile {
  readonly segstreamScriptPath: string;
  constructor(parts: unknown[]) {
    let text = parts.map(String).join('');
    scriptDir ??= mkdtempSync(join(tmpdir(), 'segstream-wasm-'));
    const path = join(scriptDir, `script-${Math.random().toString(36).slice(2)}.cjs`);
    if (text.startsWith('var WasmBackendModuleThreadedSimd')) {
      // The factory was bundled: give it the module variables the bundle had around it.
      text = `var require$$0 = require('fs'), require$$1 = require('path'), require$$3 = require('perf_hooks'), require$$4 = require('os');
var commonjsGlobal = globalThis, __filename = ${JSON.stringify(path)}, __dirname = ${JSON.stringify(scriptDir)};
${text}`;
    } else {
      // The pthread worker script: resolve posted ScriptFiles to their paths.
      text = `const createObjectURL = URL.createObjectURL;
URL.createObjectURL = (blob) => (blob && typeof blob.segstreamScriptPath === 'string' ? blob.segstreamScriptPath : createObjectURL(blob));
URL.revokeObjectURL = () => {};
${text}`;
    }
    writeFileSync(path, text);
    this.segstreamScriptPath = path;
  }
}

interface PThreadPool {
  unusedWorkers: Array<{ loaded?: boolean }>;
  runningWorkers: Array<{ loaded?: boolean }>;
}

/**
 * Waits until every pthread worker has loaded its module: work started before that can block the main
 * thread in a wait for threads whose start needs the main thread's event loop.
 */
async function workersLoaded(timeoutMs = 20_000): Promise<void> {
  const pool = (tf.backend() as unknown as { wasm: { PThread?: PThreadPool } }).wasm.PThread;
  if (!pool) return;
  const started = Date.now();
  while ([...pool.unusedWorkers, ...pool.runningWorkers].some((worker) => !worker.loaded)) {
    if (Date.now() - started > timeoutMs)
      throw new Error(`wasm threads did not start within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Initialises the wasm backend with `threads` threads (at least 1). Must run before the wasm backend is
 * first set; returns the number of threads the backend reports.
 */
export async function initWasmWithThreads(threads: number): Promise<number> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  if (threads <= 1) {
    if (!(await tf.setBackend('wasm'))) throw new Error("tf.setBackend('wasm') failed");
    return 1;
  }
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);
  const saved = {
    Blob: globalThis.Blob,
    createObjectURL: URL.createObjectURL,
    Worker: workerThreads.Worker,
    cpus: os.cpus,
  };
  const module = workerThreads as { Worker: typeof workerThreads.Worker };
  // Emscripten refs a worker while it runs a pthread, and XNNPACK's pool threads run for good: without this
  // a program would never exit. The main thread waits for its threads synchronously, so nothing is lost.
  class UnrefWorker extends saved.Worker {
    constructor(...args: ConstructorParameters<typeof workerThreads.Worker>) {
      super(...args);
      this.unref();
    }
    override ref(): void {}
  }
  try {
    (globalThis as { Blob: unknown }).Blob = ScriptFile;
    URL.createObjectURL = ((blob: unknown) =>
      (blob as ScriptFile).segstreamScriptPath ??
      saved.createObjectURL(blob as Blob)) as typeof URL.createObjectURL;
    module.Worker = UnrefWorker;
    // The backend uses at most half the logical cores it sees; show it twice the threads asked for.
    os.cpus = () => Array.from({ length: 2 * threads }, () => saved.cpus()[0]!);
    if (!(await tf.setBackend('wasm'))) throw new Error("tf.setBackend('wasm') failed with threads");
    await tf.ready();
    await workersLoaded();
  } finally {
    (globalThis as { Blob: unknown }).Blob = saved.Blob;
    URL.createObjectURL = saved.createObjectURL;
    module.Worker = saved.Worker;
    os.cpus = saved.cpus;
  }
  return wasm.getThreadsCount();
}
