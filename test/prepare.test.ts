import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { xbdClassMap } from '../src/labels/classMap.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { prepareMasks } from '../src/pipelines/prepare.js';
import { tileGrid, tilePositions } from '../src/tiling/tileGrid.js';
import { PROJECT_ROOT, syntheticXbd, writeXbdPairs, type XbdLabel } from './helpers/data.js';

const scratch = mkdtempSync(join(tmpdir(), 'segstream-prepare-'));

/** LabelMe's class_names.txt for the xBD damage classes: `__ignore__` first, `_background_` as class 0. */
const LABELME_CLASS_NAMES = [
  '__ignore__',
  '_background_',
  'no-damage',
  'minor-damage',
  'major-damage',
  'destroyed',
];

/**
 * Synthetic pairs as LabelMe writes them, in `root/images` and `root/labels`, with `root/class_names.txt`:
 * the xBD pairs' buildings as polygon shapes, un-classified ones as `__ignore__`.
 */
async function writeLabelMePairs(root: string, count: number, size: number): Promise<void> {
  const images = await writeXbdPairs(root, count, { size, unclassifiedEvery: 4 });
  for (const image of images) {
    const labelPath = join(root, 'labels', image.replace(/\.(png|jpg)$/, '.json'));
    const label = JSON.parse(await readFile(labelPath, 'utf8')) as XbdLabel;
    const shapes = label.features.xy.map(({ wkt, properties }) => ({
      label: properties.subtype === 'un-classified' ? '__ignore__' : properties.subtype,
      // LabelMe's polygons are closed implicitly: the WKT ring's repeated first vertex is left out.
      points: [...wkt.matchAll(/(-?[\d.]+) (-?[\d.]+)/g)]
        .slice(0, -1)
        .map((m) => [Number(m[1]), Number(m[2])]),
      group_id: null,
      shape_type: 'polygon',
      flags: {},
    }));
    await writeFile(
      labelPath,
      JSON.stringify({
        version: '5.4.1',
        flags: {},
        shapes,
        imagePath: `../images/${image}`,
        imageData: null,
        imageHeight: size,
        imageWidth: size,
      }),
    );
  }
  await writeFile(join(root, 'class_names.txt'), `${LABELME_CLASS_NAMES.join('\n')}\n`);
}

const XBD_IMAGES = 10;
const XBD_SIZE = 256;
const xbd = await syntheticXbd(XBD_IMAGES, { size: XBD_SIZE, unclassifiedEvery: 4 });
// Three LabelMe images that 128-pixel tiles at a 96-pixel stride do not divide.
const labelMe = join(scratch, 'labelme-source');
await writeLabelMePairs(labelMe, 3, 300);

test('prepare writes one single-channel class-index PNG per xBD image and counts pixels per class and split', async () => {
  const outDir = join(scratch, 'xbd');
  const summary = await prepareMasks({
    imagesDir: xbd.imagesDir,
    labelsDir: xbd.labelsDir,
    outDir,
    classMap: xbdClassMap(),
  });
  assert.is(summary.written, XBD_IMAGES);
  assert.is(summary.skipped.count, 0);
  const files = readdirSync(join(outDir, 'masks')).sort();
  assert.is(files.length, XBD_IMAGES);
  const fromDisk: Record<string, number> = {};
  for (const file of files) {
    const path = join(outDir, 'masks', file);
    const metadata = await sharp(path).metadata();
    assert.is(metadata.channels, 1);
    assert.is(metadata.width, XBD_SIZE);
    const data = await sharp(path).extractChannel(0).raw().toBuffer();
    for (const v of data) fromDisk[v] = (fromDisk[v] ?? 0) + 1;
  }
  const names = [...xbdClassMap().names, 'ignore'];
  const classValue = (name: string) => (name === 'ignore' ? 255 : names.indexOf(name));
  for (const name of names) {
    assert.is(summary.pixels.total[name], fromDisk[classValue(name)] ?? 0, name);
    const bySplit =
      summary.pixels.train[name]! + summary.pixels.validation[name]! + summary.pixels.test[name]!;
    assert.is(bySplit, summary.pixels.total[name], `${name} splits add up`);
  }
  assert.ok(
    summary.pixels.validation.background! > 0 && summary.pixels.test.background! > 0,
    'every split has images',
  );
  assert.ok(
    summary.pixels.total.ignore! > 0 && summary.pixels.total.destroyed! > 0,
    'ignored and destroyed pixels are counted',
  );
  const stem = files[0]!.replace(/\.png$/, '');
  const direct = await readLabelMask(
    { id: stem, imagePath: '', labelPath: join(xbd.labelsDir, `${stem}.json`) },
    { width: XBD_SIZE, height: XBD_SIZE },
    xbdClassMap(),
  );
  const written = await sharp(join(outDir, 'masks', files[0]!))
    .extractChannel(0)
    .raw()
    .toBuffer();
  assert.equal(new Uint8Array(written), direct.data);
});

