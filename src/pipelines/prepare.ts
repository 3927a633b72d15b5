import { mkdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { from, lastValueFrom } from 'rxjs';
import sharp, { type Sharp } from 'sharp';
import { type BadInputPolicy, handleBadInput, InputError, type SkippedItem, SkipReport } from '../errors.js';
import { decodeImage } from '../io/decodeImage.js';
import { StagedOutput } from '../io/stagedOutput.js';
import { writeClassMaskPng } from '../io/writeClassMaskPng.js';
import type { ClassMap } from '../labels/classMap.js';
import { cocoImageKeys } from '../labels/coco.js';
import type { DegenerateShapePolicy } from '../labels/geometry.js';
import { readLabelMask } from '../labels/readLabelMask.js';
import { exportTiles } from '../operators/exportTiles.js';
import { pairFiles } from '../sources/pairFiles.js';
import { type SplitOptions, splitBySource } from '../sources/splitBySource.js';
import { cutTiles, type TileOptions, tileGrid } from '../tiling/tileGrid.js';
import type { ClassMask, RasterImage, Split } from '../types.js';
import { type Shard, shardItems, shardName, WHOLE_JOB } from '../util/shard.js';

export interface PrepareMasksOptions {
  imagesDir: string;
  labelsDir: string;
  /** Masks go to `OUT/masks/<stem>.png`, previews to `OUT/previews/<stem>.png`. */
  outDir: string;
  classMap: ClassMap;
  /** Label format, default `auto` (detected per file). */
  format?: string;
  /** Also write colour previews: class colours blended over the image. Default false. */
  previews?: boolean;
  /** Default `throw`; `skip` goes on past bad files and reports them. */
  onBadInput?: BadInputPolicy;
  /** Degenerate polygons: `error` (default) or `skip` (counted in `skippedShapes`). */
  degenerateShapes?: DegenerateShapePolicy;
  /** How sources are assigned to splits, for the per-split counts and tile folders. */
  split?: SplitOptions;
  /**
   * Also cut tiles and write them per split to `OUT/tiles/<split>/` as PNG pairs (`images/`, `masks/`) and/or
   * NumPy arrays (`npy/`); see `exportTiles`. Off when absent.
   */
  tiles?: { formats: ReadonlyArray<'png' | 'npy'> } & TileOptions;
  /**
   * Prepare only this shard's images: round-robin over all pairs sorted by id (see `shardItems`), after the
   * split is drawn over all of them, so each image lands in the split it has in a whole run. Default: all.
   */
  shard?: Shard;
}

export interface PrepareSummary {
  /** Masks written. */
  written: number;
  /** Tiles written per split (zero without the `tiles` option). */
  tiles: Record<Split, number>;
  /** Pixels per class name (and `ignore`), per split and in total. */
  pixels: Record<Split | 'total', Record<string, number>>;
  imagesWithoutLabels: string[];
  labelsWithoutImages: string[];
  /** Files skipped under `onBadInput: 'skip'`, with the reason. */
  skipped: SkipReport;
  /** Degenerate shapes left out under `degenerateShapes: 'skip'`. */
  skippedShapes: string[];
  /** The images this run (or shard) prepared or skipped, relative to the images folder, sorted. */
  inputs: string[];
  /** The files written, relative to the output folder, sorted per image. */
  outputs: string[];
}

/**
 * Turns label files into class-index masks on disk: pairs images and labels by stem, rasterizes each label
 * at its image's size, and writes `OUT/masks/<stem>.png` (single channel, class ids, ignore as 255),
 * optionally a colour preview, and optionally the tiles of each split. Each image's files are written
 * under temporary names and renamed into place (see `StagedOutput`), so a rerun overwrites them whole.
 * Returns per-class pixel counts per split.
 *
 * @example
 * ```ts
 * const summary = await prepareMasks({ imagesDir: 'xbd/images', labelsDir: 'xbd/labels', outDir: 'out', classMap: xbdClassMap() });
 * console.log(formatPrepareSummary(summary, xbdClassMap()));
 * ```
 */
export async function prepareMasks(options: PrepareMasksOptions): Promise<PrepareSummary> {
  const { classMap } = options;
  const shard = options.shard ?? WHOLE_JOB;
  const staged = await StagedOutput.open(options.outDir, shardName(shard));
  const folders = ['masks', ...(options.previews ? ['previews'] : [])];
  for (const folder of folders)
    for (const root of [options.outDir, staged.dir]) await mkdir(join(root, folder), { recursive: true });
  const masksDir = join(staged.dir, 'masks');
  const previewsDir = join(staged.dir, 'previews');
  const pairing = await pairFiles({
    imagesDir: options.imagesDir,
    labelsDir: options.labelsDir,
    multiImageLabelKeys: cocoImageKeys,
  });
  const splits = splitBySource(pairing.pairs, options.split);
  const shardIds = new Set(shardItems(pairing.pairs, shard).map((pair) => pair.id));
  const grid = options.tiles ? tileGrid(options.tiles) : undefined;
  const names = [...classMap.names, 'ignore'];
  const emptyCounts = (): Record<string, number> => Object.fromEntries(names.map((name) => [name, 0]));
  const summary: PrepareSummary = {
    written: 0,
    tiles: { train: 0, validation: 0, test: 0 },
    pixels: { train: emptyCounts(), validation: emptyCounts(), test: emptyCounts(), total: emptyCounts() },
    imagesWithoutLabels: pairing.imagesWithoutLabels,
    labelsWithoutImages: pairing.labelsWithoutImages,
    skipped: new SkipReport(),
    skippedShapes: [],
    inputs: [],
    outputs: [],
  };
  const readOptions = {
    ...(options.format === undefined ? {} : { format: options.format }),
    degenerateShapes: options.degenerateShapes ?? 'error',
    onSkippedShape: (file: string, problem: string) => summary.skippedShapes.push(`${file}: ${problem}`),
  };
  for (const split of ['train', 'validation', 'test'] as const) {
    for (const pair of splits[split].filter((p) => shardIds.has(p.id))) {
      summary.inputs.push(relative(options.imagesDir, pair.imagePath));
      try {
        const image = await decodeImage(pair.imagePath);
        const mask = await readLabelMask(pair, image, classMap, readOptions);
        await writeClassMaskPng(join(masksDir, `${pair.id}.png`), mask);
        if (options.previews)
          await colourPreview(image, mask, classMap).toFile(join(previewsDir, `${pair.id}.png`));
        if (grid) {
          const tiles = cutTiles({ ...pair, image, mask }, grid);
          await lastValueFrom(
            from(tiles).pipe(
              exportTiles({ outDir: join(staged.dir, 'tiles', split), formats: options.tiles!.formats }),
            ),
            { defaultValue: undefined },
          );
          summary.tiles[split] += tiles.length;
        }
        countPixels(mask, classMap, summary.pixels[split], summary.pixels.total);
        summary.outputs.push(...(await staged.publish()));
        summary.written++;
      } catch (error) {
        await staged.discard();
        handleBadInput(error, options.onBadInput ?? 'throw', summary.skipped);
      }
    }
  }
  await staged.close();
  summary.inputs.sort();
  return summary;
}

function countPixels(mask: ClassMask, classMap: ClassMap, ...into: Array<Record<string, number>>): void {
  const histogram = new Float64Array(256);
  for (const value of mask.data) histogram[value]!++;
  histogram.forEach((n, value) => {
    if (n === 0) return;
    const name = value === classMap.ignoreValue ? 'ignore' : classMap.names[value];
    if (name === undefined) throw new InputError(`mask value ${value}`, 'is not a class of the class map');
    for (const counts of into) counts[name] = (counts[name] ?? 0) + n;
  });
}

/** Class colours blended at 50% over the image (background and ignored pixels left as they are). */
export function colourPreview(image: RasterImage, mask: ClassMask, classMap: ClassMap): Sharp {
  const out = Buffer.alloc(image.width * image.height * 3);
  for (let i = 0; i < mask.data.length; i++) {
    const value = mask.data[i]!;
    const colour = value !== 0 && value !== classMap.ignoreValue ? classMap.colors[value] : undefined;
    for (let c = 0; c < 3; c++) {
      const pixel = image.data[i * image.channels + c]!;
      out[3 * i + c] = colour ? (pixel + colour[c]!) >> 1 : pixel;
    }
  }
  return sharp(out, { raw: { width: image.width, height: image.height, channels: 3 } }).png();
}

/** What a prepare run counts: its summary without the file lists. */
export type PrepareTotals = Omit<PrepareSummary, 'inputs' | 'outputs'>;

/** {@link PrepareTotals} as JSON holds them (a shard's manifest): the skip report as its items. */
export type PrepareTotalsJson = Omit<PrepareTotals, 'skipped'> & { skipped: { items: SkippedItem[] } };

/**
 * The totals of a whole run from those of its shards: counts added, unpaired files and skipped items
 * joined (each shard pairs the whole folder, so each lists the same unpaired files).
 */
export function addPrepareTotals(parts: readonly PrepareTotalsJson[]): PrepareTotals {
  const sum = (a: Record<string, number>, b: Record<string, number>): Record<string, number> => {
    for (const [key, n] of Object.entries(b)) a[key] = (a[key] ?? 0) + n;
    return a;
  };
  const union = (lists: string[][]): string[] => [...new Set(lists.flat())].sort();
  const skipped = new SkipReport();
  for (const { file, problem } of parts.flatMap((part) => part.skipped.items))
    skipped.add(new InputError(file, problem));
  return {
    written: parts.reduce((n, part) => n + part.written, 0),
    tiles: parts.reduce<Record<string, number>>((tiles, part) => sum(tiles, part.tiles), {
      train: 0,
      validation: 0,
      test: 0,
    }) as PrepareTotals['tiles'],
    pixels: Object.fromEntries(
      (['train', 'validation', 'test', 'total'] as const).map((column) => [
        column,
        parts.reduce<Record<string, number>>((counts, part) => sum(counts, part.pixels[column]), {}),
      ]),
    ) as PrepareTotals['pixels'],
    imagesWithoutLabels: union(parts.map((part) => part.imagesWithoutLabels)),
    labelsWithoutImages: union(parts.map((part) => part.labelsWithoutImages)),
    skipped,
    skippedShapes: parts.flatMap((part) => part.skippedShapes),
  };
}

/** A table of pixel counts per class and split, with the files skipped and unpaired. */
export function formatPrepareSummary(summary: PrepareTotals): string {
  const columns = ['train', 'validation', 'test', 'total'] as const;
  const tiles = summary.tiles.train + summary.tiles.validation + summary.tiles.test;
  const tileLine = tiles
    ? `, ${tiles} tiles (train ${summary.tiles.train}, validation ${summary.tiles.validation}, test ${summary.tiles.test})`
    : '';
  const lines = [
    `wrote ${summary.written} masks${tileLine}`,
    ['class'.padEnd(16), ...columns.map((c) => c.padStart(12))].join(''),
  ];
  for (const name of Object.keys(summary.pixels.total)) {
    lines.push(
      [name.padEnd(16), ...columns.map((c) => String(summary.pixels[c][name] ?? 0).padStart(12))].join(''),
    );
  }
  if (summary.imagesWithoutLabels.length)
    lines.push(
      `images without labels: ${summary.imagesWithoutLabels.length} (${summary.imagesWithoutLabels.slice(0, 5).join(', ')}${summary.imagesWithoutLabels.length > 5 ? ', ...' : ''})`,
    );
  if (summary.labelsWithoutImages.length)
    lines.push(
      `labels without images: ${summary.labelsWithoutImages.length} (${summary.labelsWithoutImages.slice(0, 5).join(', ')}${summary.labelsWithoutImages.length > 5 ? ', ...' : ''})`,
    );
  if (summary.skippedShapes.length) lines.push(`degenerate shapes left out: ${summary.skippedShapes.length}`);
  if (summary.skipped.count) lines.push(summary.skipped.toString());
  return lines.join('\n');
}
