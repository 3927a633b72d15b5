import { LOSS_NAMES, type LossConfig } from '../losses/buildLoss.js';
import { ARCHITECTURE_NAMES } from '../models/buildNetworks.js';
import { DEFAULT_SHUFFLE_MEMORY_MIB } from '../tiling/shuffleBudget.js';
import type { OptimizerConfig } from '../training/optimizers.js';
import type { ScheduleConfig } from '../training/schedules.js';
import { BACKEND_OPTION_DESCRIPTION } from './backendOption.js';

/** One `train` option: its flag, meaning and default, shared by `--help`, config files and validation. */
export interface TrainOptionSpec {
  /** camelCase key in configs and in code. */
  key: string;
  flags: string;
  description: string;
  default?: string | number | boolean | readonly string[];
  /** `named`: a name from `choices` on the command line, or in a config file an object `{ name, ...parameters }`. */
  kind: 'string' | 'integer' | 'number' | 'boolean' | 'list' | 'numbers' | 'named';
  choices?: readonly string[];
}

/** Every option of `train`, in the order `--help` lists them; {@link TrainConfig} is typed from it. */
export const TRAIN_OPTIONS = [
  {
    key: 'config',
    flags: '--config <file>',
    description: 'JSON or YAML file with any of these options (flags override it)',
    kind: 'string',
  },
  {
    key: 'arch',
    flags: '--arch <name>',
    description: 'architecture',
    default: 'unet',
    kind: 'string',
    choices: ARCHITECTURE_NAMES,
  },
  {
    key: 'images',
    flags: '--images <dir>',
    description:
      'image folder; with --labels absent too, a synthetic xBD-format set is generated into the run folder',
    kind: 'string',
  },
  {
    key: 'labels',
    flags: '--labels <dir>',
    description:
      'label folder (xBD, LabelMe, COCO, GeoJSON JSON or PNG masks), paired with images by file stem',
    kind: 'string',
  },
  {
    key: 'classes',
    flags: '--classes <preset|file>',
    description: 'class map preset or JSON class file',
    default: 'xbd',
    kind: 'string',
  },
  {
    key: 'format',
    flags: '--format <format>',
    description: 'label format; auto detects it per file',
    default: 'auto',
    kind: 'string',
  },
  {
    key: 'bands',
    flags: '--bands <b,...>',
    description:
      'raster bands to train on, numbered from 1 as GDAL does (e.g. 4,3,2); default every band. The model takes one input channel per band',
    kind: 'numbers',
  },
  {
    key: 'bandRanges',
    flags: '--band-ranges <low:high,...>',
    description:
      "each band's sample range mapped onto 0..255, one low:high per band (default: 0..255 for 8-bit rasters, else mean +/- 3 std over all training rasters together, recorded in run.json for eval and predict)",
    kind: 'string',
  },
  { key: 'epochs', flags: '--epochs <n>', description: 'epochs', default: 5, kind: 'integer' },
  {
    key: 'batchSize',
    flags: '--batch-size <n>',
    description: 'tiles per batch',
    default: 4,
    kind: 'integer',
  },
  {
    key: 'tileSize',
    flags: '--tile-size <px>',
    description: 'tile side in pixels',
    default: 128,
    kind: 'integer',
  },
  {
    key: 'baseFilters',
    flags: '--base-filters <n>',
    description: 'filters of the first level (UNet, Pix2Pix generator)',
    default: 8,
    kind: 'integer',
  },
  { key: 'depth', flags: '--depth <n>', description: 'UNet pooling steps', default: 3, kind: 'integer' },
  {
    key: 'backbone',
    flags: '--backbone <depth>',
    description: 'DeepLabV3+: ResNet 18, 34 or 50',
    default: '50',
    kind: 'string',
    choices: ['18', '34', '50'],
  },
  {
    key: 'backboneWidth',
    flags: '--backbone-width <n>',
    description: 'DeepLabV3+: stem filters of the ResNet (64 is the standard width)',
    default: 64,
    kind: 'integer',
  },
  {
    key: 'outputStride',
    flags: '--output-stride <n>',
    description: 'DeepLabV3+: input size over feature size, 8 or 16',
    default: '16',
    kind: 'string',
    choices: ['8', '16'],
  },
  {
    key: 'headFilters',
    flags: '--head-filters <n>',
    description: 'DeepLabV3+: filters of the ASPP branches and the decoder',
    default: 256,
    kind: 'integer',
  },
  {
    key: 'backboneWeights',
    flags: '--backbone-weights <model.json>',
    description:
      'DeepLabV3+: copy a saved TF.js ResNet (path or URL, e.g. converted ImageNet ResNet-50) into the backbone by layer name',
    kind: 'string',
  },
  {
    key: 'separable',
    flags: '--separable',
    description: 'DeepLabV3+: depthwise-separable convolutions in ASPP and decoder',
    default: false,
    kind: 'boolean',
  },
  {
    key: 'loss',
    flags: '--loss <name>',
    description: 'loss; a config file can give { name, ...parameters }',
    default: 'sparseCrossEntropy',
    kind: 'named',
    choices: LOSS_NAMES,
  },
  {
    key: 'classWeights',
    flags: '--class-weights <w,...>',
    description: 'per-class loss weights, one per class, comma-separated',
    kind: 'numbers',
  },
  {
    key: 'optimizer',
    flags: '--optimizer <name>',
    description: 'adam or sgd (momentum 0.9); a config file can give { name, ...parameters }',
    default: 'adam',
    kind: 'named',
    choices: ['adam', 'sgd'],
  },
  {
    key: 'learningRate',
    flags: '--learning-rate <rate>',
    description: 'base learning rate',
    default: 0.001,
    kind: 'number',
  },
  {
    key: 'schedule',
    flags: '--schedule <name>',
    description:
      'learning-rate schedule: step (x0.1 every third of the epochs), cosine and poly (over the run), reduceOnPlateau; a config file can give { name, ...parameters }',
    default: 'constant',
    kind: 'named',
    choices: ['constant', 'step', 'cosine', 'poly', 'reduceOnPlateau'],
  },
  {
    key: 'microBatches',
    flags: '--micro-batches <n>',
    description:
      'split each batch into n micro-batches and accumulate their gradients (large batches in little memory)',
    default: 1,
    kind: 'integer',
  },
  {
    key: 'earlyStopping',
    flags: '--early-stopping <epochs>',
    description: 'stop when validation mean IoU has not improved for this many epochs (0: off)',
    default: 0,
    kind: 'integer',
  },
  {
    key: 'discriminatorFilters',
    flags: '--discriminator-filters <n>',
    description:
      "Pix2Pix: filters of the discriminator's first layer (Pix2Pix's 64; at 64 it takes most of a step's time next to a narrow generator)",
    default: 64,
    kind: 'integer',
  },
  {
    key: 'discriminatorEvery',
    flags: '--discriminator-every <k>',
    description: 'Pix2Pix: train the discriminator on every k-th step',
    default: 4,
    kind: 'integer',
  },
  {
    key: 'seed',
    flags: '--seed <n>',
    description: 'seed of split, initial weights, shuffle, augmentation',
    default: 0,
    kind: 'integer',
  },
  {
    key: 'drawSeed',
    flags: '--draw-seed <n>',
    description:
      'seed of tile order, augmentation and dropout alone (default: --seed): runs that differ in it share split and initial weights',
    kind: 'integer',
  },
  {
    key: 'validationFraction',
    flags: '--validation-fraction <f>',
    description: 'share of source images for validation (as much again is held out for test)',
    default: 0.1,
    kind: 'number',
  },
  {
    key: 'shuffleMemory',
    flags: '--shuffle-memory <MiB>',
    description: 'shuffle buffer as a memory budget: as many tiles as fit, mixing many scenes in each batch',
    default: DEFAULT_SHUFFLE_MEMORY_MIB,
    kind: 'number',
  },
  {
    key: 'shuffleBuffer',
    flags: '--shuffle-buffer <tiles>',
    description: 'shuffle buffer in tiles instead of --shuffle-memory (0: off)',
    kind: 'integer',
  },
  {
    key: 'sampleBalance',
    flags: '--sample-balance <classes:factor>',
    description:
      'draw training tiles that hold these classes (names or ids, comma-separated) factor times per epoch, e.g. minor-damage,major-damage:4',
    kind: 'string',
  },
  {
    key: 'augment',
    flags: '--no-augment',
    description:
      'turn off the flips and quarter turns (on by default; colour jitter is a library option, off here)',
    default: true,
    kind: 'boolean',
  },
  {
    key: 'out',
    flags: '--out <dir>',
    description: 'run folder (checkpoints, run.json, metrics.ndjson); default runs/<time>-<arch>',
    kind: 'string',
  },
  {
    key: 'resume',
    flags: '--resume',
    description: 'continue from the newest checkpoint in --out',
    default: false,
    kind: 'boolean',
  },
  {
    key: 'checkpointEvery',
    flags: '--checkpoint-every <steps>',
    description: 'also checkpoint every this many steps (0: epoch ends only)',
    default: 0,
    kind: 'integer',
  },
  {
    key: 'metrics',
    flags: '--metrics <sink>',
    description:
      'live metrics, repeatable: ndjson:-, ndjson:FILE, tensorboard:DIR, http:PORT, http:HOST:PORT',
    default: [],
    kind: 'list',
  },
  {
    key: 'metricsToken',
    flags: '--metrics-token <token>',
    description: 'access token the http sink requires (use when binding beyond 127.0.0.1)',
    kind: 'string',
  },
  {
    key: 'backend',
    flags: '--backend <name>',
    description: BACKEND_OPTION_DESCRIPTION,
    kind: 'string',
  },
  {
    key: 'wasmThreads',
    flags: '--wasm-threads <n>',
    description: 'threads of the wasm backend (0: one per core)',
    default: 0,
    kind: 'integer',
  },
  {
    key: 'onBadInput',
    flags: '--on-bad-input <policy>',
    description: 'throw: stop at the first bad file; skip: leave it out and report it',
    default: 'throw',
    kind: 'string',
    choices: ['throw', 'skip'],
  },
  {
    key: 'syntheticImages',
    flags: '--synthetic-images <n>',
    description: 'images in the generated default set',
    default: 24,
    kind: 'integer',
  },
] as const satisfies readonly TrainOptionSpec[];

