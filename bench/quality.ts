// Model quality against a peer: segstream's UNet, trained by `stream-train train` with its defaults, against
// the same recipe written in PyTorch (bench/quality_unet_torch.py), on the same training images, both scored
// here by one scorer on the same held-out images. Also segstream with the old 64-tile shuffle buffer, to show
// what the memory-sized default changed. And PyTorch started from segstream's initial weights of the seed
// ('pytorch-init'): the two runs then differ only in what each trainer draws (tile order, augmentation) and
// computes, not in the luck of the initial weights, which sets most of the seed-to-seed spread at 6 epochs.
// Writes .bench-out/quality/quality.json and prints a Markdown table.
// The task is buildings against background (every xBD building, whatever its damage): in the epochs a 2-core
// run affords, neither side gets past predicting background on the 5 damage classes, which measures nothing.
//
// Each seed fixes the split (and with pytorch-init the start); --draws 0,1,... trains each side once per draw on
// it, each with other tile orders and augmentations (segstream's --draw-seed, the peer's order seed): at 6
// epochs these alone move a side's held-out mIoU by ±0.06, so the gap is taken over seeds, each seed's sides
// compared by their means over the draws both have.
// usage: npm run bench:quality -- [--images 30] [--epochs 6] [--seeds 0,1] [--draws 0] [--sides segstream,segstream-64,pytorch,pytorch-init] [--task buildings|damage]
//        npm run bench:quality -- --report   (the tables of the runs quality.json holds: it is written after each run)
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { selectBackend } from '../src/backend/selectBackend.js';
import { decodeImage } from '../src/io/decodeImage.js';
import { writeClassMaskPng } from '../src/io/writeClassMaskPng.js';
import type { ClassMap } from '../src/labels/classMap.js';
import { xbdClassMap } from '../src/labels/classMap.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { ConfusionMatrix, type SegmentationMetrics } from '../src/metrics/confusionMatrix.js';
import { buildNetworks } from '../src/models/buildNetworks.js';
import { predictFullImage } from '../src/predict/slidingWindow.js';
import { openRun } from '../src/runs/runDirectory.js';
import type { EpochSummaryEvent } from '../src/training/events.js';
import type { ClassMask, LabelledPair } from '../src/types.js';
import { benchDir, machineLine, python, xbdPairs } from './common.js';

const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '30' },
    epochs: { type: 'string', default: '6' },
    seeds: { type: 'string', default: '0,1' },
    draws: { type: 'string', default: '0' },
    sides: { type: 'string', default: 'segstream,segstream-64,pytorch' },
    task: { type: 'string', default: 'buildings' },
    report: { type: 'boolean', default: false },
  },
});
/** The recipe both sides train: segstream's `train` defaults, with the 16-filter UNet of the issue's first look. */
const RECIPE = {
  tile: 128,
  batch: 4,
  baseFilters: 16,
  depth: 3,
  learningRate: 1e-3,
  validationFraction: 0.2,
  threads: 2,
};
const SIDES = ['segstream', 'segstream-64', 'pytorch', 'pytorch-init'] as const;
/** The PyTorch sides, each compared with segstream's default run of the same seed. */
const PEERS = ['pytorch', 'pytorch-init'] as const;
type Side = (typeof SIDES)[number];

const root = resolve(benchDir, '..', '..');
const work = resolve(root, '.bench-out', 'quality');
const imageCount = Number(args.images);
const epochs = Number(args.epochs);
const seeds = args.seeds.split(',').map(Number);
const draws = args.draws.split(',').map(Number);
if (!draws.every((d) => Number.isInteger(d) && d >= 0))
  throw new RangeError(`bench:quality: --draws takes draw numbers 0, 1, ..., got ${args.draws}`);
/** Draw 0 is the seed's own run; draw d moves the order and augmentation seeds by 1000 d. */
const drawSeedOf = (seed: number, draw: number): number => seed + 1000 * draw;
/** A run's folder name: draw 0 keeps the name runs had before draws existed. */
const runName = (side: string, seed: number, draw: number): string =>
  `${side}-s${seed}${draw > 0 ? `-d${draw}` : ''}`;
