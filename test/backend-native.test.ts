import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  explainNativeFailure,
  gpuDeviceProblem,
  importNativeTensorflow,
  NativeBackendError,
  type NativePackage,
  separateTfjsProblem,
} from '../src/backend/nativeTensorflow.js';

const scratch = mkdtempSync(join(tmpdir(), 'segstream-native-'));
const tfjsDir = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs/package.json'));

/**
 * A folder whose node_modules holds `packageName` with this entry file. Its `@tensorflow/tfjs` is segstream's
 * own (a link), or a copy of `ownTfjsVersion`.
 */
function nativePackage(packageName: NativePackage, entry: string[], ownTfjsVersion?: string): URL {
  const root = mkdtempSync(join(scratch, 'project-'));
  const packageDir = join(root, 'node_modules', packageName);
  mkdirSync(join(packageDir, 'lib'), { recursive: true });
  writeFileSync(join(packageDir, 'package.json'), JSON.stringify({ name: packageName, main: 'index.js' }));
  writeFileSync(join(packageDir, 'lib', 'tfjs_binding.node'), 'not a shared object');
  writeFileSync(join(packageDir, 'index.js'), entry.join('\n'));
  if (ownTfjsVersion) {
    const copy = join(packageDir, 'node_modules', '@tensorflow', 'tfjs');
    mkdirSync(copy, { recursive: true });
    writeFileSync(
      join(copy, 'package.json'),
      JSON.stringify({ name: '@tensorflow/tfjs', version: ownTfjsVersion }),
    );
  } else {
    mkdirSync(join(root, 'node_modules', '@tensorflow'), { recursive: true });
    symlinkSync(tfjsDir, join(root, 'node_modules', '@tensorflow', 'tfjs'), 'dir');
  }
  return pathToFileURL(join(root, 'index.js'));
}

/**
 * `packageName` broken the way an install without its install script leaves it: its entry registers kernels
 * for `tensorflow` (as the real one does first), then loads an addon that is no shared object.
 */
function brokenNativePackage(packageName: NativePackage, ownTfjsVersion?: string): URL {
  return nativePackage(
    packageName,
    [
      "const tf = require('@tensorflow/tfjs');",
      "for (const kernelName of ['Abs', 'Add']) tf.registerKernel({ kernelName, backendName: 'tensorflow', kernelFunc: () => null });",
      "tf.registerBackend('tensorflow', () => null);",
      "require('./lib/tfjs_binding.node');",
    ],
    ownTfjsVersion,
  );
}

/** The kernels registered for `tensorflow` and whether its backend factory is, as a comparable string. */
function tensorflowRegistrations(): string {
  const kernels = tf.getKernelsForBackend('tensorflow').map((kernel) => kernel.kernelName);
  return `${kernels.sort().join(',')} backend:${tf.findBackendFactory('tensorflow') !== null}`;
}

async function nativeError(packageName: NativePackage, resolveFrom: URL): Promise<NativeBackendError> {
  try {
    await importNativeTensorflow(packageName, resolveFrom);
  } catch (error) {
    if (error instanceof NativeBackendError) return error;
    throw error;
  }
  throw new Error(`${packageName} imported, expected it to fail`);
}

test('a broken tfjs-node-gpu leaves no registration behind, so tfjs-node after it registers without a warning', async () => {
  const before = tensorflowRegistrations();
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (...parts: unknown[]) => warnings.push(parts.join(' '));
  try {
    const gpu = await nativeError(
      '@tensorflow/tfjs-node-gpu',
      brokenNativePackage('@tensorflow/tfjs-node-gpu'),
    );
    assert.is(tensorflowRegistrations(), before);
    const cpu = await nativeError('@tensorflow/tfjs-node', brokenNativePackage('@tensorflow/tfjs-node'));
    assert.is(tensorflowRegistrations(), before);
    assert.equal(warnings, []);
    for (const error of [gpu, cpu]) {
      assert.match(error.reason, /^libtensorflow not loadable: .*tfjs_binding\.node/);
      assert.not.match(error.reason, '\n');
      assert.match(error.message, `${error.packageName} cannot run: ${error.reason}; `);
      assert.match(error.remedy, `npm rebuild ${error.packageName}`);
    }
    assert.match(gpu.remedy, 'CUDA 11.2 and cuDNN 8.1');
    assert.not.match(cpu.remedy, 'CUDA');
  } finally {
    console.warn = warn;
  }
});

