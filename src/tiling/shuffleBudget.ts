/**
 * The default memory budget of a training stream's shuffle buffer, in MiB. A buffer counted in tiles mixed
 * too few scenes: 64 tiles are four 1024 px images cut into 256 px tiles, so batches held tiles of one or two
 * scenes and, on a 6-class land-cover set, cost up to 0.13 held-out mean IoU against a full shuffle
 * (docs/BACKPRESSURE.md). 256 MiB holds 1,024 tiles of 256 px (64 such images) or 4,096 of 128 px.
 */
export const DEFAULT_SHUFFLE_MEMORY_MIB = 256;

/** Bytes one tile holds in the stream: one byte per pixel and channel, and one mask byte per pixel. */
export function tileBytes(tileSize: number, channels = 3): number {
  return tileSize * tileSize * (channels + 1);
}

/**
 * The shuffle buffer, in tiles, that a memory budget holds: what `--shuffle-memory` turns into.
 * @throws RangeError when the budget is not a positive number or holds no tile at all.
 */
export function shuffleBufferForMemory(memoryMiB: number, tileSize: number, channels = 3): number {
  if (typeof memoryMiB !== 'number' || !(memoryMiB > 0) || !Number.isFinite(memoryMiB))
    throw new RangeError(`shuffle: the memory budget must be a positive number of MiB, got ${memoryMiB}`);
  const tiles = Math.floor((memoryMiB * 2 ** 20) / tileBytes(tileSize, channels));
  if (tiles < 1)
    throw new RangeError(
      `shuffle: ${memoryMiB} MiB holds no ${tileSize} px tile (${tileBytes(tileSize, channels)} bytes each)`,
    );
  return tiles;
}
