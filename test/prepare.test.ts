import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import sharp from 'sharp';
import { tileGrid, tilePositions } from '../src/operators/tile.js';
import { prepareMasks } from '../src/pipelines/prepare.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { xbdClassMap } from '../src/labels/classMap.js';
import { LABELME_DIR, PROJECT_ROOT, XBD_DIR } from './helpers/data.js';

const scratch = mkdtempSync(join(tmpdir(), 'segstream-prepare-'));

test('prepare writes one single-channel class-index PNG per xBD image and counts pixels per class and split', async () => {
  const outDir = join(scratch, 'xbd');
  const summary = await prepareMasks({ imagesDir: join(XBD_DIR, 'images'), labelsDir: join(XBD_DIR, 'labels'), outDir, classMap: xbdClassMap() });
  assert.is(summary.written, 87);
  assert.is(summary.skipped.count, 0);
  const files = readdirSync(join(outDir, 'masks')).sort();
  assert.is(files.length, 87);
  const fromDisk: Record<string, number> = {};
  for (const file of files) {
    const path = join(outDir, 'masks', file);
    const metadata = await sharp(path).metadata();
    assert.is(metadata.channels, 1);
    assert.is(metadata.width, 1024);
    const data = await sharp(path).extractChannel(0).raw().toBuffer();
    for (const v of data) fromDisk[v] = (fromDisk[v] ?? 0) + 1;
  }
  const names = [...xbdClassMap().names, 'ignore'];
  const valueOf = (name: string) => (name === 'ignore' ? 255 : names.indexOf(name));
  for (const name of names) {
    assert.is(summary.pixels.total[name], fromDisk[valueOf(name)] ?? 0, name);
    const bySplit = summary.pixels.train[name]! + summary.pixels.validation[name]! + summary.pixels.test[name]!;
    assert.is(bySplit, summary.pixels.total[name], `${name} splits add up`);
  }
  assert.ok(summary.pixels.validation.background! > 0 && summary.pixels.test.background! > 0, 'every split has images');
  const stem = files[0]!.replace(/\.png$/, '');
  const direct = await readLabelMask({ id: stem, imagePath: '', labelPath: join(XBD_DIR, 'labels', `${stem}.json`) }, { width: 1024, height: 1024 }, xbdClassMap());
  const written = await sharp(join(outDir, 'masks', files[0]!)).extractChannel(0).raw().toBuffer();
  assert.equal(new Uint8Array(written), direct.data);
});

test('npx stream-train prepare on LabelMe files with class_names.txt prints the per-class table', () => {
  const outDir = join(scratch, 'labelme');
  const output = execFileSync(process.execPath, [
    join(PROJECT_ROOT, 'bin', 'stream-train'), 'prepare',
    '--images', join(LABELME_DIR, 'images'), '--labels', join(LABELME_DIR, 'labels'),
    '--classes', join(LABELME_DIR, 'class_names.txt'), '--out', outDir, '--previews',
  ], { encoding: 'utf8' });
  assert.match(output, 'wrote 3 masks');
  assert.match(output, /person\s+\d+/);
  assert.match(output, /ignore\s+\d+/);
  assert.is(readdirSync(join(outDir, 'previews')).length, 3);
});

test('prepare --tiles png,npy writes every tile of every split, each the crop of its image and mask', async () => {
  const outDir = join(scratch, 'labelme-tiles');
  const output = execFileSync(process.execPath, [
    join(PROJECT_ROOT, 'bin', 'stream-train'), 'prepare',
    '--images', join(LABELME_DIR, 'images'), '--labels', join(LABELME_DIR, 'labels'),
    '--classes', join(LABELME_DIR, 'class_names.txt'), '--out', outDir,
    '--tiles', 'png,npy', '--tile-size', '128', '--stride', '96', '--edge', 'shift',
  ], { encoding: 'utf8' });
  const grid = tileGrid({ size: 128, stride: 96, edge: 'shift' });
  let expected = 0;
  for (const file of readdirSync(join(LABELME_DIR, 'images'))) {
    const { width, height } = await sharp(join(LABELME_DIR, 'images', file)).metadata();
    expected += tilePositions(width!, height!, grid).length;
  }
  assert.match(output, `${expected} tiles`);
  const written = ['train', 'validation', 'test'].flatMap((split) => {
    const dir = join(outDir, 'tiles', split, 'images');
    return existsSync(dir) ? readdirSync(dir).map((file) => ({ split, file })) : [];
  });
  assert.is(written.length, expected);
  // One tile checked pixel for pixel against its source image and mask at the origin in its name.
  const { split, file } = written[written.length - 1]!;
  const [, stem, x, y] = /^(.*)_x(\d+)_y(\d+)\.png$/.exec(file)!;
  const crop = { left: Number(x), top: Number(y), width: 128, height: 128 };
  const sourceImage = readdirSync(join(LABELME_DIR, 'images')).find((f) => f.startsWith(`${stem}.`))!;
  const expectedImage = await sharp(join(LABELME_DIR, 'images', sourceImage)).removeAlpha().extract(crop).raw().toBuffer();
  assert.equal(await sharp(join(outDir, 'tiles', split, 'images', file)).removeAlpha().raw().toBuffer(), expectedImage);
  const expectedMask = await sharp(join(outDir, 'masks', `${stem}.png`)).extractChannel(0).extract(crop).raw().toBuffer();
  assert.equal(await sharp(join(outDir, 'tiles', split, 'masks', file)).extractChannel(0).raw().toBuffer(), expectedMask);
  const npyMask = readFileSync(join(outDir, 'tiles', split, 'npy', file.replace(/\.png$/, '_mask.npy')));
  assert.match(npyMask.toString('latin1', 0, 128), "'shape': (128, 128)");
  assert.equal(npyMask.subarray(npyMask.length - 128 * 128), expectedMask);
});

test('with the skip policy, bad files are reported by name and reason and the rest is written', async () => {
  const images = join(scratch, 'bad', 'images');
  const labels = join(scratch, 'bad', 'labels');
  mkdirSync(images, { recursive: true });
  mkdirSync(labels, { recursive: true });
  const stems = readdirSync(join(XBD_DIR, 'labels')).slice(0, 4).map((f) => f.replace(/\.json$/, ''));
  for (const stem of stems) {
    const image = readdirSync(join(XBD_DIR, 'images')).find((f) => f.startsWith(`${stem}.`))!;
    copyFileSync(join(XBD_DIR, 'images', image), join(images, image));
    copyFileSync(join(XBD_DIR, 'labels', `${stem}.json`), join(labels, `${stem}.json`));
  }
  writeFileSync(join(labels, `${stems[0]}.json`), '{"features": {"xy": [');
  const corrupt = readdirSync(images).find((f) => f.startsWith(`${stems[1]}.`))!;
  writeFileSync(join(images, corrupt), Buffer.from('not an image at all'));
  const options = { imagesDir: images, labelsDir: labels, outDir: join(scratch, 'bad', 'out'), classMap: xbdClassMap() };
  try {
    await prepareMasks(options);
    assert.unreachable('the default policy stops at the first bad file');
  } catch (error) {
    assert.match(String(error), /(malformed JSON|cannot decode|unsupported image)/i);
  }
  const summary = await prepareMasks({ ...options, onBadInput: 'skip' });
  assert.is(summary.written, 2);
  assert.is(summary.skipped.count, 2);
  const files = summary.skipped.items.map((item) => item.file).sort();
  assert.equal(files, [join(images, corrupt), join(labels, `${stems[0]}.json`)].sort());
  assert.match(summary.skipped.toString(), 'malformed JSON');
});

test.run();
