import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeArrayBuffer } from 'geotiff';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resumedRasterOptions } from '../src/cli/rasterOptions.js';
import { type BandRange, bandRanges, GeoTiffReader, sharedBandRanges } from '../src/io/geoTiff.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { prepareTrainingRun } from '../src/pipelines/trainPipeline.js';
import { PROJECT_ROOT } from './helpers/data.js';
import { buildingClasses, writeMultibandRasterSet } from './helpers/geoData.js';

const run = promisify(execFile);
const cli = join(PROJECT_ROOT, 'bin', 'stream-train');
const scratch = mkdtempSync(join(tmpdir(), 'segstream-band-ranges-'));

// One survey of two 4-band rasters whose samples lie far apart: 1000..4400 and 20000..23400.
const survey = await writeMultibandRasterSet(join(scratch, 'survey'), 1, { size: 64, offset: 1000 });
const bright = await writeMultibandRasterSet(join(scratch, 'bright'), 1, {
  size: 64,
  offset: 20_000,
  seed: 2,
});
copyFileSync(join(bright.imagesDir, 'scene-0.tif'), join(survey.imagesDir, 'scene-1.tif'));
copyFileSync(join(bright.labelsDir, 'scene-0.json'), join(survey.labelsDir, 'scene-1.json'));
const rasters = ['scene-0.tif', 'scene-1.tif'].map((name) => join(survey.imagesDir, name));

/** Each band's range by the documented rule, from all samples of all rasters at once (two plain passes). */
async function expectedRanges(paths: readonly string[]): Promise<BandRange[]> {
  const perBand: number[][] = [[], [], [], []];
  for (const path of paths) {
    const raster = await GeoTiffReader.open(path);
    const { width, height } = raster.info;
    const bands = await raster.readWindow({ x: 0, y: 0, width, height });
    bands.forEach((values, b) => perBand[b]!.push(...values));
    await raster.close();
  }
  return perBand.map((values) => {
    const mean = values.reduce((sum, v) => sum + v, 0) / values.length;
    const std = Math.sqrt(values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / values.length);
    return {
      low: Math.max(Math.min(...values), mean - 3 * std),
      high: Math.min(Math.max(...values), mean + 3 * std),
    };
  });
}

function assertRangesClose(actual: readonly BandRange[], expected: readonly BandRange[]): void {
  assert.is(actual.length, expected.length);
  actual.forEach(({ low, high }, b) => {
    assert.ok(Math.abs(low - expected[b]!.low) < 1e-6, `band ${b} low ${low} vs ${expected[b]!.low}`);
    assert.ok(Math.abs(high - expected[b]!.high) < 1e-6, `band ${b} high ${high} vs ${expected[b]!.high}`);
  });
}

test('sharedBandRanges gives two rasters of different value ranges one mapping, by the per-file rule over both', async () => {
  const shared = await sharedBandRanges(rasters);
  assert.ok(shared);
  assertRangesClose(shared, await expectedRanges(rasters));
  for (const path of rasters) {
    const raster = await GeoTiffReader.open(path);
    const own = await bandRanges(raster, [0, 1, 2, 3]);
    await raster.close();
    assert.not.equal(own, shared, `${path} alone maps its samples otherwise`);
  }
  assertRangesClose((await sharedBandRanges(rasters, [3, 0]))!, [
    (await expectedRanges(rasters))[3]!,
    (await expectedRanges(rasters))[0]!,
  ]);
});

test('sharedBandRanges leaves 8-bit rasters at 0..255 and skips an unreadable raster when told to', async () => {
  const broken = join(scratch, 'broken.tif');
  writeFileSync(broken, 'not a tiff');
  const skipped: unknown[] = [];
  const ranges = await sharedBandRanges([broken, ...rasters], undefined, (error) => skipped.push(error));
  assertRangesClose(ranges!, await expectedRanges(rasters));
  assert.is(skipped.length, 1);
  assert.match(String(skipped[0]), /broken\.tif/);
  const refused = await sharedBandRanges([broken, ...rasters]).catch((error: unknown) => error);
  assert.match(String(refused), /broken\.tif.*cannot read TIFF/);
  const eightBit = join(scratch, 'eight-bit.tif');
  const samples = Uint8Array.from({ length: 16 * 16 * 4 }, (_, i) => (i * 37) % 200);
  writeFileSync(
    eightBit,
    new Uint8Array(writeArrayBuffer(samples, { width: 16, height: 16, BitsPerSample: [8, 8, 8, 8] })),
  );
  assert.is(await sharedBandRanges([eightBit]), undefined, 'each maps 0..255, as alone');
  assert.ok(await sharedBandRanges([eightBit, ...rasters]), 'with 16-bit rasters, statistics over all');
});