type TrainOption = (typeof TRAIN_OPTIONS)[number];

/** What a `named` option stands for: its name alone, or in a config file the object the named builder takes. */
interface NamedOptionConfigs {
  loss: LossConfig;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
}

/** The value one option has in the merged configuration, by its kind and choices. */
type OptionValue<Option extends TrainOption> = Option['kind'] extends 'integer' | 'number'
  ? number
  : Option['kind'] extends 'boolean'
    ? boolean
    : Option['kind'] extends 'list'
      ? string[]
      : Option['kind'] extends 'numbers'
        ? number[]
        : Option['key'] extends keyof NamedOptionConfigs
          ? NamedOptionConfigs[Option['key']] | NamedOptionConfigs[Option['key']]['name']
          : Option extends { choices: readonly (infer Choice)[] }
            ? Choice
            : string;

/**
 * The merged `train` configuration, one key per option of {@link TRAIN_OPTIONS} but `config` (the file it was
 * read from): options with a default always hold a value, the others may be absent.
 */
export type TrainConfig = {
  [Option in TrainOption as Option extends { default: unknown } ? Option['key'] : never]: OptionValue<Option>;
} & {
  [Option in TrainOption as Option extends { default: unknown }
    ? never
    : Exclude<Option['key'], 'config'>]?: OptionValue<Option>;
};

