import type * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import type { RasterReadOptions } from '../io/geoTiff.js';
import { type ReadLabelMask, readLabelledImage } from '../io/readLabelledImage.js';
import type { ClassMap } from '../labels/classMap.js';
import { ConfusionMatrix, type SegmentationMetrics } from '../metrics/confusionMatrix.js';
import { predictFullImage, type TestTimeAugmentation } from '../predict/slidingWindow.js';
import { pairFiles } from '../sources/pairFiles.js';
import { type Shard, shardItems, WHOLE_JOB } from '../util/shard.js';

/** One class's row of an evaluation. */
export interface ClassEvaluation {
  name: string;
  precision: number;
  recall: number;
  f1: number;
  iou: number;
  /** (TP + TN) / pixels, one class against the rest. */
  accuracy: number;
  support: number;
}

/** What `eval --json` writes. */
export interface EvaluationReport {
  images: number;
  pixels: number;
  per_class: ClassEvaluation[];
  /** Macro means over classes present, pixel accuracy, and mean IoU. */
  overall: { precision: number; recall: number; f1: number; iou: number; accuracy: number; mean_iou: number };
  xview2?: { localizationF1: number; damageF1: number; score: number };
  /** Rows: true class; columns: predicted class. */
  confusion_matrix: number[][];
  /** The test-time augmentation the predictions were made with, when there was one. */
  test_time_augmentation?: Exclude<TestTimeAugmentation, 'none'>;
  /** The checkpoint folder evaluated (`eval` writes it into RUN/eval.json). */
  checkpoint?: string;
}

/** Options of {@link evaluateFolder}. */
export interface EvaluateOptions {
  imagesDir: string;
  labelsDir: string;
  /** Evaluate only the pairs whose ids are listed (e.g. a run's test split). All pairs when absent. */
  ids?: readonly string[];
  classMap: ClassMap;
  readMask: ReadLabelMask;
  format?: string;
  /** Band selection and ranges for rasters: the run's (see `decodeImage`). */
  raster?: RasterReadOptions;
  /** [tileSize=256] Sliding-window size (the run's tile size). */
  tileSize?: number;
  /** ['none'] Average each window over its flips or all 8 symmetries (see `predictFullImage`). */
  testTimeAugmentation?: TestTimeAugmentation;
  /** Called after each image, for progress. */
  onImage?: (id: string, done: number, total: number) => void;
  /** Evaluate only this shard's pairs: round-robin over the pairs to evaluate, sorted by id (see `shardItems`). Default: all. */
  shard?: Shard;
}

/** Turns the confusion matrix into the report's shape (snake_case keys, as other tools read them). */
export function evaluationReport(
  matrix: ConfusionMatrix,
  classNames: string[],
  images: number,
): EvaluationReport {
  const metrics: SegmentationMetrics = matrix.metrics(classNames);
  const n = matrix.numClasses;
  const total = matrix.total;
  const perClass = metrics.perClass.map((c, k): ClassEvaluation => {
    let predicted = 0;
    for (let row = 0; row < n; row++) predicted += matrix.at(row, k);
    const truePositive = matrix.at(k, k);
    const trueNegative = total - c.support - predicted + truePositive;
    return {
      name: c.name,
      precision: c.precision,
      recall: c.recall,
      f1: c.f1,
      iou: c.iou,
      accuracy: total > 0 ? (truePositive + trueNegative) / total : NaN,
      support: c.support,
    };
  });
  const report: EvaluationReport = {
    images,
    pixels: metrics.pixels,
    per_class: perClass,
    overall: {
      ...metrics.macro,
      iou: metrics.meanIoU,
      accuracy: metrics.pixelAccuracy,
      mean_iou: metrics.meanIoU,
    },
    confusion_matrix: Array.from({ length: n }, (_, row) =>
      Array.from({ length: n }, (_, col) => matrix.at(row, col)),
    ),
  };
  if (metrics.xview2) report.xview2 = metrics.xview2;
  return report;
}

/**
 * Evaluates a model on every labelled image of a folder: full-size sliding-window predictions against the
 * label masks, summed into one confusion matrix.
 *
 * @example
 * ```ts
 * const report = await evaluateFolder(model, { imagesDir, labelsDir, classMap, readMask: readLabelMask, tileSize: 256 });
 * console.log(report.overall.mean_iou);
 * ```
 * @param model The segmentation model (logits).
 * @param options Folders, class map, mask reader and window size.
 */
export async function evaluateFolder(
  model: tf.LayersModel,
  options: EvaluateOptions,
): Promise<EvaluationReport> {
  const paired = (await pairFiles({ imagesDir: options.imagesDir, labelsDir: options.labelsDir })).pairs;
  if (paired.length === 0)
    throw new Error(
      `no image in ${options.imagesDir} has a label file of the same name in ${options.labelsDir}`,
    );
  const wanted = options.ids ? new Set(options.ids) : undefined;
  const pairs = wanted ? paired.filter((pair) => wanted.has(pair.id)) : paired;
  if (wanted && pairs.length !== wanted.size) {
    const found = new Set(pairs.map((pair) => pair.id));
    const missing = [...wanted].filter((id) => !found.has(id));
    throw new Error(
      `${missing.length} of the ${wanted.size} images to evaluate have no image and label pair in ${options.imagesDir} / ${options.labelsDir}: ${missing.slice(0, 5).join(', ')}`,
    );
  }
  const matrix = new ConfusionMatrix(options.classMap.names.length, options.classMap.ignoreValue);
  const shardPairs = shardItems(pairs, options.shard ?? WHOLE_JOB);
  for (const [index, pair] of shardPairs.entries()) {
    const labelled = await readLabelledImage(pair, {
      classMap: options.classMap,
      readMask: options.readMask,
      ...(options.format ? { format: options.format } : {}),
      ...(options.raster ? { raster: options.raster } : {}),
    });
    const { classes } = await predictFullImage(model, labelled.image, {
      tileSize: options.tileSize ?? 256,
      ...(options.testTimeAugmentation ? { testTimeAugmentation: options.testTimeAugmentation } : {}),
    });
    matrix.add(labelled.mask.data, classes.data);
    options.onImage?.(pair.id, index + 1, shardPairs.length);
  }
  return augmentedReport(
    matrix,
    options.classMap.names,
    shardPairs.length,
    options.testTimeAugmentation ?? 'none',
  );
}

