// Writes a synthetic georeferenced 4-band 16-bit GeoTIFF of any size (default 20,000 x 20,000, 3.2 GB,
// tiled 256 x 256, uncompressed) for measuring predict's memory and time on a raster far larger than
// memory. Never commit its output.
// Usage: node dist/scripts/makeLargeGeoTiff.js OUT.tif [SIDE=20000] [BANDS=4] [LABELS.json]
// It draws a 1000 x 1000 scene with the test data's generator and scales it up with GDAL's gdal_translate
// (Debian gdal-bin), which writes files of any size without holding them in memory. The scene keeps its
// extent, so its GeoJSON labels (map coordinates) fit the large raster: LABELS.json receives them, to train on it.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeMultibandRasterSet } from '../test/helpers/geoData.js';

const [out, sideArgument = '20000', bandsArgument = '4', labelsOut] = process.argv.slice(2);
if (!out) {
  process.stderr.write(
    'usage: node dist/scripts/makeLargeGeoTiff.js OUT.tif [SIDE=20000] [BANDS=4] [LABELS.json]\n',
  );
  process.exit(2);
}
const side = Number(sideArgument);
const bands = Number(bandsArgument);
const scratch = mkdtempSync(join(tmpdir(), 'segstream-large-'));
try {
  const { imagesDir, labelsDir } = await writeMultibandRasterSet(scratch, 1, { bands, size: 1000 });
  if (labelsOut) copyFileSync(join(labelsDir, 'scene-0.json'), labelsOut);
  execFileSync(
    'gdal_translate',
    [
      '-q',
      '-outsize',
      String(side),
      String(side),
      '-r',
      'nearest',
      '-co',
      'TILED=YES',
      '-co',
      'BLOCKXSIZE=256',
      '-co',
      'BLOCKYSIZE=256',
      '-co',
      'BIGTIFF=IF_NEEDED',
      join(imagesDir, 'scene-0.tif'),
      out,
    ],
    { stdio: 'inherit' },
  );
  process.stderr.write(`wrote ${out}: ${side} x ${side}, ${bands} bands of 16 bits\n`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