test('a native package with its own copy of @tensorflow/tfjs is not imported, and the versions are named', async () => {
  const before = tensorflowRegistrations();
  const ours = (createRequire(import.meta.url)('@tensorflow/tfjs/package.json') as { version: string })
    .version;
  const error = await nativeError(
    '@tensorflow/tfjs-node',
    brokenNativePackage('@tensorflow/tfjs-node', '0.0.1'),
  );
  assert.is(tensorflowRegistrations(), before);
  assert.match(error.reason, `its own copy of @tensorflow/tfjs, 0.0.1 (segstream uses ${ours})`);
  assert.match(error.remedy, `install @tensorflow/tfjs-node@${ours}`);
});

test('tfjs-node-gpu that loads where TensorFlow finds no CUDA GPU is named as running on the CPU, with what it needs', async () => {
  // The real backend reports whether TensorFlow listed a GPU device in `isUsingGpuDevice`.
  const loadsWithoutGpu = nativePackage('@tensorflow/tfjs-node-gpu', [
    "const tf = require('@tensorflow/tfjs');",
    "tf.registerBackend('tensorflow', () => ({ isUsingGpuDevice: false, dispose() {} }));",
  ]);
  await importNativeTensorflow('@tensorflow/tfjs-node-gpu', loadsWithoutGpu);
  try {
    const problem = gpuDeviceProblem(tf.findBackend('tensorflow'));
    assert.match(problem?.reason ?? '', 'found no CUDA GPU, so it would run on the CPU');
    assert.match(problem?.remedy ?? '', 'CUDA 11.2 and cuDNN 8.1');
  } finally {
    tf.removeBackend('tensorflow');
  }
  assert.is(gpuDeviceProblem({ isUsingGpuDevice: true }), undefined);
  // Other backends have no such field and are not judged by it.
  assert.is(gpuDeviceProblem(tf.findBackend('cpu')), undefined);
});

test('a native package that is not installed says so', async () => {
  const empty = mkdtempSync(join(scratch, 'empty-'));
  const error = await nativeError('@tensorflow/tfjs-node-gpu', pathToFileURL(join(empty, 'index.js')));
  assert.is(error.reason, 'package not installed');
  assert.match(error.remedy, 'npm install @tensorflow/tfjs-node-gpu@');
});

test('the failures of a native import become a one-line reason: addon missing, dynamic loading, anything else', () => {
  const addonMissing = new Error(
    `The Node.js native addon module (tfjs_binding.node) can not be found at path: ${scratch}/x.node. \nPlease run`,
  );
  const missing = explainNativeFailure('@tensorflow/tfjs-node', addonMissing);
  assert.match(missing.reason, /^native addon tfjs_binding\.node missing/);
  assert.match(missing.remedy, "npm rebuild @tensorflow/tfjs-node'");
  const library = `${scratch}/libtensorflow.so.2`;
  let dlopenError: unknown;
  try {
    process.dlopen({ exports: {} }, library);
  } catch (error) {
    dlopenError = error;
  }
  const unloadable = explainNativeFailure('@tensorflow/tfjs-node-gpu', dlopenError);
  assert.match(unloadable.reason, `libtensorflow not loadable: ${library}`);
  assert.match(unloadable.remedy, 'CUDA 11.2');
  const other = explainNativeFailure(
    '@tensorflow/tfjs-node',
    new Error('Could not initialize TensorFlow backend.\nat x'),
  );
  assert.is(other.reason, 'import failed: Could not initialize TensorFlow backend.');
});

test('only the copy of @tensorflow/tfjs segstream runs is shared', () => {
  const segstreams = { packageJson: join(tfjsDir, 'package.json'), version: '4.22.0' };
  assert.is(separateTfjsProblem(segstreams, { ...segstreams }), undefined);
  const sameVersionElsewhere = { packageJson: join(scratch, 'package.json'), version: '4.22.0' };
  assert.match(
    separateTfjsProblem(segstreams, sameVersionElsewhere) ?? '',
    'its own copy of @tensorflow/tfjs',
  );
});

test.after(() => rmSync(scratch, { recursive: true, force: true }));

test.run();
