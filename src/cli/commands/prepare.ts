import { type Command, Option } from 'commander';
import { formatPrepareSummary, prepareMasks } from '../../pipelines/prepare.js';
import type { EdgePolicy } from '../../tiling/tileGrid.js';
import { resolveClassMap } from '../classes.js';
import { EXIT_CODES } from '../terminal.js';
import { numberOption } from '../commandOptions.js';

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
}

/** `--tiles png`, `npy` or `png,npy`. */
function parseTileFormats(value: string): Array<'png' | 'npy'> {
  const formats = value.split(',').map((f) => f.trim());
  if (formats.length === 0 || formats.some((f) => f !== 'png' && f !== 'npy')) throw new RangeError(`--tiles must be png, npy or png,npy, got '${value}'`);
  return formats as Array<'png' | 'npy'>;
}

/** `prepare`: class-index masks (and tiles) on disk; the per-split class counts on stdout. */
async function prepare(options: PrepareOptions): Promise<number> {
  const summary = await prepareMasks({
    imagesDir: options.images,
    labelsDir: options.labels,
    outDir: options.out,
    classMap: await resolveClassMap(options.classes),
    format: options.format,
    previews: options.previews,
    ...(options.tiles ? { tiles: { formats: options.tiles, size: options.tileSize, edge: options.edge, ...(options.stride ? { stride: options.stride } : {}) } } : {}),
    onBadInput: options.onBadInput,
    degenerateShapes: options.degenerateShapes,
  });
  process.stdout.write(`${formatPrepareSummary(summary)}\n`);
  return EXIT_CODES.ok;
}

/** Adds `prepare` to the program. */
export function addPrepareCommand(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('prepare')
    .description('JSON labels to class-index PNG masks (and optionally tiles), with per-class pixel counts per split')
    .requiredOption('--images <dir>', 'image folder')
    .requiredOption('--labels <dir>', 'label folder')
    .requiredOption('--out <dir>', 'output folder')
    .option('--classes <preset|file>', 'class map preset or JSON class file', 'xbd')
    .option('--format <format>', 'auto, xbd, labelme, coco, geojson or mask', 'auto')
    .option('--previews', 'also write colour previews to OUT/previews', false)
    .addOption(new Option('--tiles <formats>', 'also write the tiles of each split to OUT/tiles/<split>: png, npy or png,npy').argParser(parseTileFormats))
    .addOption(numberOption('--tile-size <px>', 'tile side with --tiles').default(256))
    .addOption(numberOption('--stride <px>', 'tile stride with --tiles (default: the tile size; smaller overlaps)'))
    .addOption(new Option('--edge <policy>', 'tiles past the image edge: pad (with the ignore value), drop or shift').choices(['pad', 'drop', 'shift']).default('pad'))
    .option('--on-bad-input <policy>', 'throw: stop at the first bad file; skip: go on and report it', 'throw')
    .option('--degenerate-shapes <policy>', 'error or skip polygons with under 3 points or zero area', 'error')
    .action(async (options: PrepareOptions) => setExitCode(await prepare(options)));
}
