import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { parseTrainConfig } from '../src/cli/trainConfig.js';
import { buildLoss, type LossConfig } from '../src/losses/buildLoss.js';
import { PROJECT_ROOT } from './helpers/data.js';

const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map(([, lang, body]) => ({
  lang: lang!,
  body: body!,
}));
const shellLines = blocks
  .filter((b) => b.lang === 'sh')
  .flatMap((b) => b.body.split('\n').filter((l) => l.trim() && !l.startsWith('#')));
const run = promisify(execFile);

test('quick start is install then the default run, and the test command is npm test', () => {
  const quickStart = readme.split('## Quick start')[1]!;
  const [first, second] = [...quickStart.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());
  assert.is(first, 'npm ci\nnpx stream-train train');
  assert.is(second, 'npm test');
  const scripts = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
    bin: Record<string, string>;
  };
  assert.ok(scripts.scripts.test, 'package.json has a test script');
  assert.is(scripts.bin['stream-train'], 'bin/stream-train');
});

test('every stream-train train command in the README parses with its flags', async () => {
  const trainLines = shellLines.filter((l) => l.startsWith('npx stream-train train'));
  assert.ok(trainLines.length >= 5);
  for (const line of trainLines) {
    const args = line.split(/\s+/).slice(3);
    const config = await parseTrainConfig(args);
    const archIndex = args.indexOf('--arch');
    if (archIndex >= 0) assert.is(config.arch, args[archIndex + 1]);
  }
});

test('the README loss config parses and builds a loss with a gradient', async () => {
  await selectBackend({ backend: 'cpu' });
  const yamlBlocks = blocks.filter((b) => b.lang === 'yaml');
  assert.ok(yamlBlocks.length >= 1);
  const dir = mkdtempSync(join(tmpdir(), 'segstream-readme-'));
  try {
    for (const [index, block] of yamlBlocks.entries()) {
      const file = join(dir, `config-${index}.yaml`);
      writeFileSync(file, block.body);
      const config = await parseTrainConfig(['--config', file]);
      const loss = buildLoss(
        config.loss as LossConfig,
        { numClasses: 5, ...(config.classWeights ? { classWeights: config.classWeights as number[] } : {}) },
        file,
      );
      const logits = tf.zeros([1, 2, 2, 5]) as tf.Tensor4D;
      const labels = tf.tensor3d([0, 1, 2, 4], [1, 2, 2], 'int32');
      const gradient = tf.grad((x: tf.Tensor) => loss(x as tf.Tensor4D, labels))(logits);
      assert.ok(
        Math.max(...(gradient.abs().max().dataSync() as Float32Array)) > 0,
        `${file}: the loss has a gradient`,
      );
      tf.dispose([logits, labels, gradient]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every flag of the README eval, predict and compare commands exists', async () => {
  for (const command of ['eval', 'predict', 'compare']) {
    const lines = shellLines.filter((l) => l.startsWith(`npx stream-train ${command} `));
    assert.ok(lines.length >= 1, `${command} appears`);
    const { stdout } = await run(join(PROJECT_ROOT, 'bin', 'stream-train'), [command, '--help']);
    for (const flag of lines.flatMap((l) => l.match(/--[a-z-]+/g) ?? []))
      assert.ok(stdout.includes(flag), `${command} ${flag}`);
  }
});

test('the README code example is test/examples/customPipeline.ts, and it trains and serves a run', async () => {
  const example = readFileSync(join(PROJECT_ROOT, 'test', 'examples', 'customPipeline.ts'), 'utf8');
  assert.ok(
    blocks.some((b) => b.lang === 'ts' && b.body === example),
    'README shows the file verbatim',
  );
  assert.not.match(example, /from '\.{1,2}\//, 'the example imports packages only, segstream as a user does');
  // The cpu backend keeps this test independent of which faster backends the machine has.
  process.env.SEGSTREAM_BACKEND = 'cpu';
  const { runCustomPipeline } = await import('./examples/customPipeline.js');
  const dir = mkdtempSync(join(tmpdir(), 'segstream-example-'));
  try {
    const { meanIoU, steps } = await runCustomPipeline(dir);
    // 4 training images of 64x64 in 32x32 tiles = 16 tiles = 4 batches of 4.
    assert.is(steps, 4);
    assert.ok(meanIoU >= 0 && meanIoU <= 1, `mean IoU ${meanIoU}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
