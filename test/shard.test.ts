import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { writeArrayBuffer } from 'geotiff';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  parseShardFlag,
  resolveShard,
  SHARD_COUNT_VARIABLE,
  shardFromEnvironment,
} from '../src/cli/shardOption.js';
import { shardRows } from '../src/predict/rowShards.js';
import { windowStarts } from '../src/predict/slidingWindow.js';
import { classStripRows, geoTiffTags } from '../src/predict/writeClassGeoTiff.js';
import type { MergedManifest, ShardManifest } from '../src/runs/shardManifest.js';
import type { GeoReference } from '../src/types.js';
import { SeededRandom } from '../src/util/seededRandom.js';
import { shardItems } from '../src/util/shard.js';
import { PROJECT_ROOT, syntheticXbd } from './helpers/data.js';
import { testUnlessMissing } from './helpers/skips.js';

const run = promisify(execFile);
const gdalMissing = await run('gdalinfo', ['--version']).then(
  () => undefined,
  () => "needs GDAL's gdalinfo (Debian gdal-bin), not installed",
);
const BIN = join(PROJECT_ROOT, 'bin', 'stream-train');
const scratch = mkdtempSync(join(tmpdir(), 'segstream-shard-'));
const SCHEDULER_VARIABLES = [
  'JOB_COMPLETION_INDEX',
  'SLURM_ARRAY_TASK_ID',
  'SLURM_ARRAY_TASK_MIN',
  'SLURM_ARRAY_TASK_COUNT',
  'AWS_BATCH_JOB_ARRAY_INDEX',
  SHARD_COUNT_VARIABLE,
];

