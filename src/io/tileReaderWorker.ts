// A worker thread of `TileReaderPool`: decodes an image (or the window of a block of a raster's tiles), reads
// its label into a mask and cuts both into tiles, then hands the tiles' buffers to the main thread
// (transferred, not copied). A raster read block by block stays open here with its labels parsed, until its
// last block is read or the pool releases it.
import { parentPort } from 'node:worker_threads';
import { InputError } from '../errors.js';
import { readLabelMask, readLabelWindows } from '../labels/readLabelMask.js';
import { SpareTileBuffers } from '../tiling/spareTileBuffers.js';
import type { ReusablePixels } from './decodeImage.js';
import { OpenRasters } from './openRasters.js';
import { readTiles } from './readTiles.js';
import type { TileReaderMessage, TileReadReply, TileReadRequest } from './tileReaderPool.js';

const port = parentPort!;
const rasters = new OpenRasters(readLabelWindows);
/**
 * Buffers that images are decoded into, one per read in flight: a read's image is dead once its tiles are cut
 * (cutTiles copies them), so the next read decodes into pages already touched, not fresh ones.
 */
const spareImageBuffers: ReusablePixels[] = [];

function read(request: TileReadRequest): void {
  const { id, pair, classMap, format, grid, raster, block, lastBlock, spare } = request;
  const reusePixels = spareImageBuffers.pop() ?? { bytes: new Uint8Array(0) };
  const options = {
    classMap,
    readMask: readLabelMask,
    reusePixels,
    ...(format === undefined ? {} : { format }),
    ...(raster === undefined ? {} : { raster }),
  };
  // The spare buffers serve this read only: those it does not use go to the garbage collector with it.
  const spareTiles = new SpareTileBuffers(spare?.length ?? 0);
  spareTiles.keep(spare ?? []);
  readTiles(pair, grid, options, {
    ...(block ? { block } : {}),
    held: { rasters, lastBlock: lastBlock === true },
    allocate: spareTiles.allocate,
  })
    .finally(() => spareImageBuffers.push(reusePixels))
    .then(
      ({ tiles, width, height }) => {
        const reply: TileReadReply = { id, tiles, width, height };
        // cutTiles gives each tile buffers of its own, so handing them over leaves nothing behind here.
        port.postMessage(
          reply,
          tiles.flatMap((tile) => [
            tile.image.data.buffer as ArrayBuffer,
            tile.mask.data.buffer as ArrayBuffer,
          ]),
        );
      },
      (error: unknown) => {
        const failure =
          error instanceof InputError
            ? { file: error.file, problem: error.problem, name: error.name, message: error.message }
            : {
                name: (error as Error)?.name ?? 'Error',
                message: (error as Error)?.message ?? String(error),
              };
        const reply: TileReadReply = { id, error: failure };
        port.postMessage(reply);
      },
    );
}

port.on('message', (message: TileReaderMessage) => {
  if ('release' in message) void rasters.release(message.release);
  else read(message);
});
