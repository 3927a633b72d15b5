import type { ClassMask } from '../types.js';
import { labelRegions } from './maskToPolygons.js';

/** What `sieveMask` removes. */
export interface SieveOptions {
  /** Regions of fewer pixels are merged into a neighbour; 0 or 1 changes nothing. */
  minArea: number;
  /** Mask value of unknown pixels (a label mask's ignore value): never sieved, never a merge target. */
  ignoreValue?: number;
}

/**
 * Removes regions smaller than `minArea` pixels from a class mask, as GDAL's sieve filter does before
 * polygonizing: each 4-connected region of one class with fewer pixels takes the class of the neighbouring
 * region it shares the longest border with (ties: the larger neighbour), and joins it. Regions are taken
 * smallest first and a merged region that is still too small is taken again, until no region is smaller
 * than `minArea`, except:
 *
 * - ignore-value regions, which stay as they are whatever their size (they are unknown, not a class), and
 * - a region bordered by nothing but ignore-value pixels and the image border, which stays too: merging it
 *   into the ignore value would turn a predicted class into "unknown" (GDAL likewise leaves polygons that
 *   touch only masked-out pixels).
 *
 * Only pixels of regions that were too small change. Cost is about linear in the number of pixels.
 *
 * @example
 * ```ts
 * const readable = sieveMask(prediction.classes, { minArea: 16 });
 * const polygons = maskToPolygons(readable);
 * ```
 * @param mask class ids, row-major, `width * height` values; not modified.
 * @returns a new mask.
 */
export function sieveMask(mask: ClassMask, options: SieveOptions): ClassMask {
  const { data, width, height } = mask;
  if (data.length !== width * height)
    throw new RangeError(`sieveMask: ${data.length} values for a ${width}x${height} mask`);
  const { minArea, ignoreValue } = options;
  if (!Number.isInteger(minArea) || minArea < 0)
    throw new RangeError(`sieveMask: minArea must be a whole number of pixels >= 0, got ${minArea}`);
  if (minArea <= 1) return { data: data.slice(), width, height };

  const { regionOf, regionPixels: size } = labelRegions(data, width, height, () => true);
  const regions = size.length;
  const classOf = new Int32Array(regions);
  for (let pixel = 0; pixel < data.length; pixel++) classOf[regionOf[pixel]!] = data[pixel]!;
  // Union-find over regions: a merged region points (eventually) at the region it joined.
  const parent = Int32Array.from({ length: regions }, (_, region) => region);
  const root = (region: number): number => {
    while (parent[region] !== region) region = parent[region] = parent[parent[region]!]!;
    return region;
  };
  // Border length (pixel edges) with each neighbouring region, per region: kept for roots only.
  const borders = Array.from({ length: regions }, () => new Map<number, number>());
  const addBorder = (a: number, b: number): void => {
    borders[a]!.set(b, (borders[a]!.get(b) ?? 0) + 1);
    borders[b]!.set(a, (borders[b]!.get(a) ?? 0) + 1);
  };
  for (let pixel = 0; pixel < data.length; pixel++) {
    const region = regionOf[pixel]!;
    if (pixel % width > 0 && regionOf[pixel - 1] !== region) addBorder(region, regionOf[pixel - 1]!);
    if (pixel >= width && regionOf[pixel - width] !== region) addBorder(region, regionOf[pixel - width]!);
  }
  const isIgnored = (region: number): boolean => classOf[region] === ignoreValue;

  /** Merges root `from` into root `into`: sizes, borders (neighbours now border `into`), and the union. */
  const merge = (from: number, into: number): void => {
    parent[from] = into;
    size[into]! += size[from]!;
    for (const [neighbour, length] of borders[from]!) {
      borders[neighbour]!.delete(from);
      if (neighbour === into) continue;
      borders[into]!.set(neighbour, (borders[into]!.get(neighbour) ?? 0) + length);
      borders[neighbour]!.set(into, (borders[neighbour]!.get(into) ?? 0) + length);
    }
    borders[from]!.clear();
  };

  // Small regions by size (a bucket queue: sizes only grow, so a region is never needed in an earlier bucket).
  const bySize: number[][] = Array.from({ length: minArea }, () => []);
  for (let region = 1; region < regions; region++)
    if (size[region]! < minArea && !isIgnored(region)) bySize[size[region]!]!.push(region);
  for (let bucket = 1; bucket < minArea; bucket++) {
    for (const region of bySize[bucket]!) {
      if (root(region) !== region || size[region] !== bucket) continue; // merged away or grown since queued
      let target = -1;
      for (const [neighbour, length] of borders[region]!) {
        if (isIgnored(neighbour)) continue;
        const best = target === -1 ? 0 : borders[region]!.get(target)!;
        if (length > best || (length === best && size[neighbour]! > size[target]!)) target = neighbour;
      }
      if (target === -1) continue; // only ignored pixels and the image border around it: it stays
      merge(region, target);
      // The region's other neighbours of the target's class now touch the target: one region with it.
      for (const neighbour of [...borders[target]!.keys()])
        if (classOf[neighbour] === classOf[target]) merge(neighbour, target);
      if (size[target]! < minArea) bySize[size[target]!]!.push(target);
    }
  }

  const sieved = new Uint8Array(data.length);
  for (let pixel = 0; pixel < data.length; pixel++) sieved[pixel] = classOf[root(regionOf[pixel]!)]!;
  return { data: sieved, width, height };
}
