// WebGPU reports a program it refuses (a tensor over the adapter's binding limit, the GPU out of memory) as
// an event and goes on: the program writes nothing, and every value computed from it is wrong without a sign
// (a sum reads back 0). Dawn only prints the event to stderr. So the first error stops every later read.

/** The parts of an `uncapturederror` event, of the device and of the TF.js backend used here. */
interface GpuErrorEvent {
  error: { message: string };
  preventDefault(): void;
}
export interface WatchedDevice {
  addEventListener(type: 'uncapturederror', listener: (event: GpuErrorEvent) => void): void;
  lost: Promise<{ message: string; reason?: string }>;
  limits: Record<string, number>;
}
export interface ReadingBackend {
  read(dataId: object): Promise<unknown>;
}
/** A program as TF.js's webgpu backend runs it: its output shape is what a user can relate to a tile. */
export interface ProgramBackend {
  runWebGPUProgram(program: { outputShape: number[] }, ...rest: never[]): unknown;
}

const MIB = 1024 * 1024;

/** Dawn's words for a buffer or binding over the device's limits. */
const OVER_LIMIT =
  /maximum (storage )?buffer binding size|max(imum)? buffer size|maxBufferSize|maxStorageBufferBindingSize/i;

/**
 * The error a run stops with after the GPU refused a program: what the GPU said (its first line: the later
 * ones say "invalid due to a previous error"), and what to do.
 * @param kind - the error's class: GPUValidationError, GPUOutOfMemoryError or GPUInternalError.
 */
export function deviceErrorMessage(
  kind: string,
  message: string,
  adapterLine: string,
  limits: Record<string, number>,
): string {
  const said = message.split('\n')[0]!.trim();
  const smaller = 'train or predict on fewer or smaller tiles (--batch-size, --micro-batches, --tile-size)';
  let meaning = 'every value computed after it may be wrong';
  if (kind === 'GPUOutOfMemoryError') meaning = `the GPU is out of memory: ${smaller}`;
  else if (OVER_LIMIT.test(said)) {
    const binding = (limits.maxStorageBufferBindingSize ?? 0) / MIB;
    const buffer = (limits.maxBufferSize ?? 0) / MIB;
    meaning =
      `a tensor is larger than this adapter lets one program use (maxStorageBufferBindingSize ` +
      `${binding.toFixed(0)} MiB, maxBufferSize ${buffer.toFixed(0)} MiB): ${smaller}`;
  }
  return `webgpu: the GPU refused a program on ${adapterLine} (${kind}: ${said}); ${meaning}`;
}

/**
 * Keeps the device's first error (and its loss, unless destroyed on purpose) and makes every read of the
 * backend fail with it from then on, whatever reads: the trainer's step values, evaluation, prediction,
 * checkpoints. Dawn's own printing of each error is replaced by that one message.
 */
export function failReadsAfterDeviceError(
  device: WatchedDevice,
  backend: ReadingBackend,
  adapterLine: string,
): void {
  let failure: Error | undefined;
  device.addEventListener('uncapturederror', (event) => {
    event.preventDefault();
    failure ??= new Error(
      deviceErrorMessage(event.error.constructor.name, event.error.message, adapterLine, device.limits),
    );
  });
  void device.lost.then(({ message, reason }) => {
    if (reason !== 'destroyed') failure ??= new Error(`webgpu: device lost on ${adapterLine}: ${message}`);
  });
  const read = backend.read.bind(backend);
  backend.read = async (dataId) => {
    if (failure) throw failure;
    const values = await read(dataId);
    // Dawn delivers a program's error while the program is encoded or submitted, before a read that waits on it resolves.
    if (failure) throw failure;
    return values;
  };
}

/** TF.js's words when a program's workgroups exceed the device's limit in y or z, which it cannot spread. */
const DISPATCH_LIMIT = /Dispatch size exceeds WebGPU limits/;

/**
 * Names the output and what to change where TF.js refuses a program whose workgroups exceed WebGPU's limit a
 * dimension (65,535): a convolution over one image of more than about 2 million positions (2048 px), which
 * TF.js reports without saying which program or why.
 */
export function explainDispatchLimit(backend: ProgramBackend, adapterLine: string): void {
  const run = backend.runWebGPUProgram.bind(backend);
  backend.runWebGPUProgram = (program, ...rest) => {
    try {
      return run(program, ...rest);
    } catch (error) {
      if (!(error instanceof Error && DISPATCH_LIMIT.test(error.message))) throw error;
      throw new Error(
        `webgpu: a program with output [${program.outputShape.join(', ')}] needs more workgroups than ` +
          `${adapterLine} dispatches in one dimension (TF.js: ${error.message}): train or predict on ` +
          'smaller tiles (--tile-size)',
        { cause: error },
      );
    }
  };
}