/**
 * Checks a merged configuration (the defaults, then what a run.json, config file or flags gave) against the
 * option table: known keys, types, choices. Config files and flags meet here, so an error names the option
 * whichever way it was given. The parameters of a `named` option's object are checked by the builder it
 * goes to (`buildLoss`, `buildOptimizer`, `createSchedule`).
 *
 * @throws RangeError naming the option, the expected kind and the given value.
 */
export function checkTrainConfig(config: Record<string, unknown>): asserts config is TrainConfig {
  const known = new Map<string, TrainOptionSpec>(TRAIN_OPTIONS.map((o) => [o.key, o]));
  for (const [key, value] of Object.entries(config)) {
    const spec = known.get(key);
    if (!spec) throw new RangeError(`train: unknown option '${key}' (see npx stream-train train --help)`);
    if (value === undefined) continue;
    const bad = (expected: string): RangeError =>
      new RangeError(`train: ${spec.flags.split(' ')[0]} must be ${expected}, got ${JSON.stringify(value)}`);
    switch (spec.kind) {
      case 'integer':
        if (!Number.isInteger(value) || (value as number) < 0) throw bad('a non-negative integer');
        break;
      case 'number':
        if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
          throw bad('a non-negative number');
        break;
      case 'boolean':
        if (typeof value !== 'boolean') throw bad('true or false');
        break;
      case 'list':
        if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw bad('a list of strings');
        break;
      case 'numbers':
        if (!Array.isArray(value) || value.some((v) => typeof v !== 'number' || !Number.isFinite(v) || v < 0))
          throw bad('a list of non-negative numbers');
        break;
      case 'named': {
        const name =
          typeof value === 'object' && value !== null && !Array.isArray(value)
            ? (value as { name?: unknown }).name
            : value;
        if (typeof name !== 'string' || !spec.choices!.includes(name))
          throw bad(`one of ${spec.choices!.join(', ')} (or an object with such a name)`);
        break;
      }
      case 'string':
        // `backbone: 50` in a YAML file means the choice '50'.
        if (typeof value === 'number' && spec.choices?.includes(String(value))) {
          config[key] = String(value);
          break;
        }
        if (typeof value !== 'string') throw bad('a string');
        if (spec.choices && !spec.choices.includes(value)) throw bad(`one of ${spec.choices.join(', ')}`);
        break;
    }
  }
  for (const key of [
    'epochs',
    'batchSize',
    'tileSize',
    'baseFilters',
    'depth',
    'syntheticImages',
    'microBatches',
    'discriminatorFilters',
    'discriminatorEvery',
    'backboneWidth',
    'headFilters',
  ] satisfies Array<keyof TrainConfig>) {
    if (config[key] === 0)
      throw new RangeError(
        `train: --${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} must be at least 1, got 0`,
      );
  }
}
