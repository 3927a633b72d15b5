import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeArrayBuffer } from 'geotiff';
import type { ClassMap } from '../../src/labels/classMap.js';
import { readLabelMask } from '../../src/labels/readLabelMask.js';
import { writeMapPolygons } from '../../src/predict/mapPolygons.js';
import { maskToPolygons } from '../../src/predict/maskToPolygons.js';
import { geoTiffTags } from '../../src/predict/writeClassGeoTiff.js';
import type { GeoReference } from '../../src/types.js';
import { SeededRandom } from '../../src/util/seededRandom.js';

/** Background and building, as the generated raster sets label them. */
export const buildingClasses = (): ClassMap => ({
  names: ['background', 'building'],
  ids: new Map([['building', 1]]),
  ignoreValue: 255,
  colors: [
    [0, 0, 0],
    [255, 0, 0],
  ],
});

/**
 * Building pixels shared by two GeoJSON files in map coordinates (labels, predicted polygons), both rasterized
 * on the raster's grid made `scale` times finer: an area comparison that does not go through the pixels the
 * prediction was made on.
 */
export async function mapCoordinateOverlap(
  labelPaths: { labelled: string; predicted: string },
  georeference: GeoReference,
  size: { width: number; height: number },
  classMap: ClassMap,
  scale = 4,
): Promise<{ intersection: number; union: number; labelled: number; pixels: number }> {
  const [x0, a, b, y0, d, e] = georeference.transform;
  const fine: GeoReference = {
    ...georeference,
    transform: [x0, a / scale, b / scale, y0, d / scale, e / scale],
  };
  const fineSize = { width: size.width * scale, height: size.height * scale };
  const read = (labelPath: string) =>
    readLabelMask({ id: labelPath, imagePath: '', labelPath }, fineSize, classMap, { georeference: fine });
  const [labelled, predicted] = [await read(labelPaths.labelled), await read(labelPaths.predicted)];
  const overlap = { intersection: 0, union: 0, labelled: 0, pixels: labelled.data.length };
  labelled.data.forEach((value, i) => {
    const isLabelled = value === 1;
    const isPredicted = predicted.data[i] === 1;
    overlap.intersection += isLabelled && isPredicted ? 1 : 0;
    overlap.union += isLabelled || isPredicted ? 1 : 0;
    overlap.labelled += isLabelled ? 1 : 0;
  });
  return overlap;
}

/** Options of {@link writeMultibandRasterSet}. */
export interface MultibandRasterSetOptions {
  /** [bands=4] Samples per pixel. */
  bands?: number;
  /** [size=64] Raster side in pixels. */
  size?: number;
  /** [seed=1] */
  seed?: number;
  /** [offset=1000] The lowest background sample: sets apart the value ranges of two sets. */
  offset?: number;
}

/**
 * A folder pair of `count` georeferenced 16-bit rasters (UTM zone 36N, 0.5 m pixels, each placed apart) and
 * their GeoJSON labels in map coordinates: `images/scene-K.tif` and `labels/scene-K.json`. Each scene holds
 * one rectangular building, bright in the last band (a near-infrared-like band) over a noisy background;
 * the other bands are noise, so a model has to read the last band to find it.
 */
export async function writeMultibandRasterSet(
  root: string,
  count: number,
  options: MultibandRasterSetOptions = {},
): Promise<{ imagesDir: string; labelsDir: string }> {
  const bands = options.bands ?? 4;
  const size = options.size ?? 64;
  const offset = options.offset ?? 1000;
  const random = new SeededRandom(options.seed ?? 1);
  const imagesDir = join(root, 'images');
  const labelsDir = join(root, 'labels');
  mkdirSync(imagesDir, { recursive: true });
  mkdirSync(labelsDir, { recursive: true });
  for (let k = 0; k < count; k++) {
    const geo: GeoReference = { transform: [450_000 + 100 * k, 0.5, 0, 40_000, 0, -0.5], epsg: 32636 };
    const [x0, y0] = [random.int(0, size / 2), random.int(0, size / 2)];
    const [x1, y1] = [x0 + random.int(size / 8, size / 2), y0 + random.int(size / 8, size / 2)];
    const mask = new Uint8Array(size * size);
    const samples = new Uint16Array(size * size * bands);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const inside = x >= x0 && x < x1 && y >= y0 && y < y1;
        mask[y * size + x] = inside ? 1 : 0;
        for (let b = 0; b < bands; b++)
          samples[(y * size + x) * bands + b] =
            offset + random.int(0, 400) + (inside && b === bands - 1 ? 3000 : 0);
      }
    }
    const tags = {
      width: size,
      height: size,
      BitsPerSample: new Array<number>(bands).fill(16),
      ...geoTiffTags(geo),
    };
    writeFileSync(join(imagesDir, `scene-${k}.tif`), new Uint8Array(writeArrayBuffer(samples, tags)));
    await writeMapPolygons(
      maskToPolygons({ data: mask, width: size, height: size }),
      join(labelsDir, `scene-${k}.json`),
      buildingClasses(),
      geo,
      'raster',
    );
  }
  return { imagesDir, labelsDir };
}
