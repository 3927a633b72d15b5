import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, relative } from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs';
import { type Command, Option } from 'commander';
import fg from 'fast-glob';
import { type BackendName, selectBackend } from '../../backend/selectBackend.js';
import { InputError } from '../../errors.js';
import { decodeImage, isRasterFile, readImageHeader } from '../../io/decodeImage.js';
import { GeoTiffReader, type RasterReadOptions } from '../../io/geoTiff.js';
import { StagedOutput } from '../../io/stagedOutput.js';
import { POLYGON_CRS_CHOICES, type PolygonCrsChoice, writeMapPolygons } from '../../predict/mapPolygons.js';
import { predictRasterFile, WHOLE_MASK_PIXELS } from '../../predict/predictRaster.js';
import { shardRows } from '../../predict/rowShards.js';
import { sieveMask } from '../../predict/sieveMask.js';
import { maskToSimplifiedPolygons } from '../../predict/simplifyPolygons.js';
import {
  predictFullImage,
  type SlidingWindowOptions,
  type TestTimeAugmentation,
} from '../../predict/slidingWindow.js';
import { GEOTIFF_SAMPLE_TYPES, type GeoTiffSampleType } from '../../predict/writeClassGeoTiff.js';
import { writePolygonFlatGeobuf } from '../../predict/writeFlatGeobuf.js';
import { POLYGON_LABEL_FORMATS, writePolygonLabels } from '../../predict/writePolygons.js';
import { overlayPng, writeClassPng } from '../../predict/writePrediction.js';
import { writeProbabilityNpy } from '../../predict/writeProbabilities.js';
import { manifestClassMap, openRun, type RunCheckpoint } from '../../runs/runDirectory.js';
import { describeOutputs, type RowPart, writeShardManifest } from '../../runs/shardManifest.js';
import { IMAGE_EXTENSIONS } from '../../sources/pairFiles.js';
import { type Shard, shardItems, shardName, WHOLE_JOB } from '../../util/shard.js';
import {
  backendOption,
  checkpointOption,
  numberOption,
  parseValue,
  testTimeAugmentationOption,
} from '../commandOptions.js';
import { rasterReadOptions } from '../rasterOptions.js';
import { resolveShard, shardOption } from '../shardOption.js';
import { EXIT_CODES, say } from '../terminal.js';

/** What `--polygons` writes: a label format the readers take (OUT/<stem>.json), or FlatGeobuf (OUT/<stem>.fgb). */
const POLYGON_OUTPUT_FORMATS = [...POLYGON_LABEL_FORMATS, 'flatgeobuf'] as const;
type PolygonOutputFormat = (typeof POLYGON_OUTPUT_FORMATS)[number];

/** The options of `predict`, as declared in {@link addPredictCommand}. */
interface PredictOptions {
  run: string;
  checkpoint: RunCheckpoint;
  images: string;
  out: string;
  overlap?: number;
  tta: TestTimeAugmentation;
  polygons?: PolygonOutputFormat;
  polygonCrs: PolygonCrsChoice;
  probabilities?: GeoTiffSampleType;
  minArea: number;
  simplify: number;
  backend?: BackendName | 'auto';
  shard?: Shard;
  shardBy: ShardBy;
  bands?: number[];
  bandRanges?: string;
}

/** How a sharded predict divides its work (see {@link rowSplitRasters}). */
const SHARD_BY = ['auto', 'images', 'rows'] as const;
type ShardBy = (typeof SHARD_BY)[number];

/**
 * The rasters of `files` that the shards split by rows rather than take whole: with `rows`, every GeoTIFF;
 * with `auto`, where the job has fewer images than shards (one huge raster over several machines), the
 * GeoTIFFs over WHOLE_MASK_PIXELS, whose only output is the class GeoTIFF in one process too; with `images`,
 * none. Auto splits no smaller raster: its class PNG, overlay and polygons need the whole mask, and it takes
 * seconds. Nor, with as many images as shards, a large one: every shard would add a row of windows per part
 * of each raster, and run its statistics pass.
 */
async function rowSplitRasters(
  files: readonly string[],
  shard: Shard,
  shardBy: ShardBy,
  raster: RasterReadOptions | undefined,
): Promise<Set<string>> {
  if (shardBy === 'images' || (shardBy === 'auto' && files.length >= shard.count)) return new Set();
  if (shardBy === 'auto') return rastersOverWholeMask(files, raster);
  const split = new Set<string>();
  for (const file of files) if (await isRasterFile(file, raster)) split.add(file);
  return split;
}

