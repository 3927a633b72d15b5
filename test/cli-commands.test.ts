import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveClassMap } from '../src/cli/classes.js';
import { loadConfig } from '../src/cli/config.js';
import { parseTrainConfig } from '../src/cli/trainConfig.js';
import { TRAIN_OPTIONS } from '../src/cli/trainOptions.js';
import { ConfusionMatrix } from '../src/metrics/confusionMatrix.js';
import {
  confusionCsv,
  confusionHeatmapPng,
  evaluationReport,
  evaluationTable,
} from '../src/pipelines/evaluate.js';
import { scheduleForRun } from '../src/pipelines/trainPipeline.js';
import {
  manifestClasses,
  manifestClassMap,
  type RunManifest,
  writeRunManifest,
} from '../src/runs/runDirectory.js';
import { PROJECT_ROOT } from './helpers/data.js';

const run = promisify(execFile);

async function rejects(action: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  const outcome = await action().then(
    () => 'resolved',
    (error: unknown) => String(error),
  );
  assert.match(outcome, pattern);
}
const BIN = join(PROJECT_ROOT, 'bin', 'stream-train');
const scratch = mkdtempSync(join(tmpdir(), 'segstream-cli-'));

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(BIN, args, { cwd: scratch });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('train --help lists every option with its default', async () => {
  const { code, stdout } = await cli('train', '--help');
  assert.is(code, 0);
  const flat = stdout.replace(/\s+/g, ' ');
  for (const spec of TRAIN_OPTIONS) {
    assert.ok(flat.includes(spec.flags), `${spec.flags} missing`);
    if ('default' in spec && spec.kind !== 'boolean') {
      const shown = typeof spec.default === 'string' ? `"${spec.default}"` : JSON.stringify(spec.default);
      assert.ok(flat.includes(`default: ${shown}`), `${spec.flags} default ${shown} missing`);
    }
  }
  for (const command of ['train', 'eval', 'predict', 'compare', 'prepare', 'merge'])
    assert.match((await cli('--help')).stdout, new RegExp(`^  ${command} `, 'm'));
});

test('config file values override defaults and flags override the file (YAML and JSON)', async () => {
  const yamlPath = join(scratch, 'run.yaml');
  writeFileSync(yamlPath, 'arch: deeplabv3plus\nbatch-size: 16\nepochs: 5\nmetrics:\n  - ndjson:-\n');
  const config = await parseTrainConfig([
    '--config',
    yamlPath,
    '--epochs',
    '3',
    '--metrics',
    'http:7000',
    '--metrics',
    'ndjson:-',
  ]);
  assert.is(config.arch, 'deeplabv3plus');
  assert.is(config.batchSize, 16);
  assert.is(config.epochs, 3);
  assert.equal(config.metrics, ['http:7000', 'ndjson:-']);
  assert.is(config.tileSize, 128, 'untouched options keep their default');
  const jsonPath = join(scratch, 'run.json');
  writeFileSync(jsonPath, JSON.stringify({ tileSize: 64, augment: false }));
  const fromJson = await parseTrainConfig(['--config', jsonPath]);
  assert.equal([fromJson.tileSize, fromJson.augment], [64, false]);
  assert.is((await parseTrainConfig(['--no-augment'])).augment, false);
});