/** `stream-train prepare` of the LabelMe set with its class_names.txt into `outDir`; returns what it printed. */
function prepareLabelMe(outDir: string, extraArgs: string[]): string {
  return execFileSync(
    process.execPath,
    [
      join(PROJECT_ROOT, 'bin', 'stream-train'),
      'prepare',
      '--images',
      join(labelMe, 'images'),
      '--labels',
      join(labelMe, 'labels'),
      '--classes',
      join(labelMe, 'class_names.txt'),
      '--out',
      outDir,
      ...extraArgs,
    ],
    { encoding: 'utf8' },
  );
}

test('npx stream-train prepare on LabelMe files with class_names.txt prints the per-class table', () => {
  const outDir = join(scratch, 'labelme');
  const output = prepareLabelMe(outDir, ['--previews']);
  assert.match(output, 'wrote 3 masks');
  assert.match(output, /destroyed\s+[1-9]\d*/);
  assert.match(output, /ignore\s+\d+/);
  assert.is(readdirSync(join(outDir, 'previews')).length, 3);
});

test('prepare --tiles png,npy writes every tile of every split, each the crop of its image and mask', async () => {
  const outDir = join(scratch, 'labelme-tiles');
  const output = prepareLabelMe(outDir, [
    '--tiles',
    'png,npy',
    '--tile-size',
    '128',
    '--stride',
    '96',
    '--edge',
    'shift',
  ]);
  const grid = tileGrid({ size: 128, stride: 96, edge: 'shift' });
  let expected = 0;
  for (const file of readdirSync(join(labelMe, 'images'))) {
    const { width, height } = await sharp(join(labelMe, 'images', file)).metadata();
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
  const sourceImage = readdirSync(join(labelMe, 'images')).find((f) => f.startsWith(`${stem}.`))!;
  const expectedImage = await sharp(join(labelMe, 'images', sourceImage))
    .removeAlpha()
    .extract(crop)
    .raw()
    .toBuffer();
  assert.equal(
    await sharp(join(outDir, 'tiles', split, 'images', file))
      .removeAlpha()
      .raw()
      .toBuffer(),
    expectedImage,
  );
  const expectedMask = await sharp(join(outDir, 'masks', `${stem}.png`))
    .extractChannel(0)
    .extract(crop)
    .raw()
    .toBuffer();
  assert.equal(
    await sharp(join(outDir, 'tiles', split, 'masks', file))
      .extractChannel(0)
      .raw()
      .toBuffer(),
    expectedMask,
  );
  const npyMask = readFileSync(join(outDir, 'tiles', split, 'npy', file.replace(/\.png$/, '_mask.npy')));
  assert.match(npyMask.toString('latin1', 0, 128), "'shape': (128, 128)");
  assert.equal(npyMask.subarray(npyMask.length - 128 * 128), expectedMask);
});

test('with the skip policy, bad files are reported by name and reason and the rest is written', async () => {
  const root = join(scratch, 'bad');
  await writeXbdPairs(root, 4, { size: 128 });
  const images = join(root, 'images');
  const labels = join(root, 'labels');
  const stems = readdirSync(labels).map((f) => f.replace(/\.json$/, ''));
  writeFileSync(join(labels, `${stems[0]}.json`), '{"features": {"xy": [');
  const corrupt = readdirSync(images).find((f) => f.startsWith(`${stems[1]}.`))!;
  writeFileSync(join(images, corrupt), Buffer.from('not an image at all'));
  const options = {
    imagesDir: images,
    labelsDir: labels,
    outDir: join(scratch, 'bad', 'out'),
    classMap: xbdClassMap(),
  };
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
