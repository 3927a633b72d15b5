import { type Command, Option } from 'commander';
import { formatPrepareSummary, prepareMasks } from '../../pipelines/prepare.js';
import { describeOutputs, writeShardManifest } from '../../runs/shardManifest.js';
import type { EdgePolicy } from '../../tiling/tileGrid.js';
import type { Shard } from '../../util/shard.js';
import { resolveClassMap } from '../classes.js';
import { numberOption } from '../commandOptions.js';
import { resolveShard, shardOption } from '../shardOption.js';
import { EXIT_CODES, say } from '../terminal.js';

/** The options of `prepare`, as declared in {@link addPrepareCommand}. */
interface PrepareOptions {
  images: string;
  labels: string;
  out: string;
  classes: string;
  format: string;
  previews: boolean;
  tiles?: Array<'png' | 'npy'>;
  tileSize: number;
  stride?: number;
  edge: EdgePolicy;
  onBadInput: 'throw' | 'skip';
  degenerateShapes: 'error' | 'skip';
  shard?: Shard;
}

/** `--tiles png`, `npy` or `png,npy`. */
function parseTileFormats(value: string): Array<'png' | 'npy'> {
  const formats = value.split(',').map((f) => f.trim());
  if (formats.length === 0 || formats.some((f) => f !== 'png' && f !== 'npy'))
    throw new RangeError(`--tiles must be png, npy or png,npy, got '${value}'`);
  return formats as Array<'png' | 'npy'>;
}

/**
 * `prepare`: class-index masks (and tiles) on disk; the per-split class counts on stdout. A shard
 * (`--shard` or the scheduler's variables) prepares its share of the images and writes its manifest,
 * OUT/shards/prepare-<i>-of-<N>.json, for `merge OUT`.
 */
async function prepare(options: PrepareOptions): Promise<number> {
  const { shard: shardFlag, ...settings } = options;
  const shard = resolveShard(shardFlag);
  const summary = await prepareMasks({
    imagesDir: options.images,
    labelsDir: options.labels,
    outDir: options.out,
    classMap: await resolveClassMap(options.classes),
    format: options.format,
    previews: options.previews,
    ...(options.tiles
      ? {
          tiles: {
            formats: options.tiles,
            size: options.tileSize,
            edge: options.edge,
            ...(options.stride ? { stride: options.stride } : {}),
          },
        }
      : {}),
    onBadInput: options.onBadInput,
    degenerateShapes: options.degenerateShapes,
    ...(shard ? { shard } : {}),
  });
  process.stdout.write(`${formatPrepareSummary(summary)}\n`);
  if (shard) {
    const { inputs, outputs, ...totals } = summary;
    const path = await writeShardManifest(options.out, {
      command: 'prepare',
      shard,
      settings: { ...settings },
      inputs,
      outputs: await describeOutputs(options.out, outputs),
      result: totals,
    });
    say(
      `wrote ${path}: shard ${shard.index}/${shard.count}; when every shard is done: stream-train merge ${options.out}`,
    );
  }
  return EXIT_CODES.ok;
}

/** Adds `prepare` to the program. */
export function addPrepareCommand(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('prepare')
    .description(
      'JSON labels to class-index PNG masks (and optionally tiles), with per-class pixel counts per split',
    )
    .requiredOption('--images <dir>', 'image folder')
    .requiredOption('--labels <dir>', 'label folder')
    .requiredOption('--out <dir>', 'output folder')
    .option('--classes <preset|file>', 'class map preset or JSON class file', 'xbd')
    .option('--format <format>', 'auto, xbd, labelme, coco, geojson or mask', 'auto')
    .option('--previews', 'also write colour previews to OUT/previews', false)
    .addOption(
      new Option(
        '--tiles <formats>',
        'also write the tiles of each split to OUT/tiles/<split>: png, npy or png,npy',
      ).argParser(parseTileFormats),
    )
    .addOption(numberOption('--tile-size <px>', 'tile side with --tiles').default(256))
    .addOption(
      numberOption('--stride <px>', 'tile stride with --tiles (default: the tile size; smaller overlaps)'),
    )
    .addOption(
      new Option('--edge <policy>', 'tiles past the image edge: pad (with the ignore value), drop or shift')
        .choices(['pad', 'drop', 'shift'])
        .default('pad'),
    )
    .option(
      '--on-bad-input <policy>',
      'throw: stop at the first bad file; skip: go on and report it',
      'throw',
    )
    .option(
      '--degenerate-shapes <policy>',
      'error or skip polygons with under 3 points or zero area',
      'error',
    )
    .addOption(shardOption())
    .action(async (options: PrepareOptions) => setExitCode(await prepare(options)));
}
