import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { xbdClassMap } from '../src/labels/classMap.js';
import { ConfusionMatrix } from '../src/metrics/confusionMatrix.js';
import { evaluationReport } from '../src/pipelines/evaluate.js';
import {
  defaultResultRecords,
  readResult,
  readRunResult,
  replaceResultsSection,
  resultRecordJson,
  resultsMarkdown,
} from '../src/runs/results.js';
import { writeRunManifest } from '../src/runs/runDirectory.js';
import { PROJECT_ROOT } from './helpers/data.js';

const scratch = mkdtempSync(join(tmpdir(), 'segstream-results-'));

/** A run folder as train and eval leave it: run.json, eval.json and a metrics log of `steps` steps. */
async function savedRun(
  name: string,
  arch: string,
  steps: number,
  imagesPerSecond: number,
  stepsPerEpoch: number,
): Promise<string> {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  const names = xbdClassMap().names;
  await writeRunManifest(dir, {
    arch,
    classes: { names, colors: xbdClassMap().colors, ignoreValue: 255, ids: {} },
    tileSize: 256,
    options: { batchSize: 8, tileSize: 256, loss: 'focalTversky', baseFilters: 8, backbone: '50', seed: 1 },
    backend: 'wasm',
    startedAt: '2026-11-29T00:00:00Z',
  });
  const matrix = new ConfusionMatrix(names.length, 255);
  matrix.add(new Uint8Array([0, 0, 1, 1, 2, 3, 4, 0]), new Uint8Array([0, 1, 1, 1, 2, 0, 4, 0]));
  writeFileSync(join(dir, 'eval.json'), JSON.stringify(evaluationReport(matrix, names, 2)));
  const events = Array.from({ length: steps }, (_, i) => ({
    type: 'batch',
    epoch: Math.floor(i / stepsPerEpoch),
    globalStep: i + 1,
    imagesPerSecond,
  }));
  const epochs = Array.from({ length: Math.floor(steps / stepsPerEpoch) }, (_, epoch) => ({
    type: 'epoch',
    epoch,
  }));
  writeFileSync(
    join(dir, 'metrics.ndjson'),
    [...events, ...epochs].map((e) => JSON.stringify(e)).join('\n') + '\n',
  );
  return dir;
}

