// The README's worked example on real georeferenced data, run as written: train, eval and predict on the
// Kampala GeoTIFF chips, then GDAL opens the outputs and the predicted polygons are scored against the
// labelled footprints in map coordinates.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveClassMap } from '../src/cli/classes.js';
import { GeoTiffReader } from '../src/io/geoTiff.js';
import { GEO_KAMPALA_DIR, PROJECT_ROOT, SHARED_DATA } from './helpers/data.js';
import { mapCoordinateOverlap } from './helpers/geoData.js';
import { realDataTest } from './helpers/skips.js';

const run = promisify(execFile);
const gdalPresent = await run('gdalinfo', ['--version']).then(
  () => true,
  () => false,
);

const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
const section = readme.split('### From GeoTIFF chips to a map layer')[1]!.split('\n#')[0]!;
const classFile = /```json\n([\s\S]*?)```/.exec(section)![1]!;
const commands = /```sh\n([\s\S]*?)```/
  .exec(section)![1]!
  .trim()
  .split('\n')
  .map((line) => line.split(/\s+/));

test('the README example is train, eval, predict, then gdalinfo and ogrinfo on one chip', () => {
  assert.equal(
    commands.map((words) => words.slice(0, 3).join(' ')),
    [
      'npx stream-train train',
      'npx stream-train eval',
      'npx stream-train predict',
      'gdalinfo maps/kampala/OAM-1238424-1046545-21.classes.tif',
      'ogrinfo -so -al',
    ],
  );
});

realDataTest(
  'geo-kampala: the README example trains, predicts GIS layers GDAL places on the chips, and its polygons cover the labelled buildings',
  GEO_KAMPALA_DIR,
  'GeoTIFF chips with GeoJSON footprints',
  async () => {
    const scratch = mkdtempSync(join(tmpdir(), 'segstream-geo-kampala-'));
    writeFileSync(join(scratch, 'buildings.json'), classFile);
    // The README's paths are a user's: its data/ is ../shared/data here, its outputs go to a scratch folder.
    const inPlace = (word: string) =>
      word.startsWith('data/') ? join(SHARED_DATA, word.slice('data/'.length)) : join(scratch, word);
    const localWords = (words: string[]) =>
      words.map((word, i) => (i > 0 && /^(data|runs|maps)\/|\.json$/.test(word) ? inPlace(word) : word));
    const outputs: Record<string, string> = {};
    for (const words of commands) {
      const [program, ...args] = localWords(words);
      if (program === 'npx') {
        const { stdout } = await run(join(PROJECT_ROOT, 'bin', 'stream-train'), args.slice(1), {
          maxBuffer: 64 << 20,
        });
        outputs[args[1]!] = stdout;
      } else if (gdalPresent) {
        outputs[program!] = (await run(program!, args)).stdout;
      } else {
        console.log(`skipped: ${program} on the outputs — needs Debian gdal-bin, not installed`);
      }
    }
    const runDir = join(scratch, 'runs', 'kampala');
    const maps = join(scratch, 'maps', 'kampala');
    const { splits } = JSON.parse(readFileSync(join(runDir, 'run.json'), 'utf8')) as {
      splits: { test: string[] };
    };
    assert.ok(splits.test.length >= 2, 'the split holds test chips');

    // GDAL: the class raster has the chip's origin and pixel size, the polygons are in EPSG:4326.
    const chip = 'OAM-1238424-1046545-21';
    const source = await GeoTiffReader.open(join(GEO_KAMPALA_DIR, 'images', `${chip}.tif`));
    const { transform } = source.info.georeference!;
    await source.close();
    if (gdalPresent) {
      const origin = /Origin = \(([-\d.]+),([-\d.]+)\)/.exec(outputs.gdalinfo!)!;
      assert.ok(
        Math.abs(Number(origin[1]) - transform[0]) < 1e-9 &&
          Math.abs(Number(origin[2]) - transform[3]) < 1e-9,
      );
      assert.match(outputs.gdalinfo!, /ID\["EPSG",4326\]\]/);
      assert.match(outputs.ogrinfo!, /Geometry: Polygon/);
      assert.match(outputs.ogrinfo!, /ID\["EPSG",4326\]\]\s*$/m);
    }

    // The held-out chips' predicted polygons against their labels, in lon/lat.
    const classMap = await resolveClassMap(join(scratch, 'buildings.json'));
    const total = { intersection: 0, union: 0, labelled: 0, pixels: 0 };
    for (const id of splits.test) {
      const raster = await GeoTiffReader.open(join(GEO_KAMPALA_DIR, 'images', `${id}.tif`));
      const { width, height, georeference } = raster.info;
      await raster.close();
      assert.ok(existsSync(join(maps, `${id}.classes.tif`)), `${id}.classes.tif written`);
      const overlap = await mapCoordinateOverlap(
        { labelled: join(GEO_KAMPALA_DIR, 'labels', `${id}.geojson`), predicted: join(maps, `${id}.json`) },
        georeference!,
        { width, height },
        classMap,
      );
      for (const key of Object.keys(total) as Array<keyof typeof total>) total[key] += overlap[key];
    }
    const building = total.intersection / total.union;
    const background = (total.pixels - total.union) / (total.pixels - total.intersection);
    const meanIoU = (building + background) / 2;
    // These chips are mostly roofs: a map of buildings everywhere scores the labelled share as building IoU
    // and 0 for background, so the mean over both classes is what tells a model from a constant map.
    const constantMapMeanIoU = Math.max(total.labelled, total.pixels - total.labelled) / total.pixels / 2;
    console.log(
      `geo-kampala: predicted polygons against the labels in lon/lat, ${splits.test.length} test chips: IoU building ${building.toFixed(3)}, background ${background.toFixed(3)}, mean ${meanIoU.toFixed(3)} (best constant map ${constantMapMeanIoU.toFixed(3)})`,
    );
    assert.ok(meanIoU > 0.45 && meanIoU > constantMapMeanIoU + 0.15, `mean IoU ${meanIoU}`);
  },
);

test.run();
