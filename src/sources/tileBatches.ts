import { availableParallelism } from 'node:os';
import { concatMap, filter, finalize, identity, map, Observable, type OperatorFunction, range } from 'rxjs';
import { type BadInputPolicy, handleBadInput, InputError, type SkipSink } from '../errors.js';
import { readImageHeader } from '../io/decodeImage.js';
import type { RasterReadOptions } from '../io/geoTiff.js';
import { labelWindowsReader, OpenRasters } from '../io/openRasters.js';
import type { ReadLabelMask } from '../io/readLabelledImage.js';
import { readTiles } from '../io/readTiles.js';
import { TileReaderPool } from '../io/tileReaderPool.js';
import type { ClassMap } from '../labels/classMap.js';
import { readLabelMask } from '../labels/readLabelMask.js';
import { augment } from '../operators/augment.js';
import { batchTiles } from '../operators/batchTiles.js';
import { orderedReads } from '../operators/orderedReads.js';
import { shuffle } from '../operators/shuffle.js';
import {
  type OneHotTensorBatch,
  type ToTensorBatchOptions,
  toTensorBatch,
} from '../operators/toTensorBatch.js';
import type { AugmentOptions } from '../tiling/augmentation.js';
import {
  type BalanceClassesOptions,
  checkBalanceClasses,
  repeatBalancedTiles,
} from '../tiling/classBalance.js';
import type { LabelledTile } from '../tiling/labelledTile.js';
import { SpareTileBuffers } from '../tiling/spareTileBuffers.js';
import {
  rasterBlockTiles,
  type TileBlock,
  type TileOptions,
  tileBlocks,
  tileGrid,
  tilePositions,
} from '../tiling/tileGrid.js';
import type { LabelledPair, TensorBatch } from '../types.js';
import { epochSeed, SeededRandom } from '../util/seededRandom.js';
import { CreditGate } from './creditGate.js';

export interface TileBatchesOptions {
  /** The pairs to stream (one split's pairs: see `splitBySource`). */
  pairs: readonly LabelledPair[];
  classMap: ClassMap;
  /** Reads the masks: the labels module's `readLabelMask`. */
  readMask: ReadLabelMask;
  /** Label format, or undefined to detect it per file. */
  format?: string;
  /** Band selection and ranges for multi-band and georeferenced rasters (see `decodeImage`). */
  raster?: RasterReadOptions;
  /** Tile size, stride, edge policy. */
  tile?: TileOptions;
  /** Augmentations; off when absent. Each epoch draws them from the seed and its epoch number alone. */
  augment?: AugmentOptions;
  /**
   * Shuffle buffer in tiles and seed; off when absent. Also shuffles the image order of each epoch. Each
   * epoch draws from the seed and its epoch number alone, and its buffer is emptied before the next begins.
   */
  shuffle?: { bufferSize: number; seed: number };
  /**
   * Class-balanced sampling: tiles holding these classes are drawn `factor` times per epoch (before
   * augmentation and shuffling, so each repeat gets its own transform and place). Off when absent.
   */
  balance?: BalanceClassesOptions;
  batchSize: number;
  /** Leave out an epoch's last batch when it is smaller than `batchSize`. Default false. */
  dropRemainder?: boolean;
  /** Normalization and one-hot labels (`onRelease` is the gate's). */
  tensors?: Omit<ToTensorBatchOptions, 'onRelease'>;
  /** Passes over the pairs, counted from epoch 0 also when `startAt` starts later. Default 1. */
  epochs?: number;
  /**
   * Where the stream starts: in epoch `epoch` (0-based, at most `epochs`) after its first `batch` batches,
   * e.g. `resumeSourcePosition(checkpoint.position)` to continue a run. The skipped batches of that epoch are
   * still read and drawn, so that what follows is exactly what an uninterrupted stream would give, but they
   * are not made into tensors. Default { epoch: 0, batch: 0 }.
   */
  startAt?: { epoch: number; batch: number };
  /**
   * The most tiles alive between the source and the consumer. Default: shuffle buffer + 2 batches + 16 tiles
   * for each image read at once (`concurrency`), at least 64 (times the balance factor). Must be at least
   * shuffle buffer + batch size + the tiles of the largest image (times the balance factor), except for
   * rasters (GeoTIFFs read with geotiff.js): those are read in blocks of tiles that fit the credits left, each
   * from its own window of the file.
   */
  credits?: number;
  /** A gate to use instead of a new one of `credits` (to share one budget or to watch it); never closed here. */
  gate?: CreditGate;
  /** Images read at once. Default: two per worker thread, else the number of cores. */
  concurrency?: number;
  /**
   * Worker threads that decode, rasterize and cut images, leaving the main thread to batch and make
   * tensors. Default: the number of cores when `readMask` is the labels module's `readLabelMask` (workers
   * can only run that one), else 0: read on the main thread (sharp still decodes on libuv threads).
   */
  workers?: number;
  /** Default `throw`. */
  onBadInput?: BadInputPolicy;
  skipReport?: SkipSink;
}

