import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pairFiles } from '../src/sources/pairFiles.js';
import { splitBySource } from '../src/sources/splitBySource.js';
import { syntheticXbd } from './helpers/data.js';

// Small images: pairing looks at file names only.
const PAIRS = 30;
const xbd = await syntheticXbd(PAIRS, { size: 32 });

test('xBD: every image, PNG or JPEG, pairs with its JSON by stem, nothing unpaired', async () => {
  const result = await pairFiles({ imagesDir: xbd.imagesDir, labelsDir: xbd.labelsDir });
  const labelStems = readdirSync(xbd.labelsDir)
    .map((name) => name.replace(/\.json$/, ''))
    .sort();
  assert.equal(
    result.pairs.map((p) => p.id),
    labelStems,
  );
  assert.is(result.pairs.length, PAIRS);
  assert.equal(result.imagesWithoutLabels, []);
  assert.equal(result.labelsWithoutImages, []);
  assert.equal(new Set(result.pairs.map((p) => p.imagePath.slice(-4))), new Set(['.png', '.jpg']));
  for (const pair of result.pairs) {
    assert.ok(pair.imagePath.includes(`/images/${pair.id}.`));
    assert.ok(pair.labelPath.endsWith(`/labels/${pair.id}.json`));
  }
});

test('COCO as crowdAI writes it: a multi-image label file pairs with each image it names (prefix from the file name)', async () => {
  // crowdAI's files: `train_annotation.json` names `000001.jpg` for the image file `train_000001.jpg`.
  const root = mkdtempSync(join(tmpdir(), 'segstream-pair-coco-'));
  mkdirSync(join(root, 'images'));
  mkdirSync(join(root, 'labels'));
  for (const split of ['train', 'val']) {
    const names = [1, 2, 3].map((n) => `${String(n).padStart(6, '0')}.jpg`);
    for (const name of names) writeFileSync(join(root, 'images', `${split}_${name}`), 'x');
    writeFileSync(
      join(root, 'labels', `${split}_annotation.json`),
      JSON.stringify({ images: names.map((file_name, id) => ({ id, file_name })) }),
    );
  }
  const keysRead: string[] = [];
  const result = await pairFiles({
    imagesDir: join(root, 'images'),
    labelsDir: join(root, 'labels'),
    multiImageLabelKeys: async (labelPath) => {
      keysRead.push(labelPath);
      const coco = JSON.parse(readFileSync(labelPath, 'utf8')) as { images: Array<{ file_name: string }> };
      return coco.images.map((image) => image.file_name);
    },
  });
  assert.is(keysRead.length, 2);
  assert.is(result.pairs.length, 6);
  assert.equal(result.imagesWithoutLabels, []);
  assert.equal(result.labelsWithoutImages, []);
  for (const pair of result.pairs) {
    const split = pair.id.split('_')[0]!;
    assert.ok(
      pair.labelPath.endsWith(`${split}_annotation.json`),
      `${pair.id} paired with ${pair.labelPath}`,
    );
    assert.is(`${split}_${pair.labelKey}`, `${pair.id}.jpg`);
  }
});

test('unpaired images and labels are reported, all image and label extensions pair', async () => {
  const root = mkdtempSync(join(tmpdir(), 'segstream-pair-'));
  mkdirSync(join(root, 'images', 'nested'), { recursive: true });
  mkdirSync(join(root, 'labels'));
  for (const name of [
    'a.png',
    'b.JPG',
    'c.jpeg',
    'nested/d.tif',
    'e.tiff',
    'f.tif',
    'lonely.png',
    'notes.txt',
  ])
    writeFileSync(join(root, 'images', name), 'x');
  for (const name of ['a.json', 'b.json', 'c.json', 'd.json', 'e.png', 'f.geojson', 'orphan.json'])
    writeFileSync(join(root, 'labels', name), 'x');
  const result = await pairFiles({ imagesDir: join(root, 'images'), labelsDir: join(root, 'labels') });
  assert.equal(
    result.pairs.map((p) => p.id),
    ['a', 'b', 'c', 'd', 'e', 'f'],
  );
  assert.ok(
    result.pairs.find((p) => p.id === 'f')!.labelPath.endsWith('f.geojson'),
    'GeoJSON labels may end .geojson',
  );
  assert.equal(result.imagesWithoutLabels, [join(root, 'images', 'lonely.png')]);
  assert.equal(result.labelsWithoutImages, [join(root, 'labels', 'orphan.json')]);
  const masksOnly = await pairFiles({
    imagesDir: join(root, 'images'),
    labelsDir: join(root, 'labels'),
    labelExtensions: ['png'],
  });
  assert.equal(
    masksOnly.pairs.map((p) => p.id),
    ['e'],
    'a single label extension pairs too',
  );
});

test('two images with one stem are refused, naming both', async () => {
  const root = mkdtempSync(join(tmpdir(), 'segstream-pair-dup-'));
  mkdirSync(join(root, 'images'));
  mkdirSync(join(root, 'labels'));
  writeFileSync(join(root, 'images', 'a.png'), 'x');
  writeFileSync(join(root, 'images', 'a.jpg'), 'x');
  writeFileSync(join(root, 'labels', 'a.json'), 'x');
  try {
    await pairFiles({ imagesDir: join(root, 'images'), labelsDir: join(root, 'labels') });
    assert.unreachable();
  } catch (error) {
    assert.match(String(error), 'a.png');
    assert.match(String(error), 'a.jpg');
  }
});

test('splitBySource: disjoint, complete, seeded, ratios respected, independent of input order', async () => {
  const { pairs } = await pairFiles({ imagesDir: xbd.imagesDir, labelsDir: xbd.labelsDir });
  const split = splitBySource(pairs, { ratios: [0.7, 0.2, 0.1], seed: 3 });
  const ids = (list: typeof pairs): string[] => list.map((p) => p.id);
  const all = [...ids(split.train), ...ids(split.validation), ...ids(split.test)];
  assert.is(new Set(all).size, PAIRS);
  assert.equal(all.slice().sort(), ids(pairs));
  assert.is(split.train.length, Math.round(PAIRS * 0.7));
  assert.is(split.validation.length, Math.round(PAIRS * 0.2));
  assert.equal(splitBySource([...pairs].reverse(), { ratios: [0.7, 0.2, 0.1], seed: 3 }), split);
  const other = splitBySource(pairs, { ratios: [0.7, 0.2, 0.1], seed: 4 });
  assert.not.equal(ids(other.train), ids(split.train));
  try {
    splitBySource(pairs, { ratios: [0.5, 0.2, 0.2] });
    assert.unreachable();
  } catch (error) {
    assert.match(String(error), 'ratios');
  }
});

test.run();