test('every trainer option has a flag: optimizer, schedule, class weights, micro-batches, early stopping, discriminator, threads', async () => {
  const config = await parseTrainConfig([
    '--optimizer',
    'sgd',
    '--schedule',
    'cosine',
    '--class-weights',
    '0.5,1,2,2,4',
    '--micro-batches',
    '4',
    '--batch-size',
    '16',
    '--early-stopping',
    '3',
    '--discriminator-every',
    '2',
    '--wasm-threads',
    '1',
    '--loss',
    'focalTversky',
  ]);
  assert.equal(
    [
      config.optimizer,
      config.schedule,
      config.classWeights,
      config.microBatches,
      config.earlyStopping,
      config.discriminatorEvery,
      config.wasmThreads,
      config.loss,
    ],
    ['sgd', 'cosine', [0.5, 1, 2, 2, 4], 4, 3, 2, 1, 'focalTversky'],
  );
  // A config file may give the parameters of a named option.
  const yamlPath = join(scratch, 'named.yaml');
  writeFileSync(
    yamlPath,
    'loss:\n  name: focalTversky\n  gamma: 0.75\nschedule: { name: step, everyEpochs: 2, gamma: 0.5 }\noptimizer: { name: adam, beta1: 0.5 }\nbackbone: 18\n',
  );
  const fromYaml = await parseTrainConfig(['--config', yamlPath]);
  assert.is(fromYaml.backbone, '18');
  assert.equal(fromYaml.loss, { name: 'focalTversky', gamma: 0.75 });
  assert.equal(fromYaml.schedule, { name: 'step', everyEpochs: 2, gamma: 0.5 });
  await rejects(
    () => parseTrainConfig(['--schedule', 'warmup']),
    /'--schedule <name>' argument 'warmup' is invalid. Allowed choices are constant, step, cosine, poly, reduceOnPlateau/,
  );
  const badPath = join(scratch, 'named-bad.yaml');
  writeFileSync(badPath, 'optimizer: { name: lamb }\n');
  await rejects(
    () => parseTrainConfig(['--config', badPath]),
    /--optimizer must be one of adam, sgd \(or an object with such a name\), got {"name":"lamb"}/,
  );
  await rejects(
    () => parseTrainConfig(['--class-weights', '1,x']),
    /--class-weights must be comma-separated numbers, got '1,x'/,
  );
  await rejects(() => parseTrainConfig(['--micro-batches', '0']), /--micro-batches must be at least 1/);
  // Names complete into schedules over the run.
  assert.equal(scheduleForRun('cosine', 10, 30), { name: 'cosine', totalSteps: 300 });
  assert.equal(scheduleForRun('step', 9, 30), { name: 'step', everyEpochs: 3, gamma: 0.1 });
  assert.equal(scheduleForRun({ name: 'poly', totalSteps: 50, power: 2 }, 10, 30), {
    name: 'poly',
    totalSteps: 50,
    power: 2,
  });
});

test('bad config values and files are named', async () => {
  const write = (name: string, text: string): string => {
    const path = join(scratch, name);
    writeFileSync(path, text);
    return path;
  };
  await rejects(
    () => parseTrainConfig(['--config', write('a.yaml', 'batch-size: many\n')]),
    /--batch-size must be a non-negative integer, got "many"/,
  );
  await rejects(
    () => parseTrainConfig(['--config', write('b.yaml', 'learning_rate: 1\n')]),
    /unknown option 'learning_rate'/,
  );
  await rejects(
    () => parseTrainConfig(['--config', write('c.yaml', 'arch: segformer\n')]),
    /--arch must be one of unet, pix2pix, deeplabv3plus/,
  );
  await rejects(() => parseTrainConfig(['--epochs', 'x']), /--epochs must be a number, got 'x'/);
  // Configs are data: tags that would construct code are errors, not functions.
  const tagged = write('d.yaml', 'arch: !!js/function "function () { process.exit(9) }"\n');
  const error = await loadConfig(tagged).catch((e: Error) => e);
  assert.instance(error, Error);
  assert.match(String(error), /d\.yaml/);
  await rejects(() => loadConfig(write('e.json', '[1, 2]')), /e\.json: config must be a mapping/);
  await rejects(() => loadConfig(join(scratch, 'missing.yaml')), /missing\.yaml: cannot read config/);
});