/** The reader worker threads of a configuration (see `workers`). */
function readerWorkers(options: TileBatchesOptions): number {
  return options.workers ?? (options.readMask === readLabelMask ? availableParallelism() : 0);
}

/**
 * Images read at once: two per worker, so that each has its next image queued while the main thread takes the
 * tiles of the one it just sent instead of waiting idle for the next request (1.05-1.1x the rate on 2 cores).
 */
function readConcurrency(options: TileBatchesOptions): number {
  const workers = readerWorkers(options);
  return options.concurrency ?? (workers > 0 ? 2 * workers : availableParallelism());
}

/**
 * Default credits beyond the shuffle buffer and two batches: room for `concurrency` images of 16 tiles (a
 * 1024 px image in 256 px tiles) to be read at once, at least 64 tiles, so that readers on many cores are not
 * left waiting for credits. Larger images need `credits` raised to keep every reader busy.
 */
const TILES_PER_READ = 16;

/** The credits a configuration needs besides one image's tiles so that it cannot deadlock. */
function reservedCredits(options: TileBatchesOptions): number {
  return (options.shuffle?.bufferSize ?? 0) + options.batchSize;
}

/** The random streams of an epoch, told apart where they share a seed (see `epochSeed`). */
export const RANDOM_STREAM = { augment: 0, imageOrder: 1, shuffleBuffer: 2 } as const;
/** Batches made into tensors and not yet released: the one being trained on and the next. */
const TENSOR_BATCHES_AHEAD = 2;

/** A pair as the source emits it: the whole image, or one block of a raster's tiles (see `tileBlocks`). */
interface PairPiece extends LabelledPair {
  block?: TileBlock;
  /** The raster's last block: the reader may close the raster it kept open for its blocks. */
  lastBlock?: boolean;
}

/**
 * The gated source of one epoch's pairs: emits each pair only once the credits for all its tiles (counted
 * from the image header) are taken. This is where a slow consumer slows reading and decoding. A raster is
 * emitted in blocks of the tiles the credits left beside the shuffle buffer and a batch can hold (and at most
 * `RASTER_BLOCK_PIXELS`), in tile order, so that however large it is only a block of it is read at a time.
 */