/** The GeoTIFFs of `files` over WHOLE_MASK_PIXELS, predicted without their whole mask in memory. */
async function rastersOverWholeMask(
  files: readonly string[],
  raster: RasterReadOptions | undefined,
): Promise<Set<string>> {
  const large = new Set<string>();
  for (const file of files) {
    const header = await readImageHeader(file, raster);
    if (header.raster && header.width * header.height > WHOLE_MASK_PIXELS) large.add(file);
  }
  return large;
}

/**
 * Refuses, before anything is predicted, the polygon options that a raster over WHOLE_MASK_PIXELS cannot
 * have: its polygons are traced band by band as rows finish, exactly and only as GeoJSON or FlatGeobuf. The
 * sieve and the simplification need the whole mask (a region's neighbours and shared boundaries may lie
 * anywhere below), and xbd and coco are label files for images of a training set.
 */
function checkLargeRasterPolygons(options: PredictOptions, large: ReadonlySet<string>): void {
  const [first] = large;
  if (first === undefined || !options.polygons) return;
  const limit = `${Math.sqrt(WHOLE_MASK_PIXELS)}x${Math.sqrt(WHOLE_MASK_PIXELS)} pixels`;
  if (options.polygons !== 'geojson' && options.polygons !== 'flatgeobuf')
    throw new RangeError(
      `predict: ${first} is over ${limit}, whose polygons are written as they are traced, as geojson or flatgeobuf only; --polygons ${options.polygons} needs the whole mask`,
    );
  if (options.minArea > 0 || options.simplify > 0)
    throw new RangeError(
      `predict: ${first} is over ${limit}; its polygons are traced band by band, exact, and --min-area and --simplify need the whole mask in memory: leave them out (or sieve its classes.tif first, e.g. with gdal_sieve.py, and polygonize that)`,
    );
}

/**
 * `predict`: for each image of the folder, OUT/<stem>.classes.png (class ids), OUT/<stem>.overlay.png and,
 * with `--polygons FORMAT`, OUT/<stem>.json: the predicted regions as polygon labels (xbd, geojson or coco, in
 * pixel coordinates), or with `--polygons flatgeobuf` OUT/<stem>.fgb, the GeoJSON's features in FlatGeobuf. By default they read back into the same class mask; `--min-area` sieves small regions
 * into their neighbours and `--simplify` straightens boundaries, both for the polygons only (the class PNG
 * stays the model's prediction). With `--probabilities [uint8|float32]`, each class's probability too:
 * OUT/<stem>.probabilities.tif for a GeoTIFF (a band per class, streamed like its classes),
 * OUT/<stem>.probabilities.npy for other images. Each image's files are written under temporary names and renamed into
 * place. A shard (`--shard` or the scheduler's variables) predicts its share of the images and writes its
 * manifest, OUT/shards/predict-<i>-of-<N>.json, for `merge OUT`. A raster split by rows (`--shard-by`) is
 * predicted in part by every shard, each writing OUT/shards/parts/<stem>.classes.<i>-of-<N>.tif, which
 * `merge` assembles into OUT/<stem>.classes.tif. A GeoTIFF over WHOLE_MASK_PIXELS gets no class PNG or
 * overlay; its `--polygons geojson|flatgeobuf` are traced from the rows as they finish and written region by
 * region (exactly the polygons of the whole mask), and the options that need the whole mask (`--min-area`,
 * `--simplify`, xbd, coco) are refused before anything is predicted.
 */