const sides = args.sides.split(',') as Side[];
for (const side of sides)
  if (!SIDES.includes(side))
    throw new RangeError(`bench:quality: --sides takes ${SIDES.join(', ')}, got ${side}`);
/** Buildings against background: every xBD subtype, un-classified included, is a building. */
function buildingClassMap(): ClassMap {
  const damage = xbdClassMap();
  return {
    names: ['background', 'building'],
    ids: new Map([...damage.names.slice(1), 'un-classified'].map((name) => [name, 1])),
    ignoreValue: damage.ignoreValue,
    colors: [
      [0, 0, 0],
      [255, 0, 0],
    ],
  };
}
const TASKS: Record<string, () => ClassMap> = { buildings: buildingClassMap, damage: xbdClassMap };
const task = TASKS[args.task];
if (!task)
  throw new RangeError(`bench:quality: --task takes ${Object.keys(TASKS).join(' or ')}, got ${args.task}`);
const classMap = task();

interface RunResult {
  side: Side;
  seed: number;
  draw: number;
  trainLoss: number[];
  trainSecondsPerEpoch: number;
  peakRssMiB: number;
  metrics: SegmentationMetrics;
}

/** Runs a command to its end, sampling the child's peak resident memory (VmHWM) until it exits. */
function runMeasured(
  command: string,
  commandArgs: string[],
  logFile: string,
): Promise<{ peakRssMiB: number; log: string }> {
  return new Promise((done, fail) => {
    const child = spawn(command, commandArgs, {
      cwd: root,
      env: { ...process.env, SEGSTREAM_WASM_THREADS: String(RECIPE.threads) },
    });
    let log = '';
    let peakKiB = 0;
    const sample = (): void => {
      try {
        peakKiB = Math.max(
          peakKiB,
          Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0),
        );
      } catch {
        // The child has exited between two samples.
      }
    };
    const timer = setInterval(sample, 500);
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    child.on('error', fail);
    child.on('close', async (code) => {
      clearInterval(timer);
      await writeFile(logFile, log);
      if (code !== 0)
        fail(new Error(`${command} ${commandArgs.join(' ')} exited with ${code}; log in ${logFile}`));
      else done({ peakRssMiB: peakKiB / 1024, log });
    });
  });
}

/** The first `count` xBD pairs by name, linked into one folder pair (the data stays where it is). */
async function linkSubset(
  pairs: readonly LabelledPair[],
  dir: string,
): Promise<{ images: string; labels: string; classes: string }> {
  const folders = { images: join(dir, 'images'), labels: join(dir, 'labels') };
  await rm(dir, { recursive: true, force: true });
  await Promise.all(Object.values(folders).map((f) => mkdir(f, { recursive: true })));
  // The task's class map as a class file, so that `stream-train` reads the labels as this scorer does.
  const classes = join(dir, 'classes.json');
  await writeFile(
    classes,
    JSON.stringify({
      names: classMap.names,
      colors: classMap.colors,
      labels: Object.fromEntries(
        [...classMap.ids].map(([label, id]) => [label, id === classMap.ignoreValue ? 'ignore' : id]),
      ),
    }),
  );
  for (const pair of pairs) {
    await symlink(pair.imagePath, join(folders.images, pair.imagePath.split('/').pop()!));
    await symlink(pair.labelPath, join(folders.labels, pair.labelPath.split('/').pop()!));
  }
  return { ...folders, classes };
}

