import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PROJECT_ROOT } from './helpers/data.js';

/**
 * Starts `stream-train train` on the built-in synthetic data, sends `signal` once the first step's event is
 * out, and returns the exit code and output.
 */
function trainAndInterrupt(
  signal: 'SIGINT' | 'SIGTERM',
  out: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      join(PROJECT_ROOT, 'bin', 'stream-train'),
      [
        'train',
        '--out',
        out,
        '--synthetic-images',
        '4',
        '--tile-size',
        '32',
        '--base-filters',
        '2',
        '--depth',
        '1',
        '--epochs',
        '50',
        '--backend',
        'cpu',
        '--metrics',
        'ndjson:-',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (!sent && stdout.includes('"type":"batch"')) {
        sent = true;
        child.kill(signal);
      }
    });
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const BIN = join(PROJECT_ROOT, 'bin', 'stream-train');
const run = promisify(execFile);

/** eval, predict and compare on the run folder the interrupted run left (its checkpoint holds the model). */
async function evaluatePredictCompare(out: string): Promise<void> {
  const data = join(out, 'data');
  // --split evaluates exactly the images run.json lists for that split, from the run's own folders.
  const manifest = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as {
    splits: Record<string, string[]>;
  };
  await run(BIN, [
    'eval',
    '--run',
    out,
    '--split',
    'train',
    '--json',
    join(out, 'train.json'),
    '--backend',
    'cpu',
  ]);
  const onTrain = JSON.parse(readFileSync(join(out, 'train.json'), 'utf8')) as {
    images: number;
    pixels: number;
  };
  assert.is(onTrain.images, manifest.splits.train!.length);
  assert.is(onTrain.pixels, manifest.splits.train!.length * 256 * 256);
  await run(BIN, [
    'eval',
    '--run',
    out,
    '--images',
    join(data, 'images'),
    '--labels',
    join(data, 'labels'),
    '--json',
    join(out, 'copy.json'),
    '--backend',
    'cpu',
  ]);
  const report = JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8')) as {
    per_class: { name: string; iou: number }[];
    overall: Record<string, number>;
    confusion_matrix: number[][];
    pixels: number;
  };
  assert.equal(
    report.per_class.map((c) => c.name),
    ['background', 'no-damage', 'minor-damage', 'major-damage', 'destroyed'],
  );
  for (const key of ['precision', 'recall', 'f1', 'iou', 'accuracy', 'mean_iou'])
    assert.type(report.overall[key], 'number', key);
  // Every labelled pixel of the 4 synthetic 256x256 images is counted once (no ignored labels there).
  assert.is(
    report.confusion_matrix.flat().reduce((a, b) => a + b, 0),
    4 * 256 * 256,
  );
  assert.is(readFileSync(join(out, 'copy.json'), 'utf8'), readFileSync(join(out, 'eval.json'), 'utf8'));
  assert.match(readFileSync(join(out, 'confusion.csv'), 'utf8'), /^true\\predicted,background,no-damage,/);
  assert.equal((await sharp(join(out, 'confusion.png')).metadata()).width, 5 * 48);

  const predictions = join(out, 'predictions');
  await run(BIN, [
    'predict',
    '--run',
    out,
    '--images',
    join(data, 'images'),
    '--out',
    predictions,
    '--backend',
    'cpu',
  ]);
  const stem = readdirSync(join(data, 'images'))[0]!.replace(/\.png$/, '');
  const classesPng = join(predictions, `${stem}.classes.png`);
  const { width, height, channels } = await sharp(classesPng).metadata();
  assert.equal([width, height, channels], [256, 256, 1]);
  const classes = await sharp(classesPng).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  assert.ok(
    classes.data.every((id) => id < 5),
    'class ids only',
  );
  assert.ok(existsSync(join(predictions, `${stem}.overlay.png`)));

  const { stdout } = await run(BIN, ['compare', out]);
  assert.match(stdout, new RegExp(`\\| unet \\| ${report.overall.f1!.toFixed(4)} \\|`));

  // No epoch has ended, so none is marked best: the error says so and names the folder.
  const noBest = await run(BIN, [
    'eval',
    '--run',
    out,
    '--split',
    'train',
    '--checkpoint',
    'best',
    '--backend',
    'cpu',
  ]).then(
    () => undefined,
    (error: { stderr: string }) => error,
  );
  assert.match(noBest?.stderr ?? '', `${join(out, 'checkpoints')}: no checkpoint is marked best`);
}