async function predict(options: PredictOptions): Promise<number> {
  const { shard: shardFlag, ...settings } = options;
  const shard = resolveShard(shardFlag);
  if (!options.polygons && (options.minArea > 0 || options.simplify > 0))
    throw new RangeError('predict: --min-area and --simplify shape the polygons; give --polygons FORMAT too');
  if (!Number.isInteger(options.minArea) || options.minArea < 0)
    throw new RangeError(`predict: --min-area must be a whole number of pixels >= 0, got ${options.minArea}`);
  if (options.simplify < 0)
    throw new RangeError(`predict: --simplify must be a distance in pixels >= 0, got ${options.simplify}`);
  say((await selectBackend({ backend: options.backend })).summary);
  const { manifest, model, checkpoint } = await openRun(options.run, options.checkpoint);
  say(`model: ${checkpoint}`);
  const classMap = manifestClassMap(manifest);
  const files = (
    await fg(`**/*.{${IMAGE_EXTENSIONS.join(',')}}`, {
      cwd: options.images,
      absolute: true,
      caseSensitiveMatch: false,
    })
  ).sort();
  if (files.length === 0) throw new InputError(options.images, 'no images (png, jpg, tif) in this folder');
  const raster = rasterReadOptions(options.bands, options.bandRanges) ?? manifest.input?.raster;
  const windowOptions = {
    tileSize: manifest.tileSize,
    testTimeAugmentation: options.tta,
    ...(options.overlap !== undefined ? { overlap: options.overlap } : {}),
  };
  await mkdir(options.out, { recursive: true });
  const staged = await StagedOutput.open(options.out, shardName(shard ?? WHOLE_JOB));
  const outputs: string[] = [];
  const split = shard ? await rowSplitRasters(files, shard, options.shardBy, raster) : new Set<string>();
  // merge assembles the class parts only: probabilities of a split raster would stay in pieces.
  if (options.probabilities && split.size > 0)
    throw new RangeError(
      `predict: --probabilities is written for rasters predicted whole; ${[...split].join(', ')} would be split by rows between the shards (--shard-by images keeps each raster in one shard)`,
    );
  const parts: RowPart[] = [];
  for (const file of split) {
    const part = await predictRowPart(model, file, options.images, shard!, staged, {
      ...windowOptions,
      ...(raster ? { raster } : {}),
    });
    if (part) parts.push(part);
    outputs.push(...(await staged.publish()));
  }
  const shardFiles = shardItems(
    files.filter((file) => !split.has(file)),
    shard ?? WHOLE_JOB,
  );
  const large = options.polygons ? await rastersOverWholeMask(shardFiles, raster) : new Set<string>();
  checkLargeRasterPolygons(options, large);
  // Polygons not written because tracing them was past its memory bound: the job fails once the rest is out.
  const polygonsRefused: string[] = [];
  for (const file of shardFiles) {
    const stem = basename(file, extname(file));
    // A raster (GeoTIFF) is predicted window by window from the file, its classes written as a GeoTIFF placed
    // where it lies as rows finish: memory stays bounded at any size. The whole mask (class PNG, overlay,
    // polygons) comes back up to WHOLE_MASK_PIXELS; over it, polygons are traced from the rows as they finish.
    const isRaster = await isRasterFile(file, raster);
    const probabilityFile = `${stem}.probabilities.${isRaster ? 'tif' : 'npy'}`;
    const polygonFile = `${stem}.${options.polygons === 'flatgeobuf' ? 'fgb' : 'json'}`;
    const streamed = isRaster
      ? await predictRasterFile(model, file, join(staged.dir, `${stem}.classes.tif`), {
          ...windowOptions,
          ...(raster ? { raster } : {}),
          ...(options.probabilities
            ? {
                probabilities: {
                  path: join(staged.dir, probabilityFile),
                  sampleType: options.probabilities,
                  classNames: classMap.names,
                },
              }
            : {}),
          ...(large.has(file) && (options.polygons === 'geojson' || options.polygons === 'flatgeobuf')
            ? {
                polygons: {
                  path: join(staged.dir, polygonFile),
                  format: options.polygons,
                  classMap,
                  crs: options.polygonCrs,
                },
              }
            : {}),
          onProgress: rowProgress(stem),
        })
      : undefined;
    if (streamed && !streamed.classes) {
      outputs.push(...(await staged.publish()));
      const written = [
        `${stem}.classes.tif`,
        ...(options.probabilities ? [probabilityFile] : []),
        ...(streamed.polygons !== undefined
          ? [`${polygonFile} (${streamed.polygons} ${options.polygons} polygons, traced band by band)`]
          : []),
      ];
      if (streamed.polygonsRefused) {
        const classes = join(options.out, `${stem}.classes.tif`);
        polygonsRefused.push(
          `${file}: no ${polygonFile}: ${streamed.polygonsRefused}; polygonize ${classes} from disk instead, e.g. gdal_polygonize.py ${classes} ${join(options.out, polygonFile)}`,
        );
      }
      say(
        `${stem}: ${streamed.width}x${streamed.height}, ${streamed.windows} windows -> ${written.join(', ')} (over ${WHOLE_MASK_PIXELS} pixels: no class PNG or overlay, which need the whole mask in memory)`,
      );
      continue;
    }
    const image = await decodeImage(file, raster);
    const prediction = streamed
      ? { classes: streamed.classes!, windows: streamed.windows }
      : await predictFullImage(model, image, windowOptions);
    await writeClassPng(prediction.classes, join(staged.dir, `${stem}.classes.png`));
    await writeFile(
      join(staged.dir, `${stem}.overlay.png`),
      await overlayPng(image, prediction.classes, manifest.classes.colors),
    );
    const written = [
      `${stem}.classes.png`,
      `${stem}.overlay.png`,
      ...(streamed ? [`${stem}.classes.tif`] : []),
      ...(options.probabilities ? [probabilityFile] : []),
    ];
    if (options.probabilities && 'probabilities' in prediction)
      await writeProbabilityNpy(
        join(staged.dir, probabilityFile),
        { ...prediction, width: image.width, height: image.height },
        options.probabilities,
      );
    if (options.polygons) {
      const regions =
        options.minArea > 1
          ? sieveMask(prediction.classes, { minArea: options.minArea, ignoreValue: classMap.ignoreValue })
          : prediction.classes;
      const polygons = maskToSimplifiedPolygons(regions, {
        tolerance: options.simplify,
        ignoreValue: classMap.ignoreValue,
      });
      const placement = image.georeference
        ? { georeference: image.georeference, crs: options.polygonCrs }
        : undefined;
      const polygonPath = join(staged.dir, polygonFile);
      if (options.polygons === 'flatgeobuf')
        await writePolygonFlatGeobuf(polygons, polygonPath, classMap, placement);
      else if (placement && options.polygons === 'geojson')
        await writeMapPolygons(polygons, polygonPath, classMap, placement.georeference, placement.crs);
      else
        await writePolygonLabels(polygons, polygonPath, {
          format: options.polygons,
          classMap,
          width: image.width,
          height: image.height,
          imageFileName: basename(file),
        });
      written.push(`${polygonFile} (${polygons.length} ${options.polygons} polygons)`);
    }
    outputs.push(...(await staged.publish()));
    say(`${stem}: ${image.width}x${image.height}, ${prediction.windows} windows -> ${written.join(', ')}`);
  }
  model.dispose();
  await staged.close();
  if (polygonsRefused.length > 0) throw new RangeError(`predict: ${polygonsRefused.join('; ')}`);
  if (shard) {
    const inputs = shardFiles.map((file) => relative(options.images, file));
    const path = await writeShardManifest(options.out, {
      command: 'predict',
      shard,
      settings: { ...settings },
      inputs,
      outputs: await describeOutputs(options.out, outputs),
      ...(split.size > 0 ? { parts } : {}),
      result: { images: shardFiles.length },
    });
    say(
      `wrote ${path}: shard ${shard.index}/${shard.count}, ${shardFiles.length} of ${files.length - split.size} images${split.size > 0 ? ` and rows of ${split.size} split rasters` : ''}; when every shard is done: stream-train merge ${options.out}`,
    );
  }
  return EXIT_CODES.ok;
}

