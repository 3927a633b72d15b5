import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BACKEND_PREFERENCE, selectBackend } from '../src/backend/selectBackend.js';
import { describeAdapter, isSoftwareAdapter } from '../src/backend/webgpu/adapterInfo.js';
import { testUnlessMissing, webgpuMissing } from './helpers/skips.js';

test('auto picks the best available backend and says why better ones were skipped', async () => {
  const choice = await selectBackend({ backend: 'auto' });
  assert.ok(BACKEND_PREFERENCE.includes(choice.backend));
  assert.is(tf.getBackend(), choice.tfBackend);
  assert.match(choice.summary, `backend: ${choice.backend}`);
  for (const attempt of choice.attempts.filter((a) => !a.ok)) {
    assert.match(choice.summary, `${attempt.backend}: ${attempt.reason}`);
  }
});

test('a forced backend runs, and an unknown one is refused by name', async () => {
  const choice = await selectBackend({ backend: 'cpu' });
  assert.is(choice.backend, 'cpu');
  assert.is(tf.getBackend(), 'cpu');
  assert.match(choice.summary, 'forced');
  try {
    await selectBackend({ backend: 'tpu' as never });
    assert.unreachable('unknown backend accepted');
  } catch (error) {
    assert.match(String(error), "unknown backend 'tpu'");
  }
});

test('software WebGPU adapters (lavapipe, SwiftShader, WARP) are told from GPUs by flag, architecture or name, and named with their driver', () => {
  const lavapipe = {
    vendor: 'mesa',
    architecture: 'software',
    device: 'llvmpipe-llvm-15-0-6-256-bits-',
    description: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)',
  };
  const swiftShader = {
    vendor: 'google',
    architecture: '',
    device: 'swiftshader-device',
    description: 'SwiftShader driver',
  };
  const flagged = {
    vendor: 'microsoft',
    architecture: '',
    device: '',
    description: 'Microsoft Basic Render Driver',
    isFallbackAdapter: true,
  };
  const nvidia = {
    vendor: 'nvidia',
    architecture: 'hopper',
    device: 'nvidia-h100-80gb-hbm3',
    description: 'NVIDIA: 550.54.15 550.54.15.0',
  };
  for (const info of [lavapipe, swiftShader, flagged])
    assert.ok(isSoftwareAdapter(info), JSON.stringify(info));
  assert.not.ok(isSoftwareAdapter(nvidia));
  assert.is(describeAdapter(nvidia), 'nvidia nvidia-h100-80gb-hbm3 (driver NVIDIA: 550.54.15 550.54.15.0)');
  assert.is(
    describeAdapter(lavapipe),
    'mesa llvmpipe-llvm-15-0-6-256-bits- (driver llvmpipe: Mesa 25.0.7 (LLVM 15.0.6), software)',
  );
});

const webgpu = await webgpuMissing();
testUnlessMissing(
  'forced webgpu runs and names its adapter; auto passes over a software adapter and says so',
  webgpu,
  async () => {
    const forced = await selectBackend({ backend: 'webgpu' });
    assert.is(tf.getBackend(), 'webgpu');
    assert.match(forced.summary, /^backend: webgpu, adapter .+ \(driver .+\) \(forced\)$/);
    const auto = await selectBackend({ backend: 'auto' });
    const passedOver = auto.attempts.find((a) => a.backend === 'webgpu');
    if (forced.summary.includes(', software)')) {
      assert.is.not(auto.backend, 'webgpu');
      assert.match(passedOver?.reason ?? '', 'not chosen automatically (force it with --backend webgpu)');
    } else {
      // A hardware adapter: webgpu is taken unless tensorflow-gpu ran first.
      assert.ok(['tensorflow-gpu', 'webgpu'].includes(auto.backend), auto.summary);
    }
  },
);

testUnlessMissing(
  "SEGSTREAM_DAWN_FLAGS reaches Dawn: backend=null gives Dawn's null adapter, named on the backend line",
  webgpu,
  async () => {
    const script = `import { selectBackend } from ${JSON.stringify(new URL('../src/backend/selectBackend.js', import.meta.url).href)};
      console.log((await selectBackend({ backend: 'webgpu' })).summary);`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, SEGSTREAM_DAWN_FLAGS: 'backend=null' },
    });
    assert.match(stdout, /^backend: webgpu, adapter .*null-backend.* \(forced\)$/m);
  },
);

test.run();
