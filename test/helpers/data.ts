import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

/** The project's root (tests run compiled from dist/test). */
export const PROJECT_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

/** The shared real datasets, read in place: `../shared/data` beside the project, or $SEGSTREAM_DATA. */
export const SHARED_DATA = process.env.SEGSTREAM_DATA ?? resolve(PROJECT_ROOT, '..', 'shared', 'data');

export const XBD_DIR = resolve(SHARED_DATA, 'xbd');
export const LABELME_DIR = resolve(SHARED_DATA, 'labelme-voc');
export const COCO_DIR = resolve(SHARED_DATA, 'crowdai-coco');
