import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeClassMaskPng } from '../io/writeClassMaskPng.js';
import { SeededRandom } from '../util/seededRandom.js';

/** The damage classes drawn, as xBD `subtype`s, with a roof look each (base colour and how broken it is). */
const DAMAGE_LOOKS = [
  { subtype: 'no-damage', roof: [200, 200, 205], broken: 0 },
  { subtype: 'minor-damage', roof: [190, 170, 150], broken: 0.15 },
  { subtype: 'major-damage', roof: [140, 110, 90], broken: 0.45 },
  { subtype: 'destroyed', roof: [60, 45, 40], broken: 0.85 },
] as const;

/** Options of {@link writeSyntheticXbd}. */
export interface SyntheticXbdOptions {
  /** [images=24] Images to write. */
  images?: number;
  /** [size=256] Image side in pixels. */
  size?: number;
  /** [buildingsPerImage=10] */
  buildingsPerImage?: number;
  /** [seed=1] The same seed writes the same files. */
  seed?: number;
}

/** Where the synthetic set was written. */
export interface SyntheticXbdDataset {
  imagesDir: string;
  labelsDir: string;
  /** The same labels as class-index PNG masks (xBD ids: 0 background, 1 no-damage ... 4 destroyed). */
  masksDir: string;
  /** Buildings drawn per damage subtype. */
  buildings: Record<string, number>;
}

type Point = [number, number];

function rotatedRectangle(cx: number, cy: number, w: number, h: number, angle: number): Point[] {
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  return [
    [-w / 2, -h / 2],
    [w / 2, -h / 2],
    [w / 2, h / 2],
    [-w / 2, h / 2],
  ].map(([x, y]) => [cx + x! * cos - y! * sin, cy + x! * sin + y! * cos]);
}

/**
 * The polygon moved the least that puts every vertex in [0, size]: a rotated rectangle's corners can reach
 * past the range its centre is drawn from, and label readers refuse vertices outside the image.
 */
function movedInside(polygon: Point[], size: number): Point[] {
  const shift = (values: number[]) =>
    Math.max(0, -Math.min(...values)) - Math.max(0, Math.max(...values) - size);
  const dx = shift(polygon.map(([x]) => x));
  const dy = shift(polygon.map(([, y]) => y));
  return polygon.map(([x, y]) => [x + dx, y + dy]);
}

function inside(polygon: Point[], x: number, y: number): boolean {
  let crossings = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i]!;
    const [xj, yj] = polygon[j]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) crossings = !crossings;
  }
  return crossings;
}

/** Textured ground: a smooth field of vegetation and bare soil, plus grain. */
function drawGround(rgb: Uint8Array, size: number, random: SeededRandom): void {
  const waves = Array.from({ length: 4 }, () => ({
    fx: random.between(0.005, 0.04),
    fy: random.between(0.005, 0.04),
    phase: random.between(0, 6.3),
  }));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const field = waves.reduce((sum, w) => sum + Math.sin(x * w.fx + y * w.fy + w.phase), 0) / waves.length;
      const grain = random.between(-14, 14);
      const soil = (field + 1) / 2;
      const pixel = (y * size + x) * 3;
      rgb[pixel] = 70 + soil * 80 + grain;
      rgb[pixel + 1] = 95 + (1 - soil) * 50 + grain;
      rgb[pixel + 2] = 55 + soil * 40 + grain;
    }
  }
}

function drawBuilding(
  rgb: Uint8Array,
  mask: Uint8Array,
  size: number,
  polygon: Point[],
  classId: number,
  random: SeededRandom,
): void {
  const look = DAMAGE_LOOKS[classId - 1]!;
  const xs = polygon.map(([x]) => x);
  const ys = polygon.map(([, y]) => y);
  for (
    let y = Math.max(0, Math.floor(Math.min(...ys)));
    y <= Math.min(size - 1, Math.ceil(Math.max(...ys)));
    y++
  ) {
    for (
      let x = Math.max(0, Math.floor(Math.min(...xs)));
      x <= Math.min(size - 1, Math.ceil(Math.max(...xs)));
      x++
    ) {
      if (!inside(polygon, x + 0.5, y + 0.5)) continue;
      // Where buildings overlap the more severe damage wins, as the xBD class map's priority says.
      if (mask[y * size + x]! > classId) continue;
      mask[y * size + x] = classId;
      const pixel = (y * size + x) * 3;
      const rubble = random.float() < look.broken;
      const shade = rubble ? random.between(0.3, 0.7) : random.between(0.93, 1.05);
      for (let c = 0; c < 3; c++) rgb[pixel + c] = Math.min(255, look.roof[c]! * shade);
    }
  }
}