async function trainSegstream(
  side: Side,
  seed: number,
  draw: number,
  data: { images: string; labels: string; classes: string },
): Promise<{ runDir: string; trainLoss: number[]; trainSecondsPerEpoch: number; peakRssMiB: number }> {
  const runDir = join(work, runName(side, seed, draw));
  await rm(runDir, { recursive: true, force: true });
  const flags = [
    'train',
    '--images',
    data.images,
    '--labels',
    data.labels,
    '--classes',
    data.classes,
    '--out',
    runDir,
    '--seed',
    String(seed),
    '--epochs',
    String(epochs),
    '--base-filters',
    String(RECIPE.baseFilters),
    '--validation-fraction',
    String(RECIPE.validationFraction),
  ];
  if (draw > 0) flags.push('--draw-seed', String(drawSeedOf(seed, draw)));
  if (side === 'segstream-64') flags.push('--shuffle-buffer', '64');
  const { peakRssMiB } = await runMeasured(
    process.execPath,
    [join(root, 'bin', 'stream-train'), ...flags],
    `${runDir}.log`,
  );
  const epochEvents = (await readFile(join(runDir, 'metrics.ndjson'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as EpochSummaryEvent)
    .filter((event) => event.type === 'epoch');
  const trainSeconds = epochEvents.reduce((sum, e) => sum + e.seconds - (e.validationSeconds ?? 0), 0);
  return {
    runDir,
    trainLoss: epochEvents.map((e) => e.trainLoss),
    trainSecondsPerEpoch: trainSeconds / epochEvents.length,
    peakRssMiB,
  };
}

/** The seed's split, read from the run.json of segstream's run of this seed and draw (every side trains on it). */
async function splitOf(
  seed: number,
  draw: number,
  pairs: readonly LabelledPair[],
): Promise<{ train: LabelledPair[]; heldOut: LabelledPair[] }> {
  const manifest = JSON.parse(
    await readFile(join(work, runName('segstream', seed, draw), 'run.json'), 'utf8'),
  ) as {
    splits: { train: string[]; validation: string[]; test: string[] };
  };
  const byId = new Map(pairs.map((p) => [p.id, p]));
  return {
    train: manifest.splits.train.map((id) => byId.get(id)!),
    heldOut: [...manifest.splits.validation, ...manifest.splits.test].map((id) => byId.get(id)!),
  };
}

/** Each image's label mask, rasterized once: every side of every seed is scored against the same masks. */
const truthMasks = new Map<string, Promise<ClassMask>>();
function truthMask(pair: LabelledPair): Promise<ClassMask> {
  let mask = truthMasks.get(pair.id);
  if (!mask) {
    mask = sharp(pair.imagePath)
      .metadata()
      .then(({ width, height }) => readLabelMask(pair, { width: width!, height: height! }, classMap));
    truthMasks.set(pair.id, mask);
  }
  return mask;
}

/**
 * Writes the initial UNet that `stream-train train --seed <seed>` builds (same options, same seeded
 * generator) for the peer to start from: every weight by its name into `<path>.bin` (float32, TF.js layout)
 * with a manifest `<path>.json`, plus one random tile and the model's inference logits for it, which the peer
 * checks its copy against before training, so a wrong mapping stops the run instead of skewing it.
 */
async function writeInitialWeights(seed: number, path: string): Promise<void> {
  const { model } = buildNetworks('unet', {
    numClasses: classMap.names.length,
    inputChannels: 3,
    seed,
    unet: { baseFilters: RECIPE.baseFilters, depth: RECIPE.depth },
  });
  const arrays: Float32Array[] = [];
  const weights: Array<{ name: string; shape: number[]; offset: number }> = [];
  let offset = 0;
  for (const weight of model.weights) {
    const values = weight.read().dataSync() as Float32Array;
    weights.push({ name: weight.originalName, shape: weight.shape as number[], offset });
    arrays.push(values);
    offset += values.length;
  }
  const [input, logits] = tf.tidy(() => {
    const tile = tf.randomUniform([1, RECIPE.tile, RECIPE.tile, 3], 0, 1, 'float32', seed);
    return [tile.dataSync() as Float32Array, (model.predict(tile) as tf.Tensor).dataSync() as Float32Array];
  });
  model.dispose();
  await writeFile(
    `${path}.bin`,
    Buffer.concat(arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))),
  );
  await writeFile(
    `${path}.json`,
    JSON.stringify({ weights, check: { input: [...input!], logits: [...logits!] } }),
  );
}

