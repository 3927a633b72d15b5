import { copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { InputError, SkipReport } from '../src/errors.js';
import { prepareTrainingRun } from '../src/pipelines/trainPipeline.js';
import { writeXbdPairs } from './helpers/data.js';
import { smallestUNetRun } from './helpers/runs.js';

const GOOD_PAIRS = 20;
const SIZE = 512;
const TILE = 128;
const BATCH = 16;

test('a folder with corrupt files trains on the good pairs under the skip policy and reports exactly the corrupt files', async () => {
  await selectBackend({ backend: 'wasm' });
  const root = await mkdtemp(join(tmpdir(), 'segstream-corrupt-folder-'));
  try {
    const written = await writeXbdPairs(root, GOOD_PAIRS + 2, { size: SIZE });
    // The last two pairs lend their files to corrupt pairs below; the others are the good ones.
    const good = written.slice(0, GOOD_PAIRS);
    const [spareImage, otherSpareImage] = written.slice(GOOD_PAIRS) as [string, string];
    const pngImage = good.find((name) => name.endsWith('.png'))!;
    const image = (name: string) => join(root, 'images', name);
    const label = (name: string) => join(root, 'labels', name);
    const labelOf = (imageName: string) => label(imageName.replace(/\.(png|jpg)$/, '.json'));

    // Each corrupt pair is bad in one way only; its other file is good.
    const pngBytes = await readFile(image(pngImage));
    await writeFile(image('corrupt-truncated.png'), pngBytes.subarray(0, pngBytes.length / 2));
    await copyFile(labelOf(pngImage), label('corrupt-truncated.json'));
    await writeFile(image('corrupt-not-an-image.png'), 'this is a text file with a .png name\n');
    await copyFile(labelOf(pngImage), label('corrupt-not-an-image.json'));
    await rename(image(spareImage), image(`corrupt-broken-json${spareImage.slice(-4)}`));
    const labelText = await readFile(labelOf(spareImage), 'utf8');
    await writeFile(label('corrupt-broken-json.json'), labelText.slice(0, labelText.length / 2));
    // A good label with a smaller image: the polygons are fine, the pairing is not.
    await sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 90, g: 90, b: 90 } } })
      .png()
      .toFile(image('corrupt-wrong-size.png'));
    await rename(labelOf(spareImage), label('corrupt-wrong-size.json'));
    await rename(image(otherSpareImage), image(`corrupt-no-label${otherSpareImage.slice(-4)}`));
    await rm(labelOf(otherSpareImage));
    const expectedSkips = [
      { file: image('corrupt-truncated.png'), problem: /cannot decode image/ },
      { file: image('corrupt-not-an-image.png'), problem: /cannot read image header/ },
      { file: label('corrupt-broken-json.json'), problem: /malformed JSON/ },
      {
        file: label('corrupt-wrong-size.json'),
        problem: new RegExp(`label is for a ${SIZE}x${SIZE} image but the image is 256x256`),
      },
      { file: image(`corrupt-no-label${otherSpareImage.slice(-4)}`), problem: /no label file/ },
    ].sort((a, b) => a.file.localeCompare(b.file));

    // The good tiles, from the good images' own sizes.
    let goodTiles = 0;
    for (const name of good) {
      const { width, height } = await sharp(image(name)).metadata();
      goodTiles += Math.ceil(width! / TILE) * Math.ceil(height! / TILE);
    }

    const skipReport = new SkipReport();
    const started = performance.now();
    // The smallest UNet: what is tested is which tiles reach it, not what it learns.
    // Two epochs: a file skipped in both is reported once, naming both.
    const run = await prepareTrainingRun({
      ...smallestUNetRun(root, TILE, BATCH),
      epochs: 2,
      onBadInput: 'skip',
      skipReport,
    });
    const events = await lastValueFrom(run.events$.pipe(toArray()));
    const steps = events.filter((event) => event.type === 'batch').length;
    console.log(
      `  ${GOOD_PAIRS} good pairs (${goodTiles} tiles), ${expectedSkips.length} corrupt: ${steps} steps in ${((performance.now() - started) / 1000).toFixed(1)} s\n${skipReport.toString().replace(/^/gm, '  ')}`,
    );

    assert.is(events.filter((event) => event.type === 'epoch').length, 2, 'the run finished its epochs');
    assert.not.ok(events.some((event) => event.type === 'stopped'));
    assert.is(steps, 2 * Math.ceil(goodTiles / BATCH), 'one optimizer step per batch of good tiles');
    const skipped = [...skipReport.items].sort((a, b) => a.file.localeCompare(b.file));
    assert.equal(
      skipped.map((item) => item.file),
      expectedSkips.map((item) => item.file),
      'exactly the corrupt files are reported, each once',
    );
    skipped.forEach((item, i) =>
      assert.match(item.problem, expectedSkips[i]!.problem, `${item.file}: ${item.problem}`),
    );
    // Files the stream reads are skipped each epoch; an image without a label is left out once, before streaming.
    for (const item of skipped)
      assert.equal(item.epochs, /no label file/.test(item.problem) ? undefined : [0, 1], item.file);
    assert.match(skipReport.toString(), /corrupt-truncated\.png: cannot decode image.* \(epochs 1, 2\)$/m);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('the skip report names a file once, with each epoch and each distinct wording of its problem', () => {
  const report = new SkipReport();
  report.add(new InputError('a.png', 'cannot decode image: libpng read error'), 0);
  report.add(new InputError('b.json', 'malformed JSON'), 0);
  report.add(new InputError('a.png', 'cannot decode image: Unknown error'), 1);
  report.add(new InputError('a.png', 'cannot decode image: libpng read error'), 2);
  assert.equal(report.items, [
    {
      file: 'a.png',
      problem: 'cannot decode image: libpng read error; cannot decode image: Unknown error',
      epochs: [0, 1, 2],
    },
    { file: 'b.json', problem: 'malformed JSON', epochs: [0] },
  ]);
});

test.run();