/**
 * Writes a small synthetic aerial-like dataset in xBD format: textured ground with rotated building
 * footprints whose roofs look intact, damaged or destroyed, as PNG images and xBD JSON labels (`features.xy`
 * with WKT polygons and damage `subtype`s), plus the same labels as class-index PNG masks (pixel-centre
 * rule; where buildings overlap the more severe damage wins, in the mask and in the image). It stands in for real data in the built-in default run, since
 * real imagery cannot be bundled; the classes are learnable from colour and texture in a few minutes.
 *
 * @example
 * ```ts
 * const { imagesDir, labelsDir } = await writeSyntheticXbd('runs/demo/data', { images: 24, size: 256 });
 * ```
 * @param dir Folder to write `images/` and `labels/` into.
 * @param options Image count, size, buildings per image, seed.
 */
export async function writeSyntheticXbd(
  dir: string,
  options: SyntheticXbdOptions = {},
): Promise<SyntheticXbdDataset> {
  const count = options.images ?? 24;
  const size = options.size ?? 256;
  const perImage = options.buildingsPerImage ?? 10;
  for (const [name, value] of Object.entries({ images: count, size, buildingsPerImage: perImage })) {
    if (!Number.isInteger(value) || value < 1)
      throw new RangeError(`writeSyntheticXbd: ${name} must be an integer >= 1, got ${String(value)}`);
  }
  if (size < 32) throw new RangeError(`writeSyntheticXbd: size must be at least 32, got ${size}`);
  const random = new SeededRandom(options.seed ?? 1);
  const imagesDir = join(dir, 'images');
  const labelsDir = join(dir, 'labels');
  const masksDir = join(dir, 'masks');
  for (const folder of [imagesDir, labelsDir, masksDir]) await mkdir(folder, { recursive: true });
  const buildings: Record<string, number> = Object.fromEntries(DAMAGE_LOOKS.map((l) => [l.subtype, 0]));
  for (let index = 0; index < count; index++) {
    const name = `synthetic-disaster_${String(index).padStart(8, '0')}_post_disaster`;
    const rgb = new Uint8Array(size * size * 3);
    const mask = new Uint8Array(size * size);
    drawGround(rgb, size, random);
    const features = [];
    for (let b = 0; b < perImage; b++) {
      const classId = random.int(1, DAMAGE_LOOKS.length);
      const look = DAMAGE_LOOKS[classId - 1]!;
      const w = random.between(size / 16, size / 6);
      const h = random.between(size / 16, size / 6);
      const polygon = movedInside(
        rotatedRectangle(
          random.between(w, size - w),
          random.between(h, size - h),
          w,
          h,
          random.between(0, Math.PI),
        ),
        size,
      );
      drawBuilding(rgb, mask, size, polygon, classId, random);
      buildings[look.subtype]! += 1;
      const ring = [...polygon, polygon[0]!].map(([x, y]) => `${x.toFixed(2)} ${y.toFixed(2)}`).join(', ');
      features.push({
        properties: { feature_type: 'building', subtype: look.subtype, uid: `${index}-${b}` },
        wkt: `POLYGON ((${ring}))`,
      });
    }
    await sharp(rgb, { raw: { width: size, height: size, channels: 3 } })
      .png()
      .toFile(join(imagesDir, `${name}.png`));
    const label = {
      features: { lng_lat: [], xy: features },
      metadata: {
        width: size,
        height: size,
        disaster: 'synthetic-disaster',
        disaster_type: 'synthetic',
        img_name: `${name}.png`,
        gsd: 0.5,
      },
    };
    await writeClassMaskPng(join(masksDir, `${name}.png`), { data: mask, width: size, height: size });
    await writeFile(join(labelsDir, `${name}.json`), `${JSON.stringify(label)}\n`);
  }
  return { imagesDir, labelsDir, masksDir, buildings };
}