async function trainPytorch(
  side: Side,
  seed: number,
  draw: number,
  split: { train: LabelledPair[]; heldOut: LabelledPair[] },
): Promise<{ predictions: string; trainLoss: number[]; trainSecondsPerEpoch: number; peakRssMiB: number }> {
  const dir = join(work, runName(side, seed, draw));
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'masks'), { recursive: true });
  const trainImages: string[][] = [];
  for (const pair of split.train) {
    const maskPath = join(dir, 'masks', `${pair.id}.png`);
    await writeClassMaskPng(maskPath, await truthMask(pair));
    trainImages.push([pair.imagePath, maskPath]);
  }
  const initialWeights = side === 'pytorch-init' ? join(dir, 'initial-weights') : undefined;
  if (initialWeights) await writeInitialWeights(seed, initialWeights);
  const job = {
    ...(initialWeights ? { initialWeights } : {}),
    trainImages,
    heldOut: split.heldOut.map((p) => [p.id, p.imagePath]),
    outDir: join(dir, 'predictions'),
    seed,
    ...(draw > 0 ? { drawSeed: drawSeedOf(seed, draw) } : {}),
    epochs,
    classes: classMap.names.length,
    ...RECIPE,
  };
  await writeFile(join(dir, 'job.json'), JSON.stringify(job));
  const { log } = await runMeasured(
    python,
    [join(root, 'bench', 'quality_unet_torch.py'), join(dir, 'job.json')],
    `${dir}.log`,
  );
  const result = JSON.parse(log.trim().split('\n').pop()!) as {
    epochs: Array<{ loss: number; seconds: number }>;
    peakRssMiB: number;
  };
  return {
    predictions: job.outDir,
    trainLoss: result.epochs.map((e) => e.loss),
    trainSecondsPerEpoch: result.epochs.reduce((s, e) => s + e.seconds, 0) / result.epochs.length,
    peakRssMiB: result.peakRssMiB,
  };
}

/** One scorer for both sides: full-size class masks against the labels, pooled over the held-out images. */
async function score(
  heldOut: readonly LabelledPair[],
  predict: (pair: LabelledPair) => Promise<Uint8Array>,
): Promise<SegmentationMetrics> {
  const matrix = new ConfusionMatrix(classMap.names.length, classMap.ignoreValue);
  for (const pair of heldOut) matrix.add((await truthMask(pair)).data, await predict(pair));
  return matrix.metrics(classMap.names);
}

const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
const spread = (values: number[]): string =>
  values.length > 1 ? `±${((Math.max(...values) - Math.min(...values)) / 2).toFixed(3)}` : '';