/** The CLI in a child process, with the scheduler's variables of this process left out and `env` added. */
async function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !SCHEDULER_VARIABLES.includes(name)),
  );
  try {
    const { stdout, stderr } = await run(BIN, args, { cwd: scratch, env: { ...inherited, ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function succeeds(args: string[], env: Record<string, string> = {}): Promise<string> {
  const result = await cli(args, env);
  assert.is(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

/** Every file under `dir` (relative path -> bytes), leaving out the shard manifests and the merged ones. */
function filesUnder(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (folder: string): void => {
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) walk(path);
      else files.set(relative(dir, path), readFileSync(path));
    }
  };
  walk(dir);
  for (const path of files.keys())
    if (path.startsWith('shards/') || path.endsWith('-manifest.json')) files.delete(path);
  return files;
}

function assertSameFiles(actualDir: string, expectedDir: string): void {
  const actual = filesUnder(actualDir);
  const expected = filesUnder(expectedDir);
  assert.equal([...actual.keys()].sort(), [...expected.keys()].sort(), 'the same files');
  for (const [path, bytes] of expected) assert.ok(actual.get(path)!.equals(bytes), `${path} differs`);
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

// Five pairs (PNG and JPEG) so that 3 shards take 2, 2 and 1; a model of the smallest UNet trained on them.
const data = await syntheticXbd(5, { size: 96, buildingsPerImage: 4, unclassifiedEvery: 3 });
const runDir = join(scratch, 'run');
await succeeds([
  'train',
  '--images',
  data.imagesDir,
  '--labels',
  data.labelsDir,
  '--out',
  runDir,
  '--arch',
  'unet',
  '--epochs',
  '1',
  '--tile-size',
  '32',
  '--base-filters',
  '2',
  '--depth',
  '1',
  '--batch-size',
  '8',
  '--backend',
  'cpu',
]);

test('the shard comes from --shard, else JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID or AWS_BATCH_JOB_ARRAY_INDEX; bad values are named', () => {
  assert.equal(parseShardFlag('2/3'), { index: 2, count: 3 });
  assert.equal(shardFromEnvironment({ JOB_COMPLETION_INDEX: '4', [SHARD_COUNT_VARIABLE]: '5' }), {
    index: 4,
    count: 5,
  });
  assert.equal(
    shardFromEnvironment({
      SLURM_ARRAY_TASK_ID: '7',
      SLURM_ARRAY_TASK_MIN: '5',
      SLURM_ARRAY_TASK_COUNT: '3',
    }),
    { index: 2, count: 3 },
  );
  assert.equal(shardFromEnvironment({ SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_COUNT: '2' }), {
    index: 0,
    count: 2,
  });
  assert.equal(shardFromEnvironment({ AWS_BATCH_JOB_ARRAY_INDEX: '1', [SHARD_COUNT_VARIABLE]: '2' }), {
    index: 1,
    count: 2,
  });
  assert.is(shardFromEnvironment({}), undefined);
  assert.equal(
    resolveShard({ index: 0, count: 1 }, { JOB_COMPLETION_INDEX: '1', [SHARD_COUNT_VARIABLE]: '2' }),
    { index: 0, count: 1 },
    'the flag wins',
  );
  const error = (action: () => unknown): string => {
    try {
      action();
    } catch (e) {
      return (e as Error).message;
    }
    return 'no error';
  };
  assert.match(
    error(() => parseShardFlag('3/3')),
    '--shard 3/3: the shard index must be a whole number in [0, 2] (0-based), got 3',
  );
  assert.match(
    error(() => parseShardFlag('1/0')),
    '--shard 1/0: the shard count must be a whole number >= 1, got 0',
  );
  assert.match(
    error(() => parseShardFlag('1 of 3')),
    "--shard must be INDEX/COUNT with a 0-based index, such as 0/3, got '1 of 3'",
  );
  assert.match(
    error(() => shardFromEnvironment({ JOB_COMPLETION_INDEX: '1' })),
    `${SHARD_COUNT_VARIABLE} must give the shard count`,
  );
  assert.match(
    error(() => shardFromEnvironment({ AWS_BATCH_JOB_ARRAY_INDEX: 'x', [SHARD_COUNT_VARIABLE]: '2' })),
    "AWS_BATCH_JOB_ARRAY_INDEX must be a whole number, got 'x'",
  );
  assert.match(
    error(() => shardFromEnvironment({ SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_COUNT: '3' })),
    'SLURM_ARRAY_TASK_ID=4 (from SLURM_ARRAY_TASK_MIN=0), SLURM_ARRAY_TASK_COUNT=3: the shard index must be a whole number in [0, 2]',
  );
  assert.match(
    error(() => shardFromEnvironment({ [SHARD_COUNT_VARIABLE]: '3' })),
    'no shard index is',
  );
  // Round-robin: every item in exactly one shard, in order.
  const items = Array.from({ length: 11 }, (_, k) => k);
  const shards = [0, 1, 2].map((index) => shardItems(items, { index, count: 3 }));
  assert.equal(shards[1], [1, 4, 7, 10]);
  assert.equal(
    shards.flat().sort((a, b) => a - b),
    items,
  );
});

test('bad --shard values and variables stop a command with exit code 2, naming the value', async () => {
  const flag = await cli([
    'predict',
    '--run',
    runDir,
    '--images',
    data.imagesDir,
    '--out',
    join(scratch, 'never'),
    '--shard',
    '3/3',
  ]);
  assert.is(flag.code, 2);
  assert.match(
    flag.stderr,
    /--shard 3\/3: the shard index must be a whole number in \[0, 2\] \(0-based\), got 3/,
  );
  const variable = await cli(
    ['prepare', '--images', data.imagesDir, '--labels', data.labelsDir, '--out', join(scratch, 'never')],
    { JOB_COMPLETION_INDEX: '0' },
  );
  assert.is(variable.code, 2);
  assert.match(variable.stderr, new RegExp(`${SHARD_COUNT_VARIABLE} must give the shard count`));
  assert.not.ok(existsSync(join(scratch, 'never')), 'nothing written');
});

test('prepare in 3 processes writes the files of one process byte for byte; merge prints the same table', async () => {
  const args = (out: string): string[] => [
    'prepare',
    '--images',
    data.imagesDir,
    '--labels',
    data.labelsDir,
    '--out',
    out,
    '--previews',
    '--tiles',
    'png,npy',
    '--tile-size',
    '32',
  ];
  const whole = join(scratch, 'prepare-whole');
  const sharded = join(scratch, 'prepare-sharded');
  const table = await succeeds(args(whole));
  // One shard by the flag, one by Slurm's variables, one by AWS Batch's.
  await Promise.all([
    succeeds([...args(sharded), '--shard', '0/3']),
    succeeds(args(sharded), {
      SLURM_ARRAY_TASK_ID: '2',
      SLURM_ARRAY_TASK_MIN: '1',
      SLURM_ARRAY_TASK_COUNT: '3',
    }),
    succeeds(args(sharded), { AWS_BATCH_JOB_ARRAY_INDEX: '2', [SHARD_COUNT_VARIABLE]: '3' }),
  ]);
  assert.equal(readdirSync(join(sharded, 'shards')).sort(), [
    'prepare-0-of-3.json',
    'prepare-1-of-3.json',
    'prepare-2-of-3.json',
  ]);
  assertSameFiles(sharded, whole);
  assert.is(await succeeds(['merge', sharded]), table);
  const merged = readJson<MergedManifest>(join(sharded, 'prepare-manifest.json'));
  assert.equal(merged.inputs, [...data.images].sort());
  for (const output of merged.outputs)
    assert.is(sha256(readFileSync(join(sharded, output.path))), output.sha256, output.path);
  assert.equal(
    merged.outputs.map((o) => o.path).sort(),
    [...filesUnder(whole).keys()].sort(),
    'the manifest lists every file',
  );
});

test('predict in 3 processes gives the files of one process; a shard killed mid-way and rerun gives them again', async () => {
  const args = (out: string): string[] => [
    'predict',
    '--run',
    runDir,
    '--images',
    data.imagesDir,
    '--out',
    out,
    '--polygons',
    'geojson',
    '--backend',
    'cpu',
  ];
  const whole = join(scratch, 'predict-whole');
  const sharded = join(scratch, 'predict-sharded');
  await succeeds(args(whole));
  await Promise.all([
    succeeds(args(sharded), { JOB_COMPLETION_INDEX: '0', [SHARD_COUNT_VARIABLE]: '3' }),
    succeeds(args(sharded), { JOB_COMPLETION_INDEX: '1', [SHARD_COUNT_VARIABLE]: '3' }),
    succeeds([...args(sharded), '--shard', '2/3'], {
      JOB_COMPLETION_INDEX: '0',
      [SHARD_COUNT_VARIABLE]: '1',
    }),
  ]);
  assertSameFiles(sharded, whole);
  const manifestPath = join(sharded, 'shards', 'predict-1-of-3.json');
  const manifest = readJson<ShardManifest>(manifestPath);
  assert.equal(manifest.inputs, [data.images[1], data.images[4]]);
  assert.equal(manifest.outputs.length, 6, 'two images, three files each');
  await succeeds(['merge', sharded]);
  // Shard 1 dies: one output half written over, its staging folder left behind. merge notices; a rerun repairs.
  const manifestBefore = readFileSync(manifestPath);
  const damaged = manifest.outputs[0]!.path;
  truncateSync(join(sharded, damaged), 10);
  mkdirSync(join(sharded, '.staging-1-of-3'), { recursive: true });
  writeFileSync(join(sharded, '.staging-1-of-3', 'half.classes.png'), 'half');
  const refused = await cli(['merge', sharded]);
  assert.is(refused.code, 1);
  assert.match(
    refused.stderr,
    `${join(sharded, damaged)}: has 10 bytes, ${manifestPath} says ${manifest.outputs[0]!.bytes}: rerun that shard`,
  );
  await succeeds([...args(sharded), '--shard', '1/3']);
  assertSameFiles(sharded, whole);
  assert.ok(readFileSync(manifestPath).equals(manifestBefore), 'the rerun writes the same manifest');
  assert.not.ok(existsSync(join(sharded, '.staging-1-of-3')), 'the staging folder is gone');
  await succeeds(['merge', sharded]);
});

test('eval in 3 shards, merged, writes the eval.json, CSV and heat map of one process exactly', async () => {
  const args = [
    'eval',
    '--run',
    runDir,
    '--images',
    data.imagesDir,
    '--labels',
    data.labelsDir,
    '--backend',
    'cpu',
  ];
  const table = await succeeds(args);
  const files = ['eval.json', 'confusion.csv', 'confusion.png'];
  const whole = files.map((file) => readFileSync(join(runDir, file)));
  for (const file of files) rmSync(join(runDir, file));
  await Promise.all([0, 1, 2].map((index) => succeeds([...args, '--shard', `${index}/3`])));
  assert.not.ok(existsSync(join(runDir, 'eval.json')), 'a shard does not write eval.json');
  // A shard of an older 2-shard job beside them is refused.
  const stale = join(runDir, 'shards', 'eval-1-of-2.json');
  writeFileSync(
    stale,
    JSON.stringify({
      ...readJson<ShardManifest>(join(runDir, 'shards', 'eval-1-of-3.json')),
      shard: { index: 1, count: 2 },
    }),
  );
  const mixed = await cli(['merge', runDir]);
  assert.is(mixed.code, 1);
  assert.match(
    mixed.stderr,
    `${stale}: is shard 1/2, but ${join(runDir, 'shards', 'eval-0-of-3.json')} is one of 3`,
  );
  rmSync(stale);
  assert.is(await succeeds(['merge', runDir]), table);
  files.forEach((file, k) =>
    assert.ok(readFileSync(join(runDir, file)).equals(whole[k]!), `${file} differs`),
  );
  const counts = readJson<{ confusion_matrix: number[][] }>(
    join(runDir, 'eval.json'),
  ).confusion_matrix.flat();
  assert.ok(
    counts.every(Number.isInteger) && counts.reduce((a, b) => a + b, 0) > 0,
    'integer confusion counts',
  );
  // A missing shard is named.
  rmSync(join(runDir, 'shards', 'eval-1-of-3.json'));
  const missing = await cli(['merge', runDir]);
  assert.is(missing.code, 1);
  assert.match(
    missing.stderr,
    `${join(runDir, 'shards')}: lacks shard 1 of 3 (0-based): run it before merging`,
  );
});

test('shardRows cuts a raster into contiguous bands on strip boundaries, near window starts', () => {
  for (const [width, height, tileSize, count] of [
    [4096, 4096, 256, 3],
    [2048, 260, 32, 3],
    [700, 5000, 128, 7],
    [100_000, 50, 32, 4],
    [4096, 40, 32, 8],
  ] as const) {
    const ranges = Array.from({ length: count }, (_, index) =>
      shardRows(width, height, { tileSize }, { index, count }),
    );
    const where = `${width}x${height}, ${count} shards`;
    assert.is(ranges[0]!.start, 0, where);
    assert.is(ranges.at(-1)!.end, height, where);
    ranges.slice(1).forEach((range, k) => assert.is(range.start, ranges[k]!.end, where));
    const stripRows = classStripRows(width, height);
    for (const { start, end } of ranges) {
      assert.ok(start <= end && start % stripRows === 0, `${where}: ${start} to ${end}`);
      // Moved up from a window start by less than a strip.
      if (start > 0)
        assert.ok(
          windowStarts(height, tileSize, Math.floor(tileSize / 4)).some(
            (y) => y >= start && y - start < stripRows,
          ),
          `${where}: ${start}`,
        );
    }
  }
});

// A georeferenced RGB raster of coloured rectangles over noise, wide enough (2048 px: strips of 32 rows)
// that 3 shards take bands of rows of it.
const [RASTER_WIDTH, RASTER_HEIGHT] = [2048, 260];
const rasterGeo: GeoReference = { transform: [452_000, 0.3, 0, 38_000, 0, -0.3], epsg: 32636 };
const rasterDir = join(scratch, 'raster');
mkdirSync(rasterDir);
{
  const random = new SeededRandom(7);
  const rgb = Uint8Array.from({ length: RASTER_WIDTH * RASTER_HEIGHT * 3 }, () => random.int(20, 60));
  for (let k = 0; k < 300; k++) {
    const [x0, y0] = [random.int(0, RASTER_WIDTH - 1), random.int(0, RASTER_HEIGHT - 1)];
    const [w, h] = [random.int(4, 40), random.int(4, 40)];
    const colour = [random.int(0, 255), random.int(0, 255), random.int(0, 255)];
    for (let y = y0; y < Math.min(RASTER_HEIGHT, y0 + h); y++)
      for (let x = x0; x < Math.min(RASTER_WIDTH, x0 + w); x++)
        for (let c = 0; c < 3; c++) rgb[(y * RASTER_WIDTH + x) * 3 + c] = colour[c]!;
  }
  writeFileSync(
    join(rasterDir, 'scene.tif'),
    new Uint8Array(
      writeArrayBuffer(rgb, {
        width: RASTER_WIDTH,
        height: RASTER_HEIGHT,
        BitsPerSample: [8, 8, 8],
        ...geoTiffTags(rasterGeo),
      }),
    ),
  );
}
const rasterArgs = (out: string): string[] => [
  'predict',
  '--run',
  runDir,
  '--images',
  rasterDir,
  '--out',
  out,
  '--backend',
  'cpu',
];
const rowsWhole = join(scratch, 'rows-whole');
const rowsSharded = join(scratch, 'rows-sharded');
const partPath = (index: number): string =>
  join(rowsSharded, 'shards', 'parts', `scene.classes.${index}-of-3.tif`);

test('a GeoTIFF split by rows over 3 processes, merged, is the class GeoTIFF of one process byte for byte; a rerun part is the same', async () => {
  await succeeds(rasterArgs(rowsWhole));
  await Promise.all(
    [0, 1, 2].map((index) =>
      succeeds([...rasterArgs(rowsSharded), '--shard', `${index}/3`, '--shard-by', 'rows']),
    ),
  );
  const manifests = [0, 1, 2].map((index) =>
    readJson<ShardManifest>(join(rowsSharded, 'shards', `predict-${index}-of-3.json`)),
  );
  const parts = manifests.map((manifest) => manifest.parts![0]!);
  assert.equal(
    parts.map(({ start, end }) => [start, end]),
    [0, 1, 2].map((index) => {
      const { start, end } = shardRows(RASTER_WIDTH, RASTER_HEIGHT, { tileSize: 32 }, { index, count: 3 });
      return [start, end];
    }),
  );
  assert.ok(
    parts.every(({ start, end }) => end > start),
    'every shard has rows',
  );
  assert.ok(
    manifests.every((manifest) => manifest.inputs.length === 0),
    'no shard takes the raster whole',
  );
  assert.not.ok(existsSync(join(rowsSharded, 'scene.classes.tif')), 'no shard writes the whole file');
  await succeeds(['merge', rowsSharded]);
  const whole = readFileSync(join(rowsWhole, 'scene.classes.tif'));
  assert.ok(readFileSync(join(rowsSharded, 'scene.classes.tif')).equals(whole), 'merged == one process');
  const merged = readJson<MergedManifest>(join(rowsSharded, 'predict-manifest.json'));
  assert.equal(merged.inputs, ['scene.tif']);
  assert.is(merged.outputs.find((o) => o.path === 'scene.classes.tif')?.sha256, sha256(whole));

  // Shard 1 dies half-way through its part: merge refuses it; the rerun writes the same part and manifest.
  const manifestPath = join(rowsSharded, 'shards', 'predict-1-of-3.json');
  const [partBefore, manifestBefore] = [readFileSync(partPath(1)), readFileSync(manifestPath)];
  truncateSync(partPath(1), 100);
  const refused = await cli(['merge', rowsSharded]);
  assert.is(refused.code, 1);
  assert.match(refused.stderr, `${partPath(1)}: has 100 bytes`);
  await succeeds([...rasterArgs(rowsSharded), '--shard', '1/3', '--shard-by', 'rows']);
  assert.ok(readFileSync(partPath(1)).equals(partBefore), 'the rerun part is the same');
  assert.ok(readFileSync(manifestPath).equals(manifestBefore), 'the rerun manifest is the same');
  await succeeds(['merge', rowsSharded]);
  assert.ok(
    readFileSync(join(rowsSharded, 'scene.classes.tif')).equals(whole),
    'merged again == one process',
  );

  // Parts that leave rows out are named.
  const gapped = readJson<ShardManifest>(manifestPath);
  gapped.parts![0]!.start += 1;
  writeFileSync(manifestPath, JSON.stringify(gapped));
  const gap = await cli(['merge', rowsSharded]);
  assert.is(gap.code, 1);
  assert.match(
    gap.stderr,
    `${join(rowsSharded, 'shards')}: no shard predicted rows ${parts[1]!.start} to ${parts[1]!.start + 1} of scene.tif`,
  );
  writeFileSync(manifestPath, manifestBefore);
});

test('--shard-by auto takes a GeoTIFF of at most 8192x8192 whole, even with fewer images than shards', async () => {
  const out = join(scratch, 'rows-auto');
  await succeeds([...rasterArgs(out), '--shard', '0/3']);
  const manifest = readJson<ShardManifest>(join(out, 'shards', 'predict-0-of-3.json'));
  assert.equal(manifest.inputs, ['scene.tif']);
  assert.is(manifest.parts, undefined);
  assert.ok(
    readFileSync(join(out, 'scene.classes.tif')).equals(readFileSync(join(rowsWhole, 'scene.classes.tif'))),
  );
});

testUnlessMissing(
  'gdalinfo opens the parts of a split raster where their rows lie, and the merged file',
  gdalMissing,
  async () => {
    const info = async (path: string) =>
      JSON.parse((await run('gdalinfo', ['-json', path])).stdout) as {
        size: number[];
        geoTransform: number[];
        coordinateSystem: { wkt: string };
      };
    const merged = await info(join(rowsSharded, 'scene.classes.tif'));
    assert.equal(merged.size, [RASTER_WIDTH, RASTER_HEIGHT]);
    assert.equal(merged.geoTransform, rasterGeo.transform);
    assert.match(merged.coordinateSystem.wkt, /ID\["EPSG",32636\]\]$/);
    for (const index of [0, 1, 2]) {
      const { start, end } = shardRows(RASTER_WIDTH, RASTER_HEIGHT, { tileSize: 32 }, { index, count: 3 });
      const part = await info(partPath(index));
      assert.equal(part.size, [RASTER_WIDTH, end - start]);
      const [x, dx, , y, , dy] = rasterGeo.transform;
      assert.equal(part.geoTransform, [x, dx, 0, y + start * dy, 0, dy], `part ${index}`);
      assert.is(part.coordinateSystem.wkt, merged.coordinateSystem.wkt);
    }
  },
);

test.after(() => rmSync(scratch, { recursive: true, force: true }));
test.run();
