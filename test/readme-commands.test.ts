import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseTrainConfig } from '../src/cli/main.js';
import { PROJECT_ROOT } from './helpers/data.js';

const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map(([, lang, body]) => ({ lang: lang!, body: body! }));
const shellLines = blocks.filter((b) => b.lang === 'sh').flatMap((b) => b.body.split('\n').filter((l) => l.trim() && !l.startsWith('#')));
const run = promisify(execFile);

test('quick start is install then the default run, and the test command is npm test', () => {
  const quickStart = readme.split('## Quick start')[1]!;
  const [first, second] = [...quickStart.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());
  assert.is(first, 'npm ci\nnpx stream-train train');
  assert.is(second, 'npm test');
  const scripts = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; bin: Record<string, string> };
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

test('every flag of the README eval, predict and compare commands exists', async () => {
  for (const command of ['eval', 'predict', 'compare']) {
    const lines = shellLines.filter((l) => l.startsWith(`npx stream-train ${command} `));
    assert.ok(lines.length >= 1, `${command} appears`);
    const { stdout } = await run(join(PROJECT_ROOT, 'bin', 'stream-train'), [command, '--help']);
    for (const flag of lines.flatMap((l) => l.match(/--[a-z-]+/g) ?? [])) assert.ok(stdout.includes(flag), `${command} ${flag}`);
  }
});

test('the README code example is test/examples/customPipeline.ts, and it trains and serves a run', async () => {
  const example = readFileSync(join(PROJECT_ROOT, 'test', 'examples', 'customPipeline.ts'), 'utf8');
  assert.ok(blocks.some((b) => b.lang === 'ts' && b.body === example), 'README shows the file verbatim');
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