test('usage errors exit 2 with one line; a missing run folder names run.json and exits 1', async () => {
  const usage = await cli('train', '--arch', 'segformer');
  assert.is(usage.code, 2);
  assert.match(usage.stderr, /argument 'segformer' is invalid/);
  const half = await cli('train', '--images', 'somewhere', '--backend', 'cpu');
  assert.is(half.code, 2);
  assert.match(half.stderr, /give both --images and --labels/);
  const missing = await cli(
    'predict',
    '--run',
    'no-such-run',
    '--images',
    '.',
    '--out',
    'x',
    '--backend',
    'cpu',
  );
  assert.is(missing.code, 1);
  assert.match(missing.stderr, /^error: no-such-run\/run\.json: not a segstream run folder/m);
  assert.not.match(missing.stderr, /at .*\.js:\d+/, 'no stack trace');
});

test('--classes takes a preset or a JSON file and names a bad field', async () => {
  assert.equal((await resolveClassMap('xbd')).names.length, 5);
  const path = join(scratch, 'classes.json');
  writeFileSync(
    path,
    JSON.stringify({
      names: ['background', 'building'],
      labels: { building: 1, shed: 1, 'un-classified': 'ignore' },
    }),
  );
  const map = await resolveClassMap(path);
  assert.equal(
    [...map.ids],
    [
      ['building', 1],
      ['shed', 1],
      ['un-classified', 255],
    ],
  );
  writeFileSync(path, JSON.stringify({ names: ['background', 'building'], labels: { roof: 7 } }));
  await rejects(
    () => resolveClassMap(path),
    /"labels"\."roof" must be a class id in \[0, 1\] or "ignore", got 7/,
  );
  writeFileSync(
    path,
    JSON.stringify({
      names: ['background', 'building'],
      ignoreColors: [[0, 0, 0]],
      colors: [
        [255, 255, 255],
        [255, 0, 0],
      ],
    }),
  );
  const ignoring = await resolveClassMap(path);
  assert.equal(ignoring.ignoreColors, [[0, 0, 0]]);
  // A run's class map keeps them, so that eval and predict read colour masks as training did.
  assert.equal(
    manifestClassMap(JSON.parse(JSON.stringify({ classes: manifestClasses(ignoring) })) as RunManifest),
    ignoring,
  );
  writeFileSync(path, JSON.stringify({ names: ['background', 'building'], ignoreColors: [[0, 0, 300]] }));
  await rejects(
    () => resolveClassMap(path),
    /"ignoreColors" must be a list of \[r, g, b\] colours \(0-255\), got \[\[0,0,300\]\]/,
  );
  // The class property and default class of footprints too, so that eval and predict read GeoJSON as training did.
  writeFileSync(
    path,
    JSON.stringify({
      names: ['background', 'building'],
      labels: { yes: 1, house: 1 },
      classProperty: 'building',
      defaultClass: 'yes',
    }),
  );
  const footprints = await resolveClassMap(path);
  assert.is(footprints.classProperty, 'building');
  assert.is(footprints.defaultClass, 'yes');
  assert.equal(
    manifestClassMap(JSON.parse(JSON.stringify({ classes: manifestClasses(footprints) })) as RunManifest),
    footprints,
  );
  writeFileSync(path, JSON.stringify({ names: ['background', 'building'], classProperty: '' }));
  await rejects(
    () => resolveClassMap(path),
    /"classProperty" must name the feature property that holds the class, got ""/,
  );
});

