import { Worker } from 'node:worker_threads';
import { InputError } from '../errors.js';
import type { ClassMap } from '../labels/classMap.js';
import type { LabelledTile } from '../tiling/labelledTile.js';
import type { TileBlock, TileGrid } from '../tiling/tileGrid.js';
import type { LabelledPair } from '../types.js';
import type { RasterReadOptions } from './geoTiff.js';
import type { TiledImage } from './readTiles.js';

/**
 * What a worker is asked: one pair, read with the labels module's `readLabelMask` and cut by `grid`; with
 * `block`, only that block of a raster's tiles, read from its window (see `readTiles`).
 */
export interface TileReadRequest {
  id: number;
  pair: LabelledPair;
  classMap: ClassMap;
  format: string | undefined;
  grid: TileGrid;
  /** Band selection and ranges for rasters (see `decodeImage`). */
  raster: RasterReadOptions | undefined;
  block?: TileBlock;
  /** The raster's last block: the worker then closes the raster it kept open for the blocks. */
  lastBlock?: boolean;
  /** Buffers of used-up tiles (transferred) for the worker to cut this read's tiles into (see `SpareTileBuffers`). */
  spare?: ArrayBuffer[];
}

/** What the pool sends a worker: a read, or the image path of a raster whose blocks are all read elsewhere. */
export type TileReaderMessage = TileReadRequest | { release: string };

/** A worker's answer: the image's tiles and size, or what went wrong (an `InputError` keeps its file). */
export type TileReadReply =
  | { id: number; tiles: LabelledTile[]; width: number; height: number; error?: undefined }
  | { id: number; error: { name: string; message: string; file?: string; problem?: string } };

interface Pending {
  resolve: (image: TiledImage) => void;
  reject: (error: unknown) => void;
}

/** A worker, the reads it has not answered yet, and the rasters it was sent blocks of (it holds them open). */
interface PoolWorker {
  worker: Worker;
  pending: Map<number, Pending>;
  rasters: Set<string>;
}

/**
 * Worker threads that decode, rasterize and cut images off the main thread, so that on two cores the
 * main thread is left with batching and tensor creation (which must stay where the backend lives).
 * Workers start on the first read; each holds the process open only while it has reads to answer.
 *
 * @example
 * const pool = new TileReaderPool(2);
 * const { tiles } = await pool.read(pair, { classMap: xbdClassMap(), format: undefined, grid: tileGrid() });
 * await pool.close();
 */
export class TileReaderPool {
  private static readonly sharedPools = new Map<number, TileReaderPool>();

  /**
   * The process's pool of `size` workers, made on first use and kept: starting a worker (loading sharp and
   * the label readers) costs more than reading a few images, so streams one after another share them. Idle
   * workers do not keep the process alive.
   */
  static shared(size: number): TileReaderPool {
    let pool = TileReaderPool.sharedPools.get(size);
    if (!pool) TileReaderPool.sharedPools.set(size, (pool = new TileReaderPool(size)));
    return pool;
  }

  private readonly workers: PoolWorker[] = [];
  private nextId = 0;
  private closed = false;

  constructor(private readonly size: number) {
    if (!Number.isInteger(size) || size < 1)
      throw new RangeError(`TileReaderPool: size must be a positive integer, got ${size}`);
  }

  /**
   * Reads one pair (or one block of a raster's tiles) into tiles on the least busy worker, of those the one
   * that holds the raster open when there is a choice; rejects with the worker's error (an `InputError` for
   * bad input). Each worker keeps a raster it reads blocks of open, with its labels parsed, until its last
   * block (`lastBlock`) is read: then all of them close it. The `spare` buffers of the request are transferred:
   * they are unusable here afterwards.
   */
  read(pair: LabelledPair, request: Omit<TileReadRequest, 'id' | 'pair'>): Promise<TiledImage> {
    if (this.closed) return Promise.reject(new Error('TileReaderPool: closed'));
    const { imagePath } = pair;
    const busyness = (w: PoolWorker): number => w.pending.size * 2 - (w.rasters.has(imagePath) ? 1 : 0);
    const target =
      this.workers.length < this.size &&
      !this.workers.some((w) => w.rasters.has(imagePath) && w.pending.size === 0)
        ? this.spawn()
        : this.workers.reduce((a, b) => (busyness(b) < busyness(a) ? b : a));
    if (request.block) {
      target.rasters.add(imagePath);
      if (request.lastBlock) {
        for (const other of this.workers) {
          if (other !== target && other.rasters.has(imagePath))
            other.worker.postMessage({ release: imagePath } satisfies TileReaderMessage);
          other.rasters.delete(imagePath);
        }
      }
    }
    const id = this.nextId++;
    return new Promise<TiledImage>((resolve, reject) => {
      target.pending.set(id, { resolve, reject });
      target.worker.ref();
      target.worker.postMessage({ id, pair, ...request } satisfies TileReaderMessage, request.spare ?? []);
    });
  }

  /** Stops the workers; reads still pending are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    const workers = this.workers.splice(0);
    for (const { pending } of workers) failAll(pending, new Error('TileReaderPool: closed'));
    await Promise.all(workers.map(({ worker }) => worker.terminate()));
  }

  private spawn(): PoolWorker {
    // geotiff.js loads the web-worker package, which takes any worker thread without `workerData` for one
    // of its own web workers and fails; given workerData without its `mod` entry, it leaves the thread alone.
    const worker = new Worker(new URL('./tileReaderWorker.js', import.meta.url), { workerData: {} });
    const entry: PoolWorker = { worker, pending: new Map(), rasters: new Set() };
    worker.unref();
    worker.on('message', (reply: TileReadReply) => {
      const pending = entry.pending.get(reply.id);
      entry.pending.delete(reply.id);
      if (entry.pending.size === 0) worker.unref();
      if (!pending) return;
      if (reply.error === undefined)
        pending.resolve({ tiles: reply.tiles, width: reply.width, height: reply.height });
      else pending.reject(rebuiltError(reply.error));
    });
    // A worker that dies takes its reads with it: they fail, and the next read starts a new worker.
    const retire = (error: Error): void => {
      const index = this.workers.indexOf(entry);
      if (index >= 0) this.workers.splice(index, 1);
      failAll(entry.pending, error);
    };
    worker.on('error', (error: Error) =>
      retire(new Error(`TileReaderPool: a worker failed: ${error.message}`, { cause: error })),
    );
    worker.on('exit', (code) => retire(new Error(`TileReaderPool: a worker exited with code ${code}`)));
    this.workers.push(entry);
    return entry;
  }
}

function failAll(pending: Map<number, Pending>, error: Error): void {
  for (const { reject } of pending.values()) reject(error);
  pending.clear();
}

/** The worker's error on this side: an `InputError` naming the same file, or an error with the same name and message. */
function rebuiltError(failure: { name: string; message: string; file?: string; problem?: string }): Error {
  if (failure.file !== undefined && failure.problem !== undefined)
    return new InputError(failure.file, failure.problem);
  const error = new Error(failure.message);
  error.name = failure.name;
  return error;
}
