import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';

/** The packages that run TF.js on native TensorFlow (libtensorflow); both register the backend `tensorflow`. */
export type NativePackage = '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu';

/** A native package that cannot run here: why, and what makes it run. */
export class NativeBackendError extends Error {
  constructor(
    readonly packageName: NativePackage,
    readonly reason: string,
    readonly remedy: string,
  ) {
    super(`${packageName} cannot run: ${reason}; ${remedy}`);
    this.name = 'NativeBackendError';
  }
}

/** One installed copy of `@tensorflow/tfjs`: where it lies and its version. */
export interface TfjsCopy {
  packageJson: string;
  version: string;
}

/**
 * Why a native package must not be imported, or undefined when it shares segstream's `@tensorflow/tfjs`. A
 * second copy would register every kernel of the cpu, webgl and tensorflow backends again in TF.js's
 * process-wide registry (hundreds of "already registered" warnings) and replace segstream's with its own.
 */
export function separateTfjsProblem(segstreams: TfjsCopy, packages: TfjsCopy): string | undefined {
  if (packages.packageJson === segstreams.packageJson) return undefined;
  return `it has its own copy of @tensorflow/tfjs, ${packages.version} (segstream uses ${segstreams.version})`;
}

/** What the GPU package needs beside its own files: libtensorflow 2.9's GPU build loads CUDA lazily. */
const CUDA_REMEDY = 'it needs CUDA 11.2 and cuDNN 8.1 on the library path (LD_LIBRARY_PATH)';

/**
 * Why the backend of `@tensorflow/tfjs-node-gpu` would run on the CPU, or undefined when it has a GPU: its
 * libtensorflow loads without CUDA (it opens the CUDA libraries only when it lists its devices) and then runs
 * every kernel on the CPU, saying so only in TensorFlow's own log.
 */
export function gpuDeviceProblem(backend: unknown): { reason: string; remedy: string } | undefined {
  if ((backend as { isUsingGpuDevice?: boolean } | undefined)?.isUsingGpuDevice !== false) return undefined;
  return {
    reason: 'loaded, but TensorFlow found no CUDA GPU, so it would run on the CPU',
    remedy: `${CUDA_REMEDY}, and a driver that shows the GPU (nvidia-smi)`,
  };
}

function rebuildRemedy(packageName: NativePackage): string {
  return `run 'npm rebuild ${packageName}' where its install script can download libtensorflow`;
}

/** Why importing a native package failed and what to do, from the error its import threw. */
export function explainNativeFailure(
  packageName: NativePackage,
  error: unknown,
): { reason: string; remedy: string } {
  const message = error instanceof Error ? error.message : String(error);
  const firstLine = message.split('\n')[0]!.trim();
  const cuda = packageName === '@tensorflow/tfjs-node-gpu' ? `; ${CUDA_REMEDY}` : '';
  // The package checks that its addon exists before loading it; the addon is what the install script fetches.
  if (message.includes('tfjs_binding.node) can not be found')) {
    return {
      reason: 'native addon tfjs_binding.node missing (its install script did not run or failed)',
      remedy: rebuildRemedy(packageName),
    };
  }
  // The addon exists but the dynamic loader refused it or a library it links (libtensorflow, CUDA).
  if ((error as { code?: string }).code === 'ERR_DLOPEN_FAILED') {
    return { reason: `libtensorflow not loadable: ${firstLine}`, remedy: rebuildRemedy(packageName) + cuda };
  }
  return { reason: `import failed: ${firstLine}`, remedy: rebuildRemedy(packageName) + cuda };
}

function readTfjsCopy(packageJson: string): TfjsCopy {
  return {
    packageJson,
    version: (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version,
  };
}

/** The kernels `import` registers for `tensorflow` before it throws: removed, so the next package registers afresh. */
function forgetRegistrationsSince(kernelsBefore: Set<string>, hadBackend: boolean): void {
  for (const { kernelName } of tf.getKernelsForBackend('tensorflow')) {
    if (!kernelsBefore.has(kernelName)) tf.unregisterKernel(kernelName, 'tensorflow');
  }
  if (!hadBackend && tf.findBackendFactory('tensorflow')) tf.removeBackend('tensorflow');
}

/**
 * Imports a native package, which registers and sets the TF.js backend `tensorflow`. It is imported only when it
 * shares segstream's `@tensorflow/tfjs`; when its import throws (no addon, libtensorflow or CUDA missing), the
 * kernels it registered first are removed again, so that the other native package can register them without a
 * flood of warnings.
 *
 * @param resolveFrom where the package is looked up from (a file URL); segstream's own module by default.
 * @throws NativeBackendError naming the package, why it cannot run and what to do.
 */
export async function importNativeTensorflow(
  packageName: NativePackage,
  resolveFrom: string | URL = import.meta.url,
): Promise<void> {
  const segstreamRequire = createRequire(import.meta.url);
  const segstreams = readTfjsCopy(segstreamRequire.resolve('@tensorflow/tfjs/package.json'));
  let entry: string;
  try {
    entry = createRequire(resolveFrom).resolve(packageName);
  } catch {
    throw new NativeBackendError(
      packageName,
      'package not installed',
      `npm install ${packageName}@${segstreams.version}`,
    );
  }
  const packages = readTfjsCopy(createRequire(entry).resolve('@tensorflow/tfjs/package.json'));
  const separate = separateTfjsProblem(segstreams, packages);
  if (separate) {
    throw new NativeBackendError(
      packageName,
      separate,
      `install ${packageName}@${segstreams.version} so that it uses segstream's (npm dedupe where the versions already match)`,
    );
  }
  const kernelsBefore = new Set(tf.getKernelsForBackend('tensorflow').map((kernel) => kernel.kernelName));
  const hadBackend = tf.findBackendFactory('tensorflow') !== null;
  try {
    await import(pathToFileURL(entry).href);
  } catch (error) {
    forgetRegistrationsSince(kernelsBefore, hadBackend);
    const { reason, remedy } = explainNativeFailure(packageName, error);
    throw new NativeBackendError(packageName, reason, remedy);
  }
}
