import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, tap } from 'rxjs';
import { type Callback, test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { prepareTrainingRun, type TrainPipelineOptions } from '../src/pipelines/trainPipeline.js';
import { loadLatestCheckpoint } from '../src/training/checkpoint.js';
import { PROJECT_ROOT, writeXbdPairs } from './helpers/data.js';
import { smallestUNetRun } from './helpers/runs.js';
import { testUnlessMissing } from './helpers/skips.js';
import { maxAbsDifference, weightValues } from './train-fixtures.js';

// What exists elsewhere: train-checkpoint.test.ts ('a failed write leaves the previous checkpoint intact') makes
// saveCheckpoint fail by an optimizer that throws ENOSPC; train-operator.test.ts ('an unwritable checkpoint
// folder fails before the first step') makes the train operator fail on its first batch. Here: a read-only and a
// full file system (small tmpfs mounts) under prepareTrainingRun and the CLI before anything is read or
// written, and a disk that fills up between two checkpoints of a real run.

/** Mounts a tmpfs (needs root) at a new temporary folder; undefined where mounting is not allowed. */
function mountTmpfs(options: string): string | undefined {
  const point = mkdtempSync(join(tmpdir(), 'segstream-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', point], { stdio: 'ignore' });
    return point;
  } catch {
    rmSync(point, { recursive: true, force: true });
    return undefined;
  }
}

function unmount(point: string): void {
  execFileSync('umount', [point]);
  rmSync(point, { recursive: true, force: true });
}

/** Writes to a file in `folder` until the file system is full. */
function fillUp(folder: string): void {
  const file = openSync(join(folder, 'filler'), 'w');
  try {
    // Large writes first, then smaller ones for what a large one could not take.
    for (const size of [1 << 16, 1 << 12, 1]) {
      const chunk = Buffer.alloc(size);
      try {
        for (;;) writeSync(file, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      }
    }
  } finally {
    closeSync(file);
  }
}

const probe = mountTmpfs('size=64k');
if (probe) unmount(probe);
/** A test on small tmpfs mounts, skipped where mounting is not allowed. */
const tmpfsTest = (name: string, handler: Callback) =>
  testUnlessMissing(name, probe ? undefined : 'needs root, to mount a tmpfs', handler);

/** A run over one 1024x1024 xBD pair: 64 tiles of 128 px, 4 steps of 16, the smallest UNet. */
async function oneImageRun(
  root: string,
  checkpointDir: string,
  reads = { count: 0 },
): Promise<TrainPipelineOptions> {
  await writeXbdPairs(root, 1);
  const readMask: TrainPipelineOptions['readMask'] = (...args) => {
    reads.count += 1;
    return readLabelMask(...args);
  };
  return { ...smallestUNetRun(root, 128, 16), readMask, checkpointDir };
}

tmpfsTest(
  'a read-only or full output folder is refused by prepareTrainingRun before anything is read, naming the folder',
  async () => {
    await selectBackend({ backend: 'wasm' });
    const readOnly = mountTmpfs('ro,size=64k')!;
    const full = mountTmpfs('size=64k')!;
    const root = await mkdtemp(join(tmpdir(), 'segstream-unwritable-'));
    try {
      fillUp(full);
      for (const [checkpointDir, reason] of [
        [join(readOnly, 'run', 'checkpoints'), 'EROFS'],
        [join(full, 'run', 'checkpoints'), 'ENOSPC'],
      ] as const) {
        const reads = { count: 0 };
        const options = await oneImageRun(join(root, reason), checkpointDir, reads);
        const error = await prepareTrainingRun(options).then(
          () => undefined,
          (e: unknown) => e as Error,
        );
        assert.ok(error, `${reason}: prepareTrainingRun accepted ${checkpointDir}`);
        assert.match(error!.message, `checkpoint folder ${checkpointDir} is not writable: ${reason}`);
        assert.is(reads.count, 0, 'no label was read');
      }
    } finally {
      unmount(readOnly);
      unmount(full);
      await rm(root, { recursive: true, force: true });
    }
  },
);

tmpfsTest(
  'stream-train train with a read-only --out fails with one line naming the folder, before training or writing',
  async () => {
    const readOnly = mountTmpfs('ro,size=64k')!;
    const root = await mkdtemp(join(tmpdir(), 'segstream-unwritable-cli-'));
    try {
      await writeXbdPairs(root, 1);
      const out = join(readOnly, 'run');
      const cli = spawnSync(
        process.execPath,
        [
          join(PROJECT_ROOT, 'bin', 'stream-train'),
          'train',
          '--images',
          join(root, 'images'),
          '--labels',
          join(root, 'labels'),
          '--out',
          out,
          '--epochs',
          '1',
          '--base-filters',
          '1',
          '--depth',
          '1',
          '--backend',
          'wasm',
        ],
        { encoding: 'utf8' },
      );
      assert.is(cli.status, 1, cli.stderr);
      const lines = cli.stderr.trim().split('\n');
      assert.match(
        lines.at(-1)!,
        `error: checkpoint folder ${join(out, 'checkpoints')} is not writable: EROFS`,
      );
      assert.not.match(cli.stderr, /training unet|Error: |\n\s+at /, 'no training started, no stack');
    } finally {
      unmount(readOnly);
      await rm(root, { recursive: true, force: true });
    }
  },
);

tmpfsTest(
  'a disk that fills up between checkpoints fails the run naming the checkpoint and keeps the previous one intact',
  async () => {
    await selectBackend({ backend: 'wasm' });
    const disk = mountTmpfs('size=1m')!;
    const root = await mkdtemp(join(tmpdir(), 'segstream-enospc-'));
    try {
      const checkpointDir = join(disk, 'checkpoints');
      const run = await prepareTrainingRun({
        ...(await oneImageRun(root, checkpointDir)),
        checkpointEverySteps: 1,
      });
      let weightsAtFirstCheckpoint: number[][] | undefined;
      const error = await lastValueFrom(
        run.events$.pipe(
          tap((event) => {
            if (event.type !== 'checkpoint' || weightsAtFirstCheckpoint) return;
            weightsAtFirstCheckpoint = weightValues(run.model);
            fillUp(disk);
          }),
        ),
      ).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      assert.ok(weightsAtFirstCheckpoint, 'the first checkpoint was written');
      assert.ok(error, 'the run failed when the disk was full');
      assert.match(
        error!.message,
        `writing checkpoint ${join(checkpointDir, 'step-000000002')} failed (previous checkpoints kept): ENOSPC`,
      );
      assert.equal(await readdir(checkpointDir), ['step-000000001'], 'no partial checkpoint left');
      const kept = (await loadLatestCheckpoint(checkpointDir))!;
      assert.is(kept.position.globalStep, 1);
      assert.is(
        maxAbsDifference(weightValues(kept.models.model!), weightsAtFirstCheckpoint!),
        0,
        'the kept checkpoint holds the weights it was written with',
      );
    } finally {
      unmount(disk);
      await rm(root, { recursive: true, force: true });
    }
  },
);

test.run();
