import { rmSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { writeSyntheticXbd } from '../../src/sources/syntheticDataset.js';

/** The project's root (tests run compiled from dist/test). */
export const PROJECT_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

/**
 * The shared real datasets, read in place: `../shared/data` beside the project, or $SEGSTREAM_DATA. Only the
 * conformance tests read them (see `realDataTest`); a clone without them skips those.
 */
export const SHARED_DATA = process.env.SEGSTREAM_DATA ?? resolve(PROJECT_ROOT, '..', 'shared', 'data');

export const XBD_DIR = resolve(SHARED_DATA, 'xbd');
export const LABELME_DIR = resolve(SHARED_DATA, 'labelme-voc');
export const COCO_DIR = resolve(SHARED_DATA, 'crowdai-coco');
export const GEO_KAMPALA_DIR = resolve(SHARED_DATA, 'geo-kampala');

/** Options of {@link writeXbdPairs}. */
export interface XbdPairsOptions {
  /** [size=1024] Image side in pixels; xBD's tiles are 1024x1024. */
  size?: number;
  /** [buildingsPerImage=10] */
  buildingsPerImage?: number;
  /** [unclassifiedEvery=0] Every n-th building of an image is `un-classified` (ignored), as xBD's cloud-covered ones; 0: none. */
  unclassifiedEvery?: number;
  /** [seed=1] */
  seed?: number;
}

/** The parts of an xBD label file that the synthetic pairs' helpers read. */
export interface XbdLabel {
  features: { xy: Array<{ wkt: string; properties: { subtype: string } }> };
  metadata: { width: number; height: number };
}

/**
 * Writes `count` synthetic xBD pairs (`writeSyntheticXbd`: textured ground, rotated buildings of the four
 * damage classes) into `root/images` and `root/labels`, the tests' stand-in for the real xBD set, which a
 * clone lacks. As in the real set, images come as PNG and JPEG (every other one re-encoded, quality 95) and
 * the labels' `img_name` still says `.png`. Returns the image file names, sorted.
 */
export async function writeXbdPairs(
  root: string,
  count: number,
  options: XbdPairsOptions = {},
): Promise<string[]> {
  const { size = 1024, buildingsPerImage = 10, unclassifiedEvery = 0, seed = 1 } = options;
  const { imagesDir, labelsDir, masksDir } = await writeSyntheticXbd(root, {
    images: count,
    size,
    buildingsPerImage,
    seed,
  });
  // Tests read the labels; the generator's masks would disagree with relabelled buildings.
  await rm(masksDir, { recursive: true });
  const pngs = (await readdir(imagesDir)).sort();
  for (const [index, name] of pngs.entries()) {
    if (unclassifiedEvery > 0) {
      const labelPath = join(labelsDir, name.replace(/\.png$/, '.json'));
      const label = JSON.parse(await readFile(labelPath, 'utf8')) as XbdLabel;
      for (const [b, feature] of label.features.xy.entries())
        if ((b + 1) % unclassifiedEvery === 0) feature.properties.subtype = 'un-classified';
      await writeFile(labelPath, `${JSON.stringify(label)}\n`);
    }
    if (index % 2 === 1) {
      const png = join(imagesDir, name);
      await sharp(png)
        .jpeg({ quality: 95 })
        .toFile(png.replace(/\.png$/, '.jpg'));
      await unlink(png);
    }
  }
  return (await readdir(imagesDir)).sort();
}

/** A synthetic xBD set in a temporary folder, removed when the process exits. */
export interface SyntheticXbd {
  root: string;
  imagesDir: string;
  labelsDir: string;
  /** Image file names, sorted. */
  images: string[];
  /** Label file names, sorted (in the images' order). */
  labels: string[];
}

/** {@link writeXbdPairs} into a new temporary folder, which is removed when the process exits. */
export async function syntheticXbd(count: number, options: XbdPairsOptions = {}): Promise<SyntheticXbd> {
  const root = await mkdtemp(join(tmpdir(), 'segstream-synthetic-xbd-'));
  process.on('exit', () => rmSync(root, { recursive: true, force: true }));
  const images = await writeXbdPairs(root, count, options);
  return {
    root,
    imagesDir: join(root, 'images'),
    labelsDir: join(root, 'labels'),
    images,
    labels: images.map((name) => name.replace(/\.(png|jpg)$/, '.json')),
  };
}