function gatedPairs(
  options: TileBatchesOptions,
  epoch: number,
  gate: CreditGate,
  creditsOf: WeakMap<LabelledPair, number>,
): Observable<PairPiece> {
  const grid = tileGrid(options.tile);
  const policy = options.onBadInput ?? 'throw';
  // Balanced sampling may repeat every tile: take credits for the most it can give; the rest come back once it is read.
  const factor = options.balance?.factor ?? 1;
  const blockTiles = Math.min(
    Math.floor((gate.capacity - reservedCredits(options)) / factor),
    rasterBlockTiles(grid),
  );
  return new Observable<PairPiece>((subscriber) => {
    const run = async (): Promise<void> => {
      const order = [...options.pairs];
      if (options.shuffle)
        new SeededRandom(epochSeed(options.shuffle.seed, epoch, RANDOM_STREAM.imageOrder)).shuffle(order);
      for (const pair of order) {
        if (subscriber.closed) return;
        let pieces: Array<{ block?: TileBlock; tiles: number }>;
        try {
          const { width, height, raster } = await readImageHeader(pair.imagePath, options.raster);
          pieces =
            raster && blockTiles >= 1
              ? tileBlocks(width, height, grid, blockTiles).map((block) => ({
                  block,
                  tiles: block.columns.length * block.rows.length,
                }))
              : [{ tiles: tilePositions(width, height, grid).length }];
        } catch (error) {
          handleBadInput(error, policy, options.skipReport);
          continue;
        }
        for (const [index, piece] of pieces.entries()) {
          const tiles = piece.tiles * factor;
          if (tiles + reservedCredits(options) > gate.capacity) {
            throw new RangeError(
              `tileBatches: ${pair.imagePath} gives up to ${tiles} tiles; with a shuffle buffer and batch of ${reservedCredits(options)} tiles the pipeline needs credits >= ${tiles + reservedCredits(options)}, got ${gate.capacity}`,
            );
          }
          await gate.acquire(tiles);
          if (subscriber.closed) {
            gate.release(tiles);
            return;
          }
          // A fresh object per epoch and block keys its own credits.
          const emitted: PairPiece = piece.block
            ? { ...pair, block: piece.block, lastBlock: index === pieces.length - 1 }
            : { ...pair };
          creditsOf.set(emitted, tiles);
          subscriber.next(emitted);
        }
      }
      subscriber.complete();
    };
    run().catch((error: unknown) => subscriber.error(error));
  });
}

/** A pair (or block) read and cut into tiles, with its image's size. */
interface TiledPair {
  pair: LabelledPair;
  tiles: LabelledTile[];
  width: number;
  height: number;
}

/** How one epoch's pairs become tiled pairs: on the main thread or on worker threads. */
type PairReader = OperatorFunction<PairPiece, TiledPair>;

