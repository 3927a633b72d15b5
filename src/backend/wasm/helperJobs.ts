import {
  ACCUMULATE_PRODUCT,
  type FilterGradientProducts,
  PRODUCT_FIELDS,
  runFilterGradientProducts,
} from './simd/filterGradientProducts.js';
import type { HeapFunctionSource, WasmMemory } from './simd/heapFunctions.js';
import {
  runWinogradFilterGradient,
  runWinogradTiles,
  WINOGRAD_FIELDS,
  WINOGRAD_GRADIENT_FIELDS,
  WINOGRAD_GRADIENT_FUNCTIONS,
  WINOGRAD_TILE_FUNCTIONS,
  type WinogradConvolution,
  type WinogradFilterGradient,
} from './simd/winogradTiles.js';

/**
 * The kinds of work a wasm kernel shares with the helper threads (`helperThread.ts`). A job is a record
 * of numbers (addresses in the shared wasm memory and sizes) that every thread reads; each runs a range of
 * its units (channel pairs, tile rows) with its own instances of the kind's heap functions. Loads no TF.js.
 */
export interface HelperJobKind<Job> {
  /** The heap functions `run` takes, instantiated, in this order. */
  sources: readonly HeapFunctionSource[];
  /** The job's fields in the order they travel to the helper. */
  fields: ReadonlyArray<keyof Job & string>;
  /** Units [first, end) of `job` in `memory`; `part` (0 on the kernel's thread, k on helper k) picks per-thread scratch. */
  run(
    functions: ReadonlyArray<(...args: number[]) => void>,
    memory: WasmMemory,
    job: Job,
    first: number,
    end: number,
    part: number,
  ): void;
}

/** The filter gradient's products, by channel pairs of x. */
export const FILTER_GRADIENT_JOB: HelperJobKind<FilterGradientProducts> = {
  sources: ACCUMULATE_PRODUCT,
  fields: PRODUCT_FIELDS,
  run: (functions, _memory, job, first, end) => runFilterGradientProducts(functions, job, first, end),
};

/** A Winograd convolution, by tile rows. */
export const WINOGRAD_JOB: HelperJobKind<WinogradConvolution> = {
  sources: WINOGRAD_TILE_FUNCTIONS,
  fields: WINOGRAD_FIELDS,
  run: runWinogradTiles,
};

/** A Winograd filter gradient, by tile rows, each thread into its own part of the sums. */
export const WINOGRAD_GRADIENT_JOB: HelperJobKind<WinogradFilterGradient> = {
  sources: WINOGRAD_GRADIENT_FUNCTIONS,
  fields: WINOGRAD_GRADIENT_FIELDS,
  run: runWinogradFilterGradient,
};

/** Every kind, indexed by the number that names it to the helper. */
export const HELPER_JOBS: ReadonlyArray<HelperJobKind<never>> = [
  FILTER_GRADIENT_JOB,
  WINOGRAD_JOB,
  WINOGRAD_GRADIENT_JOB,
];

/** The most fields any kind has: the size of the control block's job area. */
export const MOST_HELPER_FIELDS = Math.max(...HELPER_JOBS.map((kind) => kind.fields.length));
