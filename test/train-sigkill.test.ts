import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lcg, maxAbsDifference } from './train-fixtures.js';

const CHILD = fileURLToPath(new URL('./train-sigkill.child.js', import.meta.url));
const TOTAL_STEPS = 12;

interface Life {
  /** The step of the checkpoint the child resumed from (0: a fresh start). */
  resumedAt: number;
  /** The last step the child reported before it ended. */
  lastStep: number;
  killed: boolean;
  /** A half-written checkpoint folder was left behind: the kill hit a write. */
  killedDuringWrite: boolean;
}

/**
 * Runs the child; when `killAfterMs` is set, sends SIGKILL that long after the child first reports a step.
 */
function live(
  checkpointDir: string,
  outputFile: string,
  killAfterMs: number | null,
  env: NodeJS.ProcessEnv = {},
): Promise<Life> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, checkpointDir, outputFile], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let resumedAt = 0;
    let lastStep = 0;
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (data: Buffer) => {
      for (const match of data.toString().matchAll(/resumed at (\d+)/g)) resumedAt = Number(match[1]);
      for (const match of data.toString().matchAll(/^step (\d+)/gm)) lastStep = Number(match[1]);
      if (killAfterMs !== null && lastStep > 0 && !timer)
        timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.on('error', reject);
    child.on('close', async (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') {
        const leftovers = (await readdir(checkpointDir)).filter((n) => n.startsWith('.tmp-'));
        resolve({ resumedAt, lastStep, killed: true, killedDuringWrite: leftovers.length > 0 });
      } else if (code === 0) resolve({ resumedAt, lastStep, killed: false, killedDuringWrite: false });
      else reject(new Error(`child exited with ${code}: ${stderr}`));
    });
  });
}

test('SIGKILL at random points, during checkpoint writes too: every resume continues, the end equals an uninterrupted run', async () => {
  const root = await mkdtemp(join(tmpdir(), 'segstream-sigkill-'));
  try {
    const straightDir = join(root, 'straight');
    await live(straightDir, join(root, 'straight.json'), null);
    const straight = JSON.parse(await readFile(join(root, 'straight.json'), 'utf8')) as {
      globalStep: number;
      weights: number[][];
    };
    assert.is(straight.globalStep, TOTAL_STEPS);

    const killedDir = join(root, 'killed');
    const random = lcg(Date.now());
    // Each file write pauses 15 ms, so a checkpoint takes ~100 ms and most kills land inside one.
    const slowWrites = { SEGSTREAM_CHECKPOINT_WRITE_DELAY_MS: '15' };
    const lives: Life[] = [];
    for (let kills = 0; kills < 6; kills++)
      lives.push(await live(killedDir, join(root, 'killed.json'), Math.floor(random() * 250), slowWrites));
    console.log(
      `lives (last step reported, killed, during a write): ${lives.map((l) => `${l.lastStep}${l.killed ? ' killed' : ''}${l.killedDuringWrite ? ' in-write' : ''}`).join('; ')}`,
    );
    const last = await live(killedDir, join(root, 'killed.json'), null);
    assert.ok(
      lives.filter((l) => l.killed).length >= 5,
      `killed ${lives.filter((l) => l.killed).length} times`,
    );
    assert.ok(
      lives.some((l) => l.killedDuringWrite),
      'at least one kill hit a checkpoint write',
    );
    // A kill can land after the last step's checkpoint is written and before its line is printed: the last
    // life then resumes at the end and has nothing left to train.
    assert.ok(
      last.lastStep === TOTAL_STEPS || last.resumedAt === TOTAL_STEPS || lives.some((l) => !l.killed),
      `the last life finished the run, or found it finished: ${JSON.stringify(last)}`,
    );
    const resumed = JSON.parse(await readFile(join(root, 'killed.json'), 'utf8')) as {
      globalStep: number;
      weights: number[][];
    };
    assert.is(resumed.globalStep, TOTAL_STEPS, 'same number of optimizer steps');
    const difference = maxAbsDifference(straight.weights, resumed.weights);
    assert.ok(difference < 1e-6, `weights differ by ${difference}; lives: ${JSON.stringify(lives)}`);
    const complete = (await readdir(killedDir)).filter((n) => n.startsWith('step-'));
    assert.ok(complete.length >= 1 && complete.length <= 2, `old checkpoints pruned: ${complete}`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test.run();