/** Emits each image's tiles and returns the credits it took but did not use (never more, with sizes from the header). */
function creditedTiles(
  gate: CreditGate,
  creditsOf: WeakMap<LabelledPair, number>,
): OperatorFunction<TiledPair, LabelledTile> {
  return (images) =>
    new Observable<LabelledTile>((subscriber) =>
      images.subscribe({
        next: ({ pair, tiles, width, height }) => {
          const reserved = creditsOf.get(pair) ?? tiles.length;
          if (tiles.length > reserved) {
            subscriber.error(
              new InputError(
                pair.imagePath,
                `decoded to ${width}x${height}, more tiles than its header announced`,
              ),
            );
            return;
          }
          gate.release(reserved - tiles.length);
          for (const tile of tiles) subscriber.next(tile);
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      }),
    );
}

/**
 * The reader of a tileBatches stream: the process's shared pool of `workers` threads, or the main thread.
 * Either way pairs are read `concurrency` at a time and come out in input order.
 */
function pairReader(
  options: TileBatchesOptions,
  gate: CreditGate,
  creditsOf: WeakMap<LabelledPair, number>,
  spare: SpareTileBuffers | undefined,
): PairReader {
  const grid = tileGrid(options.tile);
  const workers = readerWorkers(options);
  const ordering = {
    concurrency: readConcurrency(options),
    onBadInput: options.onBadInput ?? 'throw',
    ...(options.skipReport === undefined ? {} : { skipReport: options.skipReport }),
    onSkip: (pair: LabelledPair) => gate.release(creditsOf.get(pair) ?? 0),
  } as const;
  if (workers === 0) {
    const readOptions = {
      classMap: options.classMap,
      readMask: options.readMask,
      ...(options.format === undefined ? {} : { format: options.format }),
      ...(options.raster === undefined ? {} : { raster: options.raster }),
    };
    // A raster stays open, its labels parsed, from its first block to its last (or the epoch's end).
    const rasters = new OpenRasters(labelWindowsReader(options.readMask));
    const read = (pair: PairPiece): Promise<TiledPair> =>
      readTiles(pair, grid, readOptions, {
        ...(pair.block ? { block: pair.block } : {}),
        held: { rasters, lastBlock: pair.lastBlock === true },
        ...(spare ? { allocate: spare.allocate } : {}),
      }).then((image) => ({ pair, ...image }));
    return (pairs) => orderedReads(read, ordering)(pairs).pipe(finalize(() => rasters.releaseAll()));
  }
  const pool = TileReaderPool.shared(workers);
  const request = { classMap: options.classMap, format: options.format, grid, raster: options.raster };
  return orderedReads((pair: PairPiece) => {
    // As many spare buffers of each length as the read cuts tiles (its credits count balanced repeats too,
    // which are copies made after the read).
    const spareBuffers = spare?.take((creditsOf.get(pair) ?? 0) / (options.balance?.factor ?? 1)) ?? [];
    return pool
      .read(pair, {
        ...request,
        ...(pair.block ? { block: pair.block, lastBlock: pair.lastBlock } : {}),
        ...(spareBuffers.length > 0 ? { spare: spareBuffers } : {}),
      })
      .then((image) => ({ pair, ...image }));
  }, ordering);
}

/**
 * One epoch's batches of tiles. Its image order, augmentations and shuffle draws come from the seeds and the
 * epoch number alone, and its shuffle buffer and last (possibly short) batch end with it, so that an epoch
 * is the same whether or not the stream started before it. Batches left out (the first `skip`, a short
 * last one with `dropRemainder`) give their credits back.
 */
function epochTileBatches(
  options: TileBatchesOptions,
  epoch: number,
  skip: number,
  gate: CreditGate,
  creditsOf: WeakMap<LabelledPair, number>,
  read: PairReader,
  spare: SpareTileBuffers | undefined,
): Observable<LabelledTile[]> {
  const { augment: augmentOptions, shuffle: shuffleOptions, balance, batchSize } = options;
  return gatedPairs(options, epoch, gate, creditsOf).pipe(
    read,
    balance ? map((tiled) => ({ ...tiled, tiles: repeatBalancedTiles(tiled.tiles, balance) })) : identity,
    creditedTiles(gate, creditsOf),
    augmentOptions
      ? augment(
          { ...augmentOptions, seed: epochSeed(augmentOptions.seed, epoch, RANDOM_STREAM.augment) },
          // Balanced sampling repeats a tile: its copies share buffers, so the inputs are left alone.
          spare ? { spare, recycleInputs: !balance } : undefined,
        )
      : identity,
    shuffleOptions
      ? shuffle<LabelledTile>({
          bufferSize: shuffleOptions.bufferSize,
          seed: epochSeed(shuffleOptions.seed, epoch, RANDOM_STREAM.shuffleBuffer),
        })
      : identity,
    batchTiles({ batchSize }),
    filter((tiles, index) => {
      const kept = index >= skip && (!options.dropRemainder || tiles.length === batchSize);
      if (!kept) gate.release(tiles.length);
      return kept;
    }),
  );
}

/**
 * The one-call ingest source: pairs -> (credit gate) -> read and decode -> tile -> augment -> shuffle ->
 * batch -> tensors, one epoch after another. Batches never straddle epochs: each epoch ends with its own
 * batch, short when its tiles are not a multiple of `batchSize`, so an epoch is ceil(tiles / batchSize)
 * batches. At most `credits` tiles exist between the source and the consumer: each tile holds a credit until
 * the consumer calls `release()` on the batch holding it. Iterate it with `toAsyncIterable` (pull) or
 * subscribe (push); either way, release every batch.
 *
 * @example
 * const batches = tileBatches({ pairs: split.train, classMap, readMask: readLabelMask, batchSize: 8,
 *   shuffle: { bufferSize: 64, seed: 1 }, augment: { seed: 2 }, credits: 128 });
 * for await (const batch of toAsyncIterable(batches, { onDiscard: (b) => b.release() })) { ...; batch.release(); }
 *
 * @example
 * // Continue a run of 10 epochs where its checkpoint stopped, mid-epoch: the batches that follow are those
 * // the uninterrupted run would have trained on.
 * const checkpoint = await loadLatestCheckpoint('runs/a/checkpoints');
 * const rest = tileBatches({ ...sameOptions, epochs: 10, startAt: resumeSourcePosition(checkpoint.position) });
 *
 * @throws RangeError up front when the credits cannot cover the shuffle buffer and a batch, and during the
 *   run when an image has more tiles than the remaining credits could ever hold (it would deadlock).
 */
export function tileBatches(options: TileBatchesOptions): Observable<TensorBatch | OneHotTensorBatch> {
  if (!options || !Array.isArray(options.pairs))
    throw new TypeError('tileBatches: pairs must be an array of LabelledPair');
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1)
    throw new RangeError(`tileBatches: batchSize must be a positive integer, got ${options.batchSize}`);
  const epochs = options.epochs ?? 1;
  if (!Number.isInteger(epochs) || epochs < 1)
    throw new RangeError(`tileBatches: epochs must be a positive integer, got ${epochs}`);
  const startAt = options.startAt ?? { epoch: 0, batch: 0 };
  if (
    !Number.isInteger(startAt.epoch) ||
    startAt.epoch < 0 ||
    startAt.epoch > epochs ||
    !Number.isInteger(startAt.batch) ||
    startAt.batch < 0
  ) {
    throw new RangeError(
      `tileBatches: startAt must be an epoch in 0..epochs (${epochs}) and a batch >= 0, got ${JSON.stringify(options.startAt)}`,
    );
  }
  tileGrid(options.tile);
  if (options.workers !== undefined) {
    if (!Number.isInteger(options.workers) || options.workers < 0)
      throw new RangeError(`tileBatches: workers must be an integer >= 0, got ${options.workers}`);
    if (options.workers > 0 && options.readMask !== readLabelMask) {
      throw new TypeError(
        "tileBatches: worker threads read labels with the labels module's readLabelMask only; a custom readMask needs workers: 0",
      );
    }
  }
  if (options.balance) checkBalanceClasses(options.balance);
  const credits =
    options.gate?.capacity ??
    options.credits ??
    reservedCredits(options) +
      options.batchSize +
      Math.max(64, TILES_PER_READ * readConcurrency(options)) * (options.balance?.factor ?? 1);
  if (!Number.isInteger(credits) || credits <= reservedCredits(options)) {
    throw new RangeError(
      `tileBatches: credits must exceed shuffle buffer + batch size = ${reservedCredits(options)} (plus one image's tiles), got ${credits}`,
    );
  }
  return new Observable<TensorBatch | OneHotTensorBatch>((subscriber) => {
    const gate = options.gate ?? new CreditGate(credits);
    const creditsOf = new WeakMap<LabelledPair, number>();
    // Tiles made into tensors leave their buffers for the reader to cut new tiles into, as many as the credits
    // allow to exist. Not where balanced sampling repeats a tile unaugmented: its copies share buffers.
    const spare = options.balance && !options.augment ? undefined : new SpareTileBuffers(2 * gate.capacity);
    // Tiles become tensors two batches ahead of the consumer (the one it trains on and the next): the rest wait
    // as bytes, so the credits bound memory in the units the shuffle budget counts.
    const toTensors = toTensorBatch({
      ahead: TENSOR_BATCHES_AHEAD,
      ...options.tensors,
      onRelease: (tiles) => gate.release(tiles),
      ...(spare ? { onConverted: (tiles: readonly LabelledTile[]) => spare.give(tiles) } : {}),
    });
    // Skips are recorded with the epoch being read: the next epoch starts reading only after this one ends.
    let epochRead = startAt.epoch;
    const report = options.skipReport;
    const streamOptions = report
      ? { ...options, skipReport: { add: (error: InputError) => report.add(error, epochRead) } }
      : options;
    const reader = pairReader(streamOptions, gate, creditsOf, spare);
    // Epochs one after another: the next starts reading once the previous has emitted its last batch. Each
    // batch names its epoch, so a trainer can follow the data's epochs when bad input shortened one.
    const batches = range(startAt.epoch, epochs - startAt.epoch)
      .pipe(
        concatMap((epoch) => {
          epochRead = epoch;
          return epochTileBatches(
            streamOptions,
            epoch,
            epoch === startAt.epoch ? startAt.batch : 0,
            gate,
            creditsOf,
            reader,
            spare,
          ).pipe(
            toTensors,
            map((batch) => Object.assign(batch, { epoch })),
          );
        }),
      )
      .subscribe(subscriber);
    return () => {
      batches.unsubscribe();
      // A gate of our own is closed, waking a source that waits for credits; a shared one is left to its owner.
      if (options.gate === undefined) gate.close(new Error('tileBatches: unsubscribed'));
    };
  });
}