/**
 * Predicts this shard's rows of a raster split between the shards (see `shardRows`) into
 * shards/parts/<stem>.classes.<i>-of-<N>.tif under the staging folder; undefined for a shard left
 * without rows.
 */
async function predictRowPart(
  model: LayersModel,
  file: string,
  imagesDir: string,
  shard: Shard,
  staged: StagedOutput,
  predictOptions: SlidingWindowOptions & { raster?: RasterReadOptions },
): Promise<RowPart | undefined> {
  const stem = basename(file, extname(file));
  const header = await GeoTiffReader.open(file);
  const { width, height, georeference } = header.info;
  await header.close();
  const rows = shardRows(width, height, predictOptions, shard);
  if (rows.start === rows.end) {
    say(`${stem}: ${width}x${height}, no rows for shard ${shard.index}/${shard.count}`);
    return undefined;
  }
  const path = join('shards', 'parts', `${stem}.classes.${shardName(shard)}.tif`);
  await mkdir(dirname(join(staged.dir, path)), { recursive: true });
  const { windows } = await predictRasterFile(model, file, join(staged.dir, path), {
    ...predictOptions,
    rows,
    onProgress: rowProgress(stem),
  });
  say(
    `${stem}: rows ${rows.start} to ${rows.end} of ${width}x${height}, ${windows} windows -> ${path} (merge assembles ${stem}.classes.tif; a split raster gets no class PNG, overlay or polygons)`,
  );
  return {
    input: relative(imagesDir, file),
    path,
    ...rows,
    output: `${stem}.classes.tif`,
    width,
    height,
    ...(georeference ? { georeference } : {}),
  };
}