/** The per-run and per-side tables, and the goal's gap. */
function printTables(results: readonly RunResult[], sides: readonly Side[]): void {
  console.log(
    '\n| side | seed | draw | final train loss | held-out mIoU | macro F1 | ' +
      classMap.names.map((n) => `IoU ${n}`).join(' | ') +
      ' | train s/epoch | peak RSS MiB |',
  );
  console.log('|---|---:|---:|---:|---:|---:|' + classMap.names.map(() => '---:').join('|') + '|---:|---:|');
  for (const r of results) {
    const iou = classMap.names.map(
      (name) => r.metrics.perClass.find((c) => c.name === name)?.iou.toFixed(3) ?? '-',
    );
    console.log(
      `| ${r.side} | ${r.seed} | ${r.draw} | ${r.trainLoss.at(-1)!.toFixed(3)} | ${r.metrics.meanIoU.toFixed(3)} | ${r.metrics.macro.f1.toFixed(3)} | ${iou.join(' | ')} | ${r.trainSecondsPerEpoch.toFixed(0)} | ${r.peakRssMiB.toFixed(0)} |`,
    );
  }
  console.log('\n| side | mean held-out mIoU | mean macro F1 | mean train s/epoch |');
  console.log('|---|---:|---:|---:|');
  for (const side of sides) {
    const runs = results.filter((r) => r.side === side);
    const mious = runs.map((r) => r.metrics.meanIoU);
    console.log(
      `| ${side} | ${mean(mious).toFixed(3)} ${spread(mious)} | ${mean(runs.map((r) => r.metrics.macro.f1)).toFixed(3)} | ${mean(runs.map((r) => r.trainSecondsPerEpoch)).toFixed(0)} |`,
    );
  }
  const meanIoUOf = (side: Side): number =>
    mean(results.filter((r) => r.side === side).map((r) => r.metrics.meanIoU));
  for (const peer of PEERS.filter((p) => sides.includes(p))) {
    // Each seed gives both sides the same split, so the per-seed differences are paired: their spread, not
    // the sides' own, says how well the gap is known. A seed's draws share its split, so they are averaged
    // within the seed (over the draws both sides have) rather than counted as more seeds.
    const differences = [...new Set(results.map((r) => r.seed))].flatMap((seed) => {
      const runsOf = (side: Side) => results.filter((r) => r.side === side && r.seed === seed);
      const drawsOf = (side: Side) => runsOf(side).map((r) => r.draw);
      const both = drawsOf('segstream').filter((d) => drawsOf(peer).includes(d));
      const meanOver = (side: Side) =>
        mean(
          runsOf(side)
            .filter((r) => both.includes(r.draw))
            .map((r) => r.metrics.meanIoU),
        );
      return both.length > 0 ? [meanOver('segstream') - meanOver(peer)] : [];
    });
    const meanDifference = mean(differences);
    const deviation = Math.sqrt(
      differences.reduce((sum, d) => sum + (d - meanDifference) ** 2, 0) /
        Math.max(1, differences.length - 1),
    );
    // Student's t, not the normal 1.96: with a handful of seeds the deviation is itself an estimate.
    const halfWidth = (studentT975(differences.length - 1) * deviation) / Math.sqrt(differences.length);
    console.log(
      `\nsegstream (defaults) - ${peer}: ${(meanIoUOf('segstream') - meanIoUOf(peer)).toFixed(3)} mean IoU (goal >= -0.01); ` +
        `paired over ${differences.length} seeds: ${meanDifference.toFixed(3)} ± ${halfWidth.toFixed(3)} (95%, Student's t, ${differences.length - 1} degrees of freedom)`,
    );
  }
}

/** Two-sided 95% quantiles of Student's t for 1-30 degrees of freedom. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** Student's t 0.975 quantile: the table up to 30 degrees of freedom, then its expansion around the normal 1.96. */
function studentT975(degrees: number): number {
  if (degrees < 1) return Number.NaN;
  if (degrees <= T975.length) return T975[degrees - 1]!;
  const z = 1.959964;
  return z + (z ** 3 + z) / (4 * degrees) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * degrees ** 2);
}

/** What quality.json holds: every run of one task, image count and epoch count, whichever invocation made it. */
interface SavedRuns {
  machine: string;
  task: string;
  images: number;
  epochs: number;
  recipe: typeof RECIPE;
  results: RunResult[];
}
const savedPath = join(work, 'quality.json');
// Runs saved before draws existed have no draw: they were draw 0.
const saved = await readFile(savedPath, 'utf8').then(
  (text) => {
    const runs = JSON.parse(text) as SavedRuns;
    return { ...runs, results: runs.results.map((r) => ({ ...r, draw: r.draw ?? 0 })) };
  },
  () => undefined,
);
const seedsOf = (runs: RunResult[]): string =>
  [...new Set(runs.map((r) => r.seed))].sort((a, b) => a - b).join(',');

if (args.report) {
  if (!saved) throw new Error(`bench:quality --report: ${savedPath} does not exist; run the benchmark first`);
  console.log(
    `${saved.machine}; ${saved.task}, ${saved.images} images, ${saved.epochs} epochs, seeds ${seedsOf(saved.results)}; ${saved.results.length} runs done`,
  );
  printTables(saved.results, [...new Set(saved.results.map((r) => r.side))]);
  process.exit(0);
}
// Runs of the same recipe add up over invocations (more seeds later); a side and seed run again replaces its
// old result. Another task, image count or epoch count starts afresh.
const sameRecipe =
  saved?.task === args.task &&
  saved.images === imageCount &&
  saved.epochs === epochs &&
  JSON.stringify(saved.recipe) === JSON.stringify(RECIPE);
