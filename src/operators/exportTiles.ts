import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { concatMap, type OperatorFunction } from 'rxjs';
import sharp from 'sharp';
import { writeClassMaskPng } from '../io/writeClassMaskPng.js';
import { writeNpy } from '../io/writeNpy.js';
import type { LabelledTile } from '../tiling/labelledTile.js';

export interface ExportTilesOptions {
  /** Folder to write into; `images/`, `masks/` (PNG) and `npy/` are made inside. */
  outDir: string;
  /** Which files to write. Default ['png']. */
  formats?: ReadonlyArray<'png' | 'npy'>;
}

/** File stem of a tile: source id and origin, so tiles of one image sort together and name their place. */
export const tileStem = (tile: LabelledTile): string =>
  `${tile.origin.sourceId}_x${tile.origin.x}_y${tile.origin.y}`;

/**
 * Writes each tile as a PNG pair (`images/<stem>.png` RGB, `masks/<stem>.png` single-channel class ids)
 * and/or as NumPy arrays (`npy/<stem>_image.npy` uint8 [H, W, 3], `npy/<stem>_mask.npy` uint8 [H, W]),
 * then passes the tile on. The stem is `<sourceId>_x<x>_y<y>`.
 *
 * @example
 * tiles$.pipe(exportTiles({ outDir: 'out/tiles', formats: ['png', 'npy'] }))
 *
 * @param options output folder and formats.
 * @returns an operator that writes tiles one at a time and emits them unchanged.
 */
export function exportTiles(options: ExportTilesOptions): OperatorFunction<LabelledTile, LabelledTile> {
  if (!options || typeof options.outDir !== 'string' || options.outDir.length === 0) {
    throw new TypeError(
      `exportTiles: outDir must be a non-empty folder path, got ${JSON.stringify(options?.outDir)}`,
    );
  }
  const formats = options.formats ?? ['png'];
  if (formats.length === 0 || formats.some((f) => f !== 'png' && f !== 'npy')) {
    throw new RangeError(
      `exportTiles: formats must be a non-empty list of 'png' and 'npy', got ${JSON.stringify(formats)}`,
    );
  }
  const folders = {
    images: join(options.outDir, 'images'),
    masks: join(options.outDir, 'masks'),
    npy: join(options.outDir, 'npy'),
  };
  let made: Promise<unknown> | undefined;
  const makeFolders = (): Promise<unknown> =>
    (made ??= Promise.all([
      ...(formats.includes('png')
        ? [mkdir(folders.images, { recursive: true }), mkdir(folders.masks, { recursive: true })]
        : []),
      ...(formats.includes('npy') ? [mkdir(folders.npy, { recursive: true })] : []),
    ]));
  return concatMap(async (tile) => {
    await makeFolders();
    const stem = tileStem(tile);
    const { width, height } = tile.image;
    const writes: Array<Promise<unknown>> = [];
    if (formats.includes('png')) {
      writes.push(
        sharp(tile.image.data, { raw: { width, height, channels: 3 } })
          .png()
          .toFile(join(folders.images, `${stem}.png`)),
      );
      writes.push(writeClassMaskPng(join(folders.masks, `${stem}.png`), tile.mask));
    }
    if (formats.includes('npy')) {
      writes.push(writeNpy(join(folders.npy, `${stem}_image.npy`), tile.image.data, [height, width, 3]));
      writes.push(writeNpy(join(folders.npy, `${stem}_mask.npy`), tile.mask.data, [height, width]));
    }
    await Promise.all(writes);
    return tile;
  });
}