test('eval report: per-class accuracy, macro and mean IoU from a hand-counted matrix; CSV and heat map', async () => {
  // 3 classes; rows true, columns predicted.
  const counts = [
    [50, 5, 5],
    [10, 20, 0],
    [0, 0, 10],
  ];
  const matrix = new ConfusionMatrix(3);
  const labels: number[] = [];
  const predictions: number[] = [];
  counts.forEach((row, t) =>
    row.forEach((n, p) => {
      for (let i = 0; i < n; i++) {
        labels.push(t);
        predictions.push(p);
      }
    }),
  );
  matrix.add(labels, predictions);
  const report = evaluationReport(matrix, ['ground', 'roof', 'water'], 2);
  // roof: TP 20, FN 10, FP 5, TN 100 - 35 = 65 -> accuracy 85/100, IoU 20/35, precision 20/25, recall 20/30.
  const roof = report.per_class[1]!;
  assert.ok(Math.abs(roof.accuracy - 0.85) < 1e-12);
  assert.ok(Math.abs(roof.iou - 20 / 35) < 1e-12);
  assert.ok(Math.abs(roof.precision - 0.8) < 1e-12);
  assert.ok(Math.abs(report.overall.accuracy - 0.8) < 1e-12);
  assert.ok(Math.abs(report.overall.mean_iou - (50 / 70 + 20 / 35 + 10 / 15) / 3) < 1e-12);
  assert.equal(report.confusion_matrix, counts);
  assert.match(evaluationTable(report), /^roof\s+0\.8000\s+0\.6667\s+0\.7273\s+0\.5714\s+0\.8500\s+30$/m);
  assert.is(
    confusionCsv(report),
    'true\\predicted,ground,roof,water\nground,50,5,5\nroof,10,20,0\nwater,0,0,10\n',
  );
  const { data, info } = await sharp(await confusionHeatmapPng(report, 4))
    .raw()
    .toBuffer({ resolveWithObject: true });
  assert.equal([info.width, info.height], [12, 12]);
  // Row-normalised: water->water is 1 (darkest), water->ground 0 (white).
  assert.equal([...data.subarray((9 * 12 + 9) * 3, (9 * 12 + 9) * 3 + 3)], [30, 80, 175]);
  assert.equal([...data.subarray((9 * 12 + 0) * 3, (9 * 12 + 0) * 3 + 3)], [255, 255, 255]);
});

test('compare puts evaluated runs side by side as Markdown and JSON', async () => {
  const makeRun = async (name: string, arch: string, f1: number, iou: number): Promise<string> => {
    const dir = join(scratch, name);
    mkdirSync(dir, { recursive: true });
    await writeRunManifest(dir, {
      arch,
      classes: {
        names: ['a', 'b'],
        colors: [
          [0, 0, 0],
          [1, 1, 1],
        ],
        ignoreValue: 255,
        ids: {},
      },
      tileSize: 64,
      options: {},
      backend: 'cpu',
      startedAt: '',
    });
    writeFileSync(
      join(dir, 'eval.json'),
      JSON.stringify({ overall: { f1, recall: 0.5, precision: 0.25, accuracy: 0.9, mean_iou: iou, iou } }),
    );
    return dir;
  };
  const a = await makeRun('unet-run', 'unet', 0.75, 0.6);
  const b = await makeRun('deeplab-run', 'deeplabv3plus', 0.8, 0.65);
  const json = join(scratch, 'compare.json');
  const { code, stdout } = await cli('compare', a, b, '--json', json);
  assert.is(code, 0);
  assert.match(stdout, /^\| run \| architecture \| F1 \| recall \| precision \| accuracy \| mean IoU \|$/m);
  assert.match(stdout, /^\| unet-run \| unet \| 0\.7500 \| 0\.5000 \| 0\.2500 \| 0\.9000 \| 0\.6000 \|$/m);
  assert.match(stdout, /^\| deeplab-run \| deeplabv3plus \| 0\.8000 \|/m);
  assert.equal(
    JSON.parse(readFileSync(json, 'utf8')).map((r: { arch: string }) => r.arch),
    ['unet', 'deeplabv3plus'],
  );
  const notEvaluated = join(scratch, 'fresh');
  await writeRunManifest(notEvaluated, {
    arch: 'unet',
    classes: { names: [], colors: [], ignoreValue: 255, ids: {} },
    tileSize: 64,
    options: {},
    backend: 'cpu',
    startedAt: '',
  });
  const failed = await cli('compare', a, notEvaluated);
  assert.is(failed.code, 1);
  assert.match(failed.stderr, /fresh\/eval\.json: run not evaluated yet/);
});

test.after(() => rmSync(scratch, { recursive: true, force: true }));
test.run();