const earlier = sameRecipe ? saved!.results : [];
console.log(machineLine());
console.log(
  `bench:quality: ${args.task} (${classMap.names.join(', ')}), ${imageCount} xBD images (first by name), ${epochs} epochs, seeds ${seeds.join(',')}; UNet ${RECIPE.baseFilters} filters depth ${RECIPE.depth}, ${RECIPE.tile} px tiles, batch ${RECIPE.batch}, Adam ${RECIPE.learningRate} constant, flips + quarter turns, sparse cross-entropy, ${RECIPE.threads} threads each`,
);
await selectBackend({ backend: 'wasm' });
const allPairs = (await xbdPairs()).sort((a, b) => a.id.localeCompare(b.id)).slice(0, imageCount);
const data = await linkSubset(allPairs, join(work, 'data'));
/** A PyTorch peer of `seed`, trained on that seed's split and scored from the PNGs it predicts. */
async function pytorchSide(side: Side, seed: number, draw: number) {
  const split = await splitOf(seed, draw, allPairs);
  const run = await trainPytorch(side, seed, draw, split);
  const metrics = await score(split.heldOut, async (pair) => {
    const { data: bytes } = await sharp(join(run.predictions, `${pair.id}.png`))
      .extractChannel(0)
      .raw()
      .toBuffer({ resolveWithObject: true });
    return new Uint8Array(bytes);
  });
  return { run, metrics };
}

/** segstream's run of `seed` (`side` says which shuffle), scored from its newest checkpoint. */
async function segstreamSide(side: Side, seed: number, draw: number) {
  const run = await trainSegstream(side, seed, draw, data);
  const { model } = await openRun(run.runDir, 'latest');
  const split = await splitOf(seed, draw, allPairs);
  const metrics = await score(
    split.heldOut,
    async (pair) =>
      (
        await predictFullImage(model, await decodeImage(pair.imagePath), {
          tileSize: RECIPE.tile,
          overlap: 0,
        })
      ).classes.data,
  );
  model.dispose();
  return { run, metrics };
}

/** The runs of quality.json that this invocation did not run again, then this invocation's. */
const withEarlier = (done: RunResult[]): RunResult[] => [
  ...earlier.filter((r) => !done.some((d) => d.side === r.side && d.seed === r.seed && d.draw === r.draw)),
  ...done,
];
const results: RunResult[] = [];
for (const [seed, draw] of seeds.flatMap((seed) => draws.map((draw) => [seed, draw] as const))) {
  // segstream's default run comes first: its run.json holds the split that every side of this seed uses.
  for (const side of ['segstream', ...sides.filter((s) => s !== 'segstream')] as Side[]) {
    if (side !== 'segstream' && !sides.includes(side)) continue;
    const started = Date.now();
    // Each side trains, then the one scorer scores its predictions of the held-out images.
    const { run, metrics } = side.startsWith('pytorch')
      ? await pytorchSide(side, seed, draw)
      : await segstreamSide(side, seed, draw);
    results.push({
      side,
      seed,
      draw,
      trainLoss: run.trainLoss,
      trainSecondsPerEpoch: run.trainSecondsPerEpoch,
      peakRssMiB: run.peakRssMiB,
      metrics,
    });
    const saving: SavedRuns = {
      machine: machineLine(),
      task: args.task,
      images: imageCount,
      epochs,
      recipe: RECIPE,
      results: withEarlier(results),
    };
    await writeFile(savedPath, JSON.stringify(saving, null, 2));
    const last = results.at(-1)!;
    console.log(
      `${side} seed ${seed} draw ${draw}: held-out mIoU ${last.metrics.meanIoU.toFixed(3)}, macro F1 ${last.metrics.macro.f1.toFixed(3)}, final train loss ${last.trainLoss.at(-1)!.toFixed(3)} (${((Date.now() - started) / 60000).toFixed(1)} min)`,
    );
  }
}
const all = withEarlier(results);
if (earlier.length > 0)
  console.log(
    `with the ${earlier.length} earlier runs of this recipe in quality.json: seeds ${seedsOf(all)}`,
  );
printTables(all, [...new Set(all.map((r) => r.side))]);
process.exit(0);
