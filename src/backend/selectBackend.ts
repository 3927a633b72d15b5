import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { gpuDeviceProblem, importNativeTensorflow, NativeBackendError } from './nativeTensorflow.js';
import { wasmHeap } from './wasm/backendHeap.js';
import { startWasmHelperThreads } from './wasm/helperThread.js';
import { registerWasmTrainingKernels } from './wasm/registerTrainingKernels.js';
import { initWasmWithThreads } from './wasm/threads.js';
import { startWebgpu } from './webgpu/startWebgpu.js';

/** The backends segstream can run on, best first (webgpu on a hardware adapter only, unless forced). */
export const BACKEND_PREFERENCE = ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_PREFERENCE)[number];

/** What was tried while choosing a backend, and why a better one did not run. */
export interface BackendAttempt {
  backend: BackendName;
  ok: boolean;
  reason?: string;
}

export interface BackendChoice {
  /** The backend that runs. */
  backend: BackendName;
  /** TF.js's own name for it (`tensorflow` for both native packages). */
  tfBackend: string;
  attempts: BackendAttempt[];
  /** One line saying which backend runs and why the better ones did not. */
  summary: string;
}

export interface SelectBackendOptions {
  /**
   * Force one backend. Defaults to the `SEGSTREAM_BACKEND` environment variable, else the first that works
   * of tensorflow-gpu (@tensorflow/tfjs-node-gpu), webgpu (Dawn, from the packages `webgpu` and
   * @tensorflow/tfjs-backend-webgpu) on a hardware GPU, tensorflow (@tensorflow/tfjs-node), wasm, cpu. Forced,
   * webgpu also runs on a software adapter (Mesa's lavapipe), as the tests do.
   */
  backend?: BackendName | 'auto';
  /**
   * Threads of the wasm backend. Defaults to `SEGSTREAM_WASM_THREADS`, else the number of cores. Fixed once
   * the wasm backend has started in a process.
   */
  wasmThreads?: number;
}

/** Hooks run after a backend is set, e.g. to register training kernels for wasm. */
const setupHooks = new Map<string, () => void | Promise<void>>();

/** Registers a function to run whenever `tfBackend` is selected (once per selection). */
export function onBackendSelected(tfBackend: string, hook: () => void | Promise<void>): void {
  setupHooks.set(tfBackend, hook);
}

function isBackendName(name: string): name is BackendName {
  return (BACKEND_PREFERENCE as readonly string[]).includes(name);
}

/** Threads the wasm backend started with in this process (it cannot restart with another count). */
let wasmThreadsStarted: number | undefined;

/** Whether tfjs-node-gpu loaded in this process without a GPU: its backend then serves as `tensorflow`. */
let gpuPackageOnCpu = false;

/** A backend made ready to set: TF.js's name for it, and what the `backend:` line says about it. */
interface ReadyBackend {
  tfBackend: string;
  detail?: string;
}

async function tryBackend(backend: BackendName, forced: boolean, wasmThreads: number): Promise<ReadyBackend> {
  switch (backend) {
    case 'tensorflow-gpu': {
      // The native packages register the `tensorflow` backend in the shared tfjs-core on import.
      await importNativeTensorflow('@tensorflow/tfjs-node-gpu');
      const problem = gpuDeviceProblem(tf.findBackend('tensorflow'));
      if (problem) {
        // Kept registered: on the CPU it is still the `tensorflow` backend, tried in that place below.
        gpuPackageOnCpu = true;
        throw new NativeBackendError('@tensorflow/tfjs-node-gpu', problem.reason, problem.remedy);
      }
      return { tfBackend: 'tensorflow' };
    }
    case 'webgpu':
      return { tfBackend: 'webgpu', detail: await startWebgpu(forced) };
    case 'tensorflow':
      // Importing tfjs-node beside a loaded tfjs-node-gpu would register every kernel twice.
      if (gpuPackageOnCpu) return { tfBackend: 'tensorflow', detail: '@tensorflow/tfjs-node-gpu on the CPU' };
      await importNativeTensorflow('@tensorflow/tfjs-node');
      return { tfBackend: 'tensorflow' };
    case 'wasm': {
      wasmThreadsStarted ??= await initWasmWithThreads(wasmThreads);
      // The stock wasm backend cannot train convolutions; these kernels make it train, correctly and fast.
      registerWasmTrainingKernels();
      // With threads, the kernels of segstream's own share their work with a helper per further thread.
      if (wasmThreadsStarted > 1) await startWasmHelperThreads(wasmHeap()!.memory, wasmThreadsStarted - 1);
      return {
        tfBackend: 'wasm',
        detail: `${wasmThreadsStarted} thread${wasmThreadsStarted === 1 ? '' : 's'}`,
      };
    }
    case 'cpu':
      return { tfBackend: 'cpu' };
  }
}

/** Why a backend did not run, in a few words for the `backend:` line. */
function shortReason(error: unknown): string {
  if (error instanceof NativeBackendError) return error.reason;
  const message = error instanceof Error ? error.message : String(error);
  if (/Cannot find (package|module)/.test(message)) return 'package not installed';
  return message.split('\n')[0] ?? message;
}

/**
 * Chooses and activates the TF.js backend: the forced one, or the best one that works here.
 *
 * @example
 * ```ts
 * const choice = await selectBackend({ backend: 'auto' });
 * console.error(choice.summary); // "backend: wasm (tensorflow-gpu: package not installed; ...)"
 * ```
 * @throws Error when a forced backend cannot run, naming why (and, for a native package, what to do).
 */
export async function selectBackend(options: SelectBackendOptions = {}): Promise<BackendChoice> {
  const requested =
    options.backend ?? (process.env.SEGSTREAM_BACKEND as BackendName | 'auto' | undefined) ?? 'auto';
  if (requested !== 'auto' && !isBackendName(requested)) {
    throw new Error(`unknown backend '${requested}': expected auto, ${BACKEND_PREFERENCE.join(', ')}`);
  }
  const candidates = requested === 'auto' ? BACKEND_PREFERENCE : [requested];
  const wasmThreads =
    options.wasmThreads ?? Number(process.env.SEGSTREAM_WASM_THREADS ?? availableParallelism());
  if (!Number.isInteger(wasmThreads) || wasmThreads < 1)
    throw new RangeError(`wasmThreads must be a positive integer, got ${wasmThreads}`);
  const attempts: BackendAttempt[] = [];
  for (const backend of candidates) {
    try {
      const { tfBackend, detail } = await tryBackend(backend, requested !== 'auto', wasmThreads);
      if (!(await tf.setBackend(tfBackend))) throw new Error(`tf.setBackend('${tfBackend}') failed`);
      await tf.ready();
      await setupHooks.get(tfBackend)?.();
      attempts.push({ backend, ok: true });
      const skipped = attempts.filter((a) => !a.ok).map((a) => `${a.backend}: ${a.reason}`);
      const forced = requested === 'auto' ? '' : ' (forced)';
      const summary =
        `backend: ${backend}${detail ? `, ${detail}` : ''}${forced}` +
        (skipped.length ? ` (${skipped.join('; ')})` : '');
      return { backend, tfBackend, attempts, summary };
    } catch (error) {
      if (error instanceof NativeBackendError && requested !== 'auto') {
        throw new Error(`backend ${backend} (forced): ${error.message}`);
      }
      attempts.push({ backend, ok: false, reason: shortReason(error) });
    }
  }
  const reasons = attempts.map((a) => `${a.backend}: ${a.reason}`).join('; ');
  throw new Error(`no usable backend (${reasons})`);
}
