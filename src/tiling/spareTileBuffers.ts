import type { LabelledTile } from './labelledTile.js';

/** Allocates a tile's pixel or mask buffer of `length` bytes; its previous contents are undefined. */
export type TileAllocator = (length: number) => Uint8Array;

/** Fresh, zeroed buffers: what tiles are cut into when nothing is recycled. */
export const newTileBuffer: TileAllocator = (length) => new Uint8Array(length);

/**
 * The buffers of tiles that nothing reads any more (their values are in a batch's tensors), kept for the next
 * tiles to be cut into. A stream then reuses a few MiB where it would allocate hundreds of MiB of tile buffers
 * per epoch and leave them to the garbage collector: on the main thread, which receives the reader workers'
 * tile buffers, collecting them took half of its time (docs/BENCHMARKS.md, section 1).
 *
 * @example
 * const spare = new SpareTileBuffers(64);
 * const tiles = cutTiles(labelled, grid, undefined, spare.allocate);
 * // ... once the tiles' values are copied out:
 * spare.give(tiles);
 */
export class SpareTileBuffers {
  private readonly byLength = new Map<number, ArrayBuffer[]>();
  private count = 0;

  /** @param limit The most buffers kept; more given are left to the garbage collector. */
  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 0)
      throw new RangeError(`SpareTileBuffers: limit must be an integer >= 0, got ${limit}`);
  }

  /** The buffers kept now. */
  get size(): number {
    return this.count;
  }

  /**
   * Keeps the image and mask buffers of tiles that no one reads again. Only a typed array that spans a whole
   * ArrayBuffer of its own is kept: a view into a larger or shared buffer belongs to its owner.
   */
  give(tiles: readonly LabelledTile[]): void {
    for (const tile of tiles)
      for (const data of [tile.image.data, tile.mask.data])
        if (
          data.buffer instanceof ArrayBuffer &&
          data.byteOffset === 0 &&
          data.byteLength === data.buffer.byteLength
        )
          this.keep([data.buffer]);
  }

  /** Keeps buffers that no one uses any more (e.g. received from another thread), up to the limit. */
  keep(buffers: readonly ArrayBuffer[]): void {
    for (const buffer of buffers) {
      if (this.count >= this.limit) return;
      // A detached buffer (transferred elsewhere) has no bytes left to reuse.
      if (buffer.byteLength === 0) continue;
      let list = this.byLength.get(buffer.byteLength);
      if (!list) this.byLength.set(buffer.byteLength, (list = []));
      list.push(buffer);
      this.count++;
    }
  }

  /** A kept buffer of `length` bytes when there is one, else a new one (see {@link TileAllocator}). */
  readonly allocate: TileAllocator = (length) => {
    const buffer = this.byLength.get(length)?.pop();
    if (!buffer) return newTileBuffer(length);
    this.count--;
    return new Uint8Array(buffer);
  };

  /**
   * Removes and returns up to `perLength` kept buffers of each length, for a reader on another thread to cut
   * tiles into (they are transferred there, so they must leave this list).
   */
  take(perLength: number): ArrayBuffer[] {
    const taken = [...this.byLength.values()].flatMap((list) =>
      list.splice(Math.max(0, list.length - perLength)),
    );
    this.count -= taken.length;
    return taken;
  }
}