/**
 * The command the interrupted run printed, with one setting given again: the run continues with its own
 * settings (model, tile size, data, backend) from run.json, not the defaults, and only --epochs changes.
 */
async function resumeAsPrinted(out: string, firstStderr: string): Promise<void> {
  // Without --resume the folder is refused: a new run there would lose its checkpoints to the old run's.
  const fresh = await run(BIN, ['train', '--out', out, '--epochs', '1']).then(
    () => undefined,
    (error: { code: number; stderr: string }) => error,
  );
  assert.ok(fresh && fresh.code !== 0, 'a new run into a run folder fails');
  assert.match(
    fresh.stderr,
    `${join(out, 'checkpoints')}: holds the checkpoints of an earlier run (newest step-`,
  );
  const first = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as {
    startedAt: string;
    options: Record<string, unknown>;
  };
  const { stderr } = await run(BIN, ['train', '--out', out, '--resume', '--epochs', '1']);
  assert.match(stderr, `resuming ${out} with the settings in ${join(out, 'run.json')}; given again: epochs`);
  assert.match(stderr, new RegExp(`resumed from ${join(out, 'checkpoints', 'step-')}\\d+`));
  assert.not.match(stderr, 'generated', 'no new synthetic data');
  const trainingLine = (text: string) =>
    /training unet on \d+ images \(\d+ steps per epoch\)/.exec(text)?.[0];
  assert.is(trainingLine(stderr), trainingLine(firstStderr));
  const { options, startedAt, resumes } = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as {
    options: Record<string, unknown>;
    startedAt: string;
    resumes: Array<{ backend: string; checkpoint: string; changed?: unknown }>;
  };
  assert.equal(
    [options.tileSize, options.baseFilters, options.depth, options.backend, options.epochs],
    [32, 2, 1, 'cpu', 1],
  );
  assert.is(startedAt, first.startedAt, 'the run keeps its first start time');
  assert.equal(
    resumes.map((r) => [r.backend, r.checkpoint.includes(join(out, 'checkpoints', 'step-'))]),
    [['cpu', true]],
  );
  assert.equal(
    resumes[0]!.changed,
    { epochs: { from: first.options.epochs, to: 1 } },
    'the resume records the setting it changed',
  );
  // The finished epoch is the best so far (by training mean IoU: this run has no validation images):
  // eval --checkpoint best evaluates the checkpoint best.json names.
  const { checkpoint: marked } = JSON.parse(readFileSync(join(out, 'checkpoints', 'best.json'), 'utf8')) as {
    checkpoint: string;
  };
  const evaluated = await run(BIN, [
    'eval',
    '--run',
    out,
    '--split',
    'train',
    '--checkpoint',
    'best',
    '--backend',
    'cpu',
  ]);
  assert.match(evaluated.stderr, `model: ${join(out, 'checkpoints', marked)}`);
  assert.is(
    (JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8')) as { checkpoint: string }).checkpoint,
    join(out, 'checkpoints', marked),
  );
}

for (const [signal, exitCode] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  test(`${signal} stops at the next batch boundary, writes a checkpoint and exits ${exitCode}${signal === 'SIGINT' ? '; eval, predict and compare use that checkpoint' : "; the printed command resumes with the run's settings"}`, async () => {
    const out = mkdtempSync(join(tmpdir(), `segstream-${signal}-`));
    try {
      const { code, stdout, stderr } = await trainAndInterrupt(signal, out);
      assert.is(code, exitCode, stderr);
      const events = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { type: string; checkpoint?: string });
      const stopped = events.find((e) => e.type === 'stopped');
      assert.ok(stopped?.checkpoint, 'a stopped event naming its checkpoint');
      assert.ok(existsSync(join(stopped.checkpoint, 'state.json')), 'the checkpoint is complete');
      assert.ok(readdirSync(join(out, 'checkpoints')).length >= 1);
      assert.is(events.filter((e) => e.type === 'epoch').length, 0, 'stopped inside the first epoch');
      assert.match(
        stderr,
        new RegExp(
          `interrupted by ${signal}: checkpoint in .*; continue with: npx stream-train train --out .* --resume`,
        ),
      );
      if (signal === 'SIGINT') await evaluatePredictCompare(out);
      else await resumeAsPrinted(out, stderr);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
}

test.run();
