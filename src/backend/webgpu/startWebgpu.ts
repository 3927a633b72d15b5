import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { type AdapterDescription, describeAdapter, isSoftwareAdapter } from './adapterInfo.js';
import {
  explainDispatchLimit,
  failReadsAfterDeviceError,
  type ProgramBackend,
  type ReadingBackend,
  type WatchedDevice,
} from './deviceErrors.js';
import { registerWebgpuKernels } from './registerKernels.js';

// The parts of the WebGPU API and of the two optional packages used here; their own types come with the
// packages, which a clone may lack.
type GpuDevice = WatchedDevice;
interface GpuAdapter {
  info: AdapterDescription;
  limits: Record<string, number>;
  requestDevice(descriptor: { requiredLimits: Record<string, number> }): Promise<GpuDevice>;
}
interface Gpu {
  requestAdapter(options: { powerPreference: 'high-performance' }): Promise<GpuAdapter | null>;
}
interface DawnPackage {
  create(flags: string[]): Gpu;
  globals: object;
}
interface TfjsWebgpuPackage {
  WebGPUBackend: new (
    device: GpuDevice,
    adapterInfo: AdapterDescription,
  ) => tf.KernelBackend & ReadingBackend & ProgramBackend;
}

/** The limits the tfjs webgpu backend sizes its buffers and dispatches by: the adapter's own, not WebGPU's low defaults. */
const REQUIRED_LIMITS = [
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupSizeX',
  'maxComputeInvocationsPerWorkgroup',
  // Concat and AddN bind one storage buffer per input: the more a program may bind, the fewer programs.
  'maxStorageBuffersPerShaderStage',
] as const;

/**
 * Dawn was seen printing an error without XDG_RUNTIME_DIR (containers, CI, cron have none; not with Mesa
 * 25.0.7 here): give the process a private one, as a login session would, and remove it on exit.
 */
function ensureRuntimeDir(): void {
  if (process.env.XDG_RUNTIME_DIR) return;
  const dir = mkdtempSync(join(tmpdir(), 'segstream-xdg-')); // mode 0700, as the variable requires
  process.env.XDG_RUNTIME_DIR = dir;
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
}

/** Makes `gpu` the process's `navigator.gpu`, where the tfjs webgpu backend looks for WebGPU (Node 21+ has a navigator, Node 20 none). */
function exposeGpu(gpu: Gpu): void {
  const holder = (globalThis as { navigator?: object }).navigator;
  if (holder) Object.defineProperty(holder, 'gpu', { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
}

/**
 * Dawn's toggles from SEGSTREAM_DAWN_FLAGS, separated by spaces: `adapter=<part of a name>` picks a GPU of
 * several, `backend=vulkan` a native API, and `backend=null` a device that records programs and runs none
 * (what the CPU spends feeding a GPU, without a GPU: its results are meaningless).
 */
function dawnFlags(): string[] {
  return (process.env.SEGSTREAM_DAWN_FLAGS ?? '').split(/\s+/).filter(Boolean);
}

interface FoundAdapter {
  adapter: GpuAdapter;
  WebGPUBackend: TfjsWebgpuPackage['WebGPUBackend'];
}

/** The adapter Dawn offers first for high performance, found once per process. */
let found: Promise<FoundAdapter> | undefined;
/** Whether the `webgpu` TF.js backend is registered on that adapter. */
let registered = false;

async function findAdapter(): Promise<FoundAdapter> {
  ensureRuntimeDir();
  // The tfjs package registers a backend of its own on import where navigator.gpu exists; importing it
  // before exposing the GPU leaves the registration, with the adapter chosen here, to this module.
  const { WebGPUBackend } = (await import('@tensorflow/tfjs-backend-webgpu' as string)) as TfjsWebgpuPackage;
  const dawn = (await import('webgpu' as string)) as DawnPackage;
  // The WebGPU constants (GPUBufferUsage, GPUMapMode, ...) that the backend reads as globals.
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create(dawnFlags());
  exposeGpu(gpu);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('Dawn found no WebGPU adapter (no Vulkan, Metal or D3D12 device it accepts)');
  return { adapter, WebGPUBackend };
}

/**
 * Registers TF.js's `webgpu` backend on the best adapter Dawn (the npm package `webgpu`) finds, and returns
 * the line naming that adapter. A software adapter (lavapipe, SwiftShader) is slower than the wasm backend
 * and is taken only when `allowSoftware` (a forced `--backend webgpu`).
 *
 * @throws Error when a package is missing, no adapter exists, or the adapter is software and not allowed.
 */
export async function startWebgpu(allowSoftware: boolean): Promise<string> {
  found ??= findAdapter();
  const { adapter, WebGPUBackend } = await found;
  const adapterLine = describeAdapter(adapter.info);
  if (isSoftwareAdapter(adapter.info) && !allowSoftware) {
    throw new Error(
      `only a software adapter, ${adapterLine}, not chosen automatically (force it with --backend webgpu)`,
    );
  }
  if (!registered) {
    const requiredLimits = Object.fromEntries(REQUIRED_LIMITS.map((name) => [name, adapter.limits[name]!]));
    const device = await adapter.requestDevice({ requiredLimits });
    tf.registerBackend('webgpu', () => {
      const backend = new WebGPUBackend(device, adapter.info);
      failReadsAfterDeviceError(device, backend, adapterLine);
      explainDispatchLimit(backend, adapterLine);
      return backend;
    });
    registerWebgpuKernels();
    registered = true;
  }
  return `adapter ${adapterLine}`;
}