/** Progress of a raster of hours of prediction: a line each hundredth of its rows (none under 4096 rows). */
function rowProgress(stem: string): (rows: number, height: number) => void {
  const started = Date.now();
  let reported = 0;
  return (rows, height) => {
    if (height < 4096 || Math.floor((100 * rows) / height) === reported) return;
    reported = Math.floor((100 * rows) / height);
    say(`${stem}: ${rows}/${height} rows in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  };
}

/** Adds `predict` to the program. */
export function addPredictCommand(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('predict')
    .description(
      'predict full-size images with overlapping, blended windows: class-index PNG and colour overlay per image, polygon labels with --polygons',
    )
    .requiredOption('--run <dir>', 'run folder written by train')
    .addOption(checkpointOption())
    .requiredOption('--images <dir>', 'images of any size')
    .requiredOption('--out <dir>', 'output folder')
    .addOption(
      numberOption(
        '--overlap <px>',
        'pixels shared by neighbouring windows (default: a quarter of the tile)',
      ),
    )
    .addOption(testTimeAugmentationOption())
    .addOption(
      new Option(
        '--polygons <format>',
        "also write each image's predicted regions as polygons, in pixel coordinates (geojson and flatgeobuf of a GeoTIFF: map coordinates, see --polygon-crs): OUT/<stem>.json in a format the label readers take, xbd (xView2 WKT), geojson or coco; or OUT/<stem>.fgb, FlatGeobuf (the geojson features in a binary file GIS software reads fast, for large polygon sets). A GeoTIFF over 8192x8192 pixels takes geojson or flatgeobuf, written region by region as rows are predicted",
      ).choices(POLYGON_OUTPUT_FORMATS),
    )
    .addOption(
      new Option(
        '--polygon-crs <crs>',
        "with --polygons geojson or flatgeobuf on a GeoTIFF: map coordinates in the raster's CRS (raster) or in WGS 84 longitude/latitude (wgs84)",
      )
        .choices(POLYGON_CRS_CHOICES)
        .default('raster'),
    )
    .addOption(
      numberOption(
        '--min-area <pixels>',
        'with --polygons: regions of fewer pixels join the neighbour they share the longest border with (0: keep every region; not for a GeoTIFF over 8192x8192 pixels, which would need its whole mask)',
      ).default(0),
    )
    .addOption(
      numberOption(
        '--simplify <pixels>',
        'with --polygons: straighten boundaries to within this distance, shared boundaries alike on both sides (0: exact pixel edges; not for a GeoTIFF over 8192x8192 pixels)',
      ).default(0),
    )
    .addOption(
      new Option(
        '--probabilities [type]',
        "also write each class's softmax probability: OUT/<stem>.probabilities.tif for a GeoTIFF (a band per class, named after it, placed like the input), OUT/<stem>.probabilities.npy ([height, width, classes]) for other images; uint8 (p x 255, GDAL's band scale gives p; the default) or float32",
      )
        .choices(GEOTIFF_SAMPLE_TYPES)
        .preset('uint8'),
    )
    .addOption(backendOption())
    .addOption(
      new Option(
        '--bands <b,...>',
        "raster bands to predict from, numbered from 1 (default: the run's selection)",
      ).argParser(parseValue('numbers', '--bands') as (v: string) => number[]),
    )
    .option(
      '--band-ranges <low:high,...>',
      "each band's sample range mapped onto 0..255 (default: the run's ranges, else from each raster)",
    )
    .addOption(shardOption())
    .addOption(
      new Option(
        '--shard-by <how>',
        'with --shard: images (each shard takes whole images, round-robin), rows (each shard predicts a band of rows of every GeoTIFF, and merge assembles its class GeoTIFF), or auto: rows for GeoTIFFs over 8192x8192 pixels when there are fewer images than shards, else images',
      )
        .choices(SHARD_BY)
        .default('auto'),
    )
    .action(async (options: PredictOptions) => setExitCode(await predict(options)));
}