test('results: the original table with its figures beside, per-class IoU/F1, and steps, epochs and time from the log', async () => {
  const unet = await readRunResult(await savedRun('xbd-unet', 'unet', 25, 2, 10));
  assert.equal([unet.steps, unet.epochs], [25, 2]);
  assert.ok(
    Math.abs(unet.trainingSeconds - (25 * 8) / 2) < 1e-9,
    `8 images a step at 2 images/s: ${unet.trainingSeconds}`,
  );
  const deeplab = await readRunResult(await savedRun('xbd-deeplab', 'deeplabv3plus', 4, 1, 10));
  const markdown = resultsMarkdown([unet, deeplab]);
  const o = unet.report.overall;
  assert.match(
    markdown,
    `| unet | xbd-unet | ${o.f1.toFixed(4)} | ${o.recall.toFixed(4)} | ${o.precision.toFixed(4)} | ${o.accuracy.toFixed(4)} | ${o.mean_iou.toFixed(4)} |`,
  );
  assert.match(
    markdown,
    '| unet | original (30 epochs, batch 64, focal Tversky loss) | 0.6403 | 0.5968 | 0.6933 | - | 0.4656 | - |',
  );
  assert.match(
    markdown,
    '| deeplabv3plus | original (ResNet-50 ImageNet, 25 epochs) | 0.4115 | 0.9569 | 0.2791 |',
  );
  assert.match(
    markdown,
    `| xbd-unet | ${unet.report.per_class.map((c) => `${Number.isFinite(c.iou) ? c.iou.toFixed(4) : '-'} / ${Number.isFinite(c.f1) ? c.f1.toFixed(4) : '-'}`).join(' | ')} |`,
  );
  assert.match(
    markdown,
    /\| xbd-unet \| 2 \| 2 \| 25 \| 2 min \| wasm \| tileSize 256, batchSize 8, loss focalTversky, seed 1, baseFilters 8 \|/,
  );
  assert.match(markdown, /\| xbd-deeplab \| 2 \| 0 \| 4 \| 1 min \| wasm \| .*backbone 50/);
  assert.not.match(markdown, /xbd-unet[^\n]*backbone/, 'DeepLab settings only on DeepLab runs');
  // Two runs of one architecture share one row of the original's figures, after both.
  const wider = await readRunResult(await savedRun('xbd-unet16', 'unet', 6, 3, 10));
  const rows = resultsMarkdown([unet, wider, deeplab])
    .split('\n')
    .map((line) => line.split(' | ')[1]);
  assert.equal(rows.slice(2, 6), [
    'xbd-unet',
    'xbd-unet16',
    'original (30 epochs, batch 64, focal Tversky loss)',
    'xbd-deeplab',
  ]);
  // The checkpoint an evaluation names (eval --checkpoint best) is in its run's settings.
  const best = {
    ...wider,
    report: { ...wider.report, checkpoint: join(scratch, 'xbd-unet16', 'checkpoints', 'step-000000004') },
  };
  assert.match(
    resultsMarkdown([best]),
    /\| xbd-unet16 \|[^\n]*baseFilters 8, evaluated checkpoint step-000000004 \|/,
  );
  // Class weights, when a run trained with them, are among its settings, after the loss.
  const weighted = { ...wider, options: { ...wider.options, classWeights: [1, 1, 4, 4, 1] } };
  assert.match(
    resultsMarkdown([weighted]),
    /\| xbd-unet16 \|[^\n]*loss focalTversky, classWeights \[1,1,4,4,1\], seed 1/,
  );
});

test('a result record (what docs/results holds) gives the same tables as its run folder; a broken record is named', async () => {
  const fromRun = await readResult(await savedRun('xbd-pix2pix', 'pix2pix', 12, 3, 5));
  const recordPath = join(scratch, 'xbd-pix2pix.json');
  writeFileSync(recordPath, resultRecordJson(fromRun));
  assert.is(resultsMarkdown([await readResult(recordPath)]), resultsMarkdown([fromRun]));
  writeFileSync(join(scratch, 'broken.json'), '{"arch": 3}');
  try {
    await readResult(join(scratch, 'broken.json'));
    assert.unreachable('should throw');
  } catch (error) {
    assert.match(String(error), 'broken.json');
    assert.match(String(error), 'not a result record');
  }
});

test('docs/RESULTS.md holds exactly the tables that the records in docs/results give (what npm run results writes)', async () => {
  const table = resultsMarkdown(await Promise.all(defaultResultRecords(PROJECT_ROOT).map(readResult)));
  const page = readFileSync(join(PROJECT_ROOT, 'docs', 'RESULTS.md'), 'utf8');
  assert.ok(
    page.includes(`<!-- results:begin -->\n${table}<!-- results:end -->`),
    'tables and records agree',
  );
});

test('the tables replace exactly the marked section; a document without it and an unevaluated run are named', async () => {
  const document = 'intro\n<!-- results:begin -->\nold table\n<!-- results:end -->\noutro\n';
  assert.is(
    replaceResultsSection(document, 'new table\n'),
    'intro\n<!-- results:begin -->\nnew table\n<!-- results:end -->\noutro\n',
  );
  assert.throws(
    () => replaceResultsSection('no markers', 'x', 'docs/RESULTS.md'),
    /docs\/RESULTS\.md.*results:begin/,
  );
  const dir = join(scratch, 'unevaluated');
  mkdirSync(dir);
  writeFileSync(join(dir, 'run.json'), '{}');
  try {
    await readRunResult(dir);
    assert.unreachable('should throw');
  } catch (error) {
    assert.match(String(error), 'eval.json');
    assert.match(String(error), 'eval --run');
  }
});

test.run();
