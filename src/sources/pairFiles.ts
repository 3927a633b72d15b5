import { basename, extname, resolve } from 'node:path';
import fg from 'fast-glob';
import type { LabelledPair } from '../types.js';

/** Image file extensions that are paired (case-insensitive). */
export const IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'tif', 'tiff'] as const;

/** Label file extensions that are paired by default (JSON labels and PNG masks). */
export const LABEL_EXTENSIONS = ['json', 'geojson', 'png'] as const;

/**
 * Lists the images a multi-image label file (COCO) describes, as the keys written in the file (its
 * `file_name`s); returns `undefined` for a file that describes a single image. This is the extension point
 * through which the labels module teaches pairing about COCO; pairing itself does not parse labels.
 */
export type MultiImageLabelKeys = (labelPath: string) => Promise<string[] | undefined>;

export interface PairFilesOptions {
  /** Folder holding the images (searched recursively). */
  imagesDir: string;
  /** Folder holding the label files (searched recursively). */
  labelsDir: string;
  /** Label file extensions to consider, without dot. Default `['json', 'geojson', 'png']`. */
  labelExtensions?: readonly string[];
  /**
   * Reads the image keys of a label file that describes many images (COCO). Without it every label file
   * pairs with the image of the same stem.
   */
  multiImageLabelKeys?: MultiImageLabelKeys;
}

/** The pairs found, in a deterministic order (by id), and the files that found no partner. */
export interface PairingResult {
  pairs: LabelledPair[];
  /** Image files for which no label was found. */
  imagesWithoutLabels: string[];
  /** Label files that matched no image (for multi-image files: `file#key` for each unmatched key). */
  labelsWithoutImages: string[];
}

const stemOf = (path: string): string => basename(path, extname(path));

async function listFiles(dir: string, extensions: readonly string[]): Promise<string[]> {
  // A brace list needs two entries: `*.{png}` matches a file literally named so.
  const pattern = extensions.length === 1 ? `**/*.${extensions[0]}` : `**/*.{${extensions.join(',')}}`;
  const files = await fg(pattern, {
    cwd: resolve(dir),
    absolute: true,
    caseSensitiveMatch: false,
    onlyFiles: true,
  });
  return files.sort();
}

function assertDirectoryOption(value: unknown, name: string): void {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`pairFiles: ${name} must be a non-empty folder path, got ${JSON.stringify(value)}`);
  }
}

/**
 * Finds the images in a multi-image label file's keys. A key matches an image whose file name is the key,
 * or the key behind a prefix that the label file's own stem starts with (crowdAI writes `000123.jpg` in
 * `train_annotation.json` for the file `train_000123.jpg`).
 */
function matchKeyToImage(
  key: string,
  labelStem: string,
  imagesByName: Map<string, string>,
): string | undefined {
  const exact = imagesByName.get(key);
  if (exact !== undefined) return exact;
  for (const [name, path] of imagesByName) {
    if (
      name.length > key.length &&
      name.endsWith(key) &&
      labelStem.startsWith(name.slice(0, name.length - key.length))
    ) {
      return path;
    }
  }
  return undefined;
}

/**
 * Pairs image files with label files by file stem (`images/X.jpg` <-> `labels/X.json`), and reports the
 * files that found no partner. Images may be PNG, JPEG or TIFF. A label file that `multiImageLabelKeys`
 * says describes many images (COCO) pairs with each image it names, carrying the key as `labelKey`.
 *
 * @example
 * const { pairs, imagesWithoutLabels } = await pairFiles({ imagesDir: 'data/images', labelsDir: 'data/labels' });
 *
 * @param options folders to search, label extensions and the multi-image extension point.
 * @returns the pairs sorted by id, and the unpaired images and labels.
 * @throws TypeError when a folder option is missing; an id found twice (two images or two labels with the
 *   same stem) is an `Error` naming both files, since which one was meant cannot be guessed.
 */
export async function pairFiles(options: PairFilesOptions): Promise<PairingResult> {
  assertDirectoryOption(options?.imagesDir, 'imagesDir');
  assertDirectoryOption(options?.labelsDir, 'labelsDir');
  const labelExtensions = options.labelExtensions ?? LABEL_EXTENSIONS;
  const [images, labels] = await Promise.all([
    listFiles(options.imagesDir, IMAGE_EXTENSIONS),
    listFiles(options.labelsDir, labelExtensions),
  ]);

  const imagesByStem = new Map<string, string>();
  for (const image of images) {
    const stem = stemOf(image);
    const previous = imagesByStem.get(stem);
    if (previous !== undefined)
      throw new Error(`pairFiles: two images share the stem "${stem}": ${previous} and ${image}`);
    imagesByStem.set(stem, image);
  }
  const imagesByName = new Map(images.map((path) => [basename(path), path]));

  const pairs: LabelledPair[] = [];
  const labelsWithoutImages: string[] = [];
  const pairedImages = new Set<string>();
  const singleLabelByStem = new Map<string, string>();

  for (const labelPath of labels) {
    const keys = options.multiImageLabelKeys ? await options.multiImageLabelKeys(labelPath) : undefined;
    if (keys !== undefined) {
      for (const key of keys) {
        const imagePath = matchKeyToImage(key, stemOf(labelPath), imagesByName);
        if (imagePath === undefined) {
          labelsWithoutImages.push(`${labelPath}#${key}`);
          continue;
        }
        pairedImages.add(imagePath);
        pairs.push({ id: stemOf(imagePath), imagePath, labelPath, labelKey: key });
      }
      continue;
    }
    const stem = stemOf(labelPath);
    const imagePath = imagesByStem.get(stem);
    // A PNG mask in a folder beside the images is only a label when it is not itself one of the images.
    if (imagePath === labelPath) continue;
    if (imagePath === undefined) {
      labelsWithoutImages.push(labelPath);
      continue;
    }
    const previous = singleLabelByStem.get(stem);
    if (previous !== undefined)
      throw new Error(`pairFiles: two labels share the stem "${stem}": ${previous} and ${labelPath}`);
    singleLabelByStem.set(stem, labelPath);
    pairedImages.add(imagePath);
    pairs.push({ id: stem, imagePath, labelPath });
  }

  const seenIds = new Map<string, LabelledPair>();
  for (const pair of pairs) {
    const previous = seenIds.get(pair.id);
    if (previous !== undefined) {
      throw new Error(
        `pairFiles: image ${pair.imagePath} is labelled twice: in ${previous.labelPath} and ${pair.labelPath}`,
      );
    }
    seenIds.set(pair.id, pair);
  }
  pairs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    pairs,
    imagesWithoutLabels: images.filter((image) => !pairedImages.has(image)),
    labelsWithoutImages,
  };
}