/** {@link evaluationReport}, naming the test-time augmentation when there was one. */
function augmentedReport(
  matrix: ConfusionMatrix,
  classNames: string[],
  images: number,
  augmentation: TestTimeAugmentation,
): EvaluationReport {
  const report = evaluationReport(matrix, classNames, images);
  return augmentation === 'none' ? report : { ...report, test_time_augmentation: augmentation };
}

/**
 * The evaluation of a whole set from those of its parts (the shards of one `eval`): their integer confusion
 * matrices added, and every score computed from the sum, so the result equals a one-process evaluation
 * exactly.
 *
 * @throws RangeError when the parts have other classes or test-time augmentation than the first.
 */
export function addEvaluations(parts: readonly EvaluationReport[]): EvaluationReport {
  const [first] = parts;
  if (!first) throw new RangeError('addEvaluations: no evaluations to add');
  const classNames = first.per_class.map((c) => c.name);
  const matrix = new ConfusionMatrix(classNames.length);
  for (const [k, part] of parts.entries()) {
    const names = part.per_class.map((c) => c.name);
    if (!isSameList(names, classNames))
      throw new RangeError(
        `addEvaluations: evaluation ${k} has classes ${names.join(', ')}, the first ${classNames.join(', ')}`,
      );
    if (part.test_time_augmentation !== first.test_time_augmentation)
      throw new RangeError(
        `addEvaluations: evaluation ${k} was made with test-time augmentation ${part.test_time_augmentation ?? 'none'}, the first with ${first.test_time_augmentation ?? 'none'}`,
      );
    part.confusion_matrix.forEach((row, t) =>
      row.forEach((count, p) => (matrix.counts[t * classNames.length + p]! += count)),
    );
  }
  return augmentedReport(
    matrix,
    classNames,
    parts.reduce((n, part) => n + part.images, 0),
    first.test_time_augmentation ?? 'none',
  );
}

const isSameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

const percent = (v: number): string => (Number.isFinite(v) ? v.toFixed(4) : '-');

/** The report as an aligned text table: one row per class, then the overall row. */
export function evaluationTable(report: EvaluationReport): string {
  const header = ['class', 'precision', 'recall', 'f1', 'iou', 'accuracy', 'support'];
  const rows = report.per_class.map((c) => [
    c.name,
    percent(c.precision),
    percent(c.recall),
    percent(c.f1),
    percent(c.iou),
    percent(c.accuracy),
    String(c.support),
  ]);
  const o = report.overall;
  rows.push([
    'overall (macro)',
    percent(o.precision),
    percent(o.recall),
    percent(o.f1),
    percent(o.iou),
    percent(o.accuracy),
    String(report.pixels),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const format = (cells: string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  const lines = [
    format(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(format),
    `mean IoU ${percent(o.mean_iou)}, pixel accuracy ${percent(o.accuracy)}`,
  ];
  if (report.xview2)
    lines.push(
      `xView2 score ${percent(report.xview2.score)} (localization F1 ${percent(report.xview2.localizationF1)}, damage F1 ${percent(report.xview2.damageF1)})`,
    );
  return `${lines.join('\n')}\n`;
}

/** The confusion matrix as CSV with class names as row and column headers (rows: true, columns: predicted). */
export function confusionCsv(report: EvaluationReport): string {
  const quote = (s: string): string => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const names = report.per_class.map((c) => quote(c.name));
  const lines = [
    ['true\\predicted', ...names].join(','),
    ...report.confusion_matrix.map((row, i) => [names[i], ...row].join(',')),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * The confusion matrix as a PNG heat map: one square per cell, each row normalised by its class's pixels
 * (so rare classes are as visible as common ones), white 0 to dark blue 1.
 *
 * @param report An evaluation.
 * @param cellSize [cellSize=48] Pixels per cell side.
 */
export async function confusionHeatmapPng(report: EvaluationReport, cellSize = 48): Promise<Buffer> {
  const n = report.confusion_matrix.length;
  const side = n * cellSize;
  const rgb = new Uint8Array(side * side * 3);
  report.confusion_matrix.forEach((row, i) => {
    const sum = row.reduce((a, b) => a + b, 0);
    row.forEach((count, j) => {
      const t = sum > 0 ? count / sum : 0;
      const colour = [255 - t * 225, 255 - t * 175, 255 - t * 80];
      for (let y = i * cellSize; y < (i + 1) * cellSize; y++)
        for (let x = j * cellSize; x < (j + 1) * cellSize; x++) rgb.set(colour, (y * side + x) * 3);
    });
  });
  return sharp(rgb, { raw: { width: side, height: side, channels: 3 } })
    .png()
    .toBuffer();
}