test('a training run reads every raster with the ranges shared by its training rasters; given ranges win', async () => {
  const options = {
    arch: 'unet' as const,
    ...survey,
    classMap: buildingClasses(),
    readMask: readLabelMask,
    tileSize: 32,
    splitRatios: [1, 0, 0] as const,
    baseFilters: 1,
    depth: 1,
    samples: false,
  };
  const computed = await prepareTrainingRun(options);
  assertRangesClose(computed.raster!.ranges!, await expectedRanges(rasters));
  computed.model.dispose();
  const given = [{ low: 0, high: 30_000 }];
  const selected = await prepareTrainingRun({ ...options, raster: { bands: [3], ranges: given } });
  assert.equal(selected.raster, { bands: [3], ranges: given });
  selected.model.dispose();
});

test('train records the shared ranges in run.json; predict reads its rasters with them', async () => {
  const classes = join(scratch, 'classes.json');
  writeFileSync(classes, JSON.stringify({ names: ['background', 'building'] }));
  const runDir = join(scratch, 'run');
  await run(cli, [
    'train',
    ...['--images', survey.imagesDir, '--labels', survey.labelsDir, '--classes', classes],
    ...['--epochs', '1', '--tile-size', '32', '--base-filters', '1', '--depth', '1'],
    ...['--validation-fraction', '0', '--out', runDir, '--backend', 'wasm', '--wasm-threads', '1'],
  ]);
  const manifest = JSON.parse(await readFile(join(runDir, 'run.json'), 'utf8'));
  assert.is(manifest.input.channels, 4);
  const recorded: BandRange[] = manifest.input.raster.ranges;
  assertRangesClose(recorded, await expectedRanges(rasters));
  // The overlay shows the image's first three bands as 8-bit pixels: it tells which ranges predict read with.
  const overlay = async (name: string, extra: string[]): Promise<Buffer> => {
    const out = join(scratch, name);
    await run(cli, ['predict', '--run', runDir, '--images', survey.imagesDir, '--out', out, ...extra]);
    return readFile(join(out, 'scene-1.overlay.png'));
  };
  const asFlag = (ranges: readonly BandRange[]): string =>
    ranges.map(({ low, high }) => `${low}:${high}`).join(',');
  const fromRun = await overlay('predicted-run', ['--backend', 'wasm']);
  assert.ok(
    fromRun.equals(
      await overlay('predicted-given', ['--backend', 'wasm', '--band-ranges', asFlag(recorded)]),
    ),
  );
  const raster = await GeoTiffReader.open(rasters[1]!);
  const own = await bandRanges(raster, [0, 1, 2, 3]);
  await raster.close();
  assert.not.ok(
    fromRun.equals(await overlay('predicted-own', ['--backend', 'wasm', '--band-ranges', asFlag(own)])),
  );
});

test('train --resume reads the ranges its run.json recorded instead of computing them again', async () => {
  const classes = join(scratch, 'classes.json');
  writeFileSync(classes, JSON.stringify({ names: ['background', 'building'] }));
  const runDir = join(scratch, 'resumed-run');
  const train = (epochs: string, ...extra: string[]) =>
    run(cli, [
      'train',
      ...['--images', survey.imagesDir, '--labels', survey.labelsDir, '--classes', classes],
      ...['--epochs', epochs, '--tile-size', '32', '--base-filters', '1', '--depth', '1'],
      ...['--validation-fraction', '0', '--out', runDir, '--backend', 'wasm', '--wasm-threads', '1'],
      ...extra,
    ]);
  await train('1');
  const manifestPath = join(runDir, 'run.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  assertRangesClose(manifest.input.raster.ranges, await expectedRanges(rasters));
  // Ranges no statistics pass over these rasters gives: only run.json can be where the resumed run took them.
  const recorded = manifest.input.raster.ranges.map((_: BandRange, b: number) => ({
    low: 100 + b,
    high: 50_000 + b,
  }));
  manifest.input.raster.ranges = recorded;
  writeFileSync(manifestPath, JSON.stringify(manifest));
  await train('2', '--resume');
  const resumed = JSON.parse(await readFile(manifestPath, 'utf8'));
  assert.is(resumed.resumes.length, 1, 'the run went on from its checkpoint');
  assert.equal(resumed.input.raster.ranges, recorded);
});

test('a resumed run takes recorded ranges only where no ranges are given and the band selection is the same', () => {
  const recorded = {
    bands: [3, 0],
    ranges: [
      { low: 1, high: 2 },
      { low: 3, high: 4 },
    ],
  };
  const given = [
    { low: 5, high: 6 },
    { low: 7, high: 8 },
  ];
  assert.equal(resumedRasterOptions({ bands: [3, 0] }, recorded), recorded);
  assert.equal(resumedRasterOptions({ bands: [3, 0], ranges: given }, recorded), {
    bands: [3, 0],
    ranges: given,
  });
  assert.equal(resumedRasterOptions({ bands: [0, 3] }, recorded), { bands: [0, 3] });
  assert.equal(resumedRasterOptions(undefined, recorded), undefined);
  assert.equal(resumedRasterOptions(undefined, { ranges: given }), { ranges: given });
  assert.equal(resumedRasterOptions({ bands: [1] }, undefined), { bands: [1] });
});

test.run();
