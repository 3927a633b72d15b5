import { mkdir, readdir, symlink } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';

/** The project's root (tests run compiled from dist/test). */
export const PROJECT_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

/** The shared real datasets, read in place: `../shared/data` beside the project, or $SEGSTREAM_DATA. */
export const SHARED_DATA = process.env.SEGSTREAM_DATA ?? resolve(PROJECT_ROOT, '..', 'shared', 'data');

export const XBD_DIR = resolve(SHARED_DATA, 'xbd');
export const LABELME_DIR = resolve(SHARED_DATA, 'labelme-voc');
export const COCO_DIR = resolve(SHARED_DATA, 'crowdai-coco');

/**
 * Links the first `count` real xBD pairs (by image file name) into `root/images` and `root/labels`, creating
 * the folders: a training folder of real data without copying it. Returns the image file names linked.
 */
export async function linkXbdPairs(root: string, count: number): Promise<string[]> {
  await Promise.all(['images', 'labels'].map((folder) => mkdir(join(root, folder), { recursive: true })));
  const images = (await readdir(join(XBD_DIR, 'images'))).sort().slice(0, count);
  for (const image of images) {
    await symlink(join(XBD_DIR, 'images', image), join(root, 'images', image));
    const label = image.replace(/\.(png|jpg)$/, '.json');
    await symlink(join(XBD_DIR, 'labels', label), join(root, 'labels', label));
  }
  return images;
}
