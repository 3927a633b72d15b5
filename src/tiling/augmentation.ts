import type { SeededRandom } from '../util/seededRandom.js';
import type { LabelledTile } from './labelledTile.js';
import { newTileBuffer, type TileAllocator } from './spareTileBuffers.js';
import { copyTurnedTile } from './turnedTileCopy.js';

export interface AugmentOptions {
  /** Seed of the augmentation draws; the same seed and input order give the same tiles. */
  seed: number;
  /** Mirror left-right with probability 1/2. Default true. */
  flipHorizontal?: boolean;
  /** Mirror top-bottom with probability 1/2. Default true. */
  flipVertical?: boolean;
  /** Rotate by 0, 90, 180 or 270 degrees, equally likely. Default true. */
  rotate90?: boolean;
  /**
   * Crop a random square of side `scale * size` (scale drawn uniformly from [min, max], both in (0, 1])
   * and scale it back to the tile size: bilinear for the image, nearest for the mask. Default: off.
   */
  cropScale?: [number, number];
  /** Largest brightness change, as a fraction of full scale (0.2: +-51 levels). Image only. Default 0. */
  brightness?: number;
  /** Largest contrast change: factor drawn from [1 - c, 1 + c] around the tile's mean. Default 0. */
  contrast?: number;
  /** Largest saturation change: factor drawn from [1 - s, 1 + s] away from gray. Default 0. */
  saturation?: number;
  /** Largest hue rotation in degrees (drawn from [-h, h]). Default 0. */
  hue?: number;
}

/** The transform drawn for one tile. */
export interface AugmentationDraw {
  flipHorizontal: boolean;
  flipVertical: boolean;
  /** Quarter turns clockwise, 0..3. */
  quarterTurns: number;
  /** Crop window in tile pixels (x, y, side); side equals the tile size when not cropping. */
  crop: { x: number; y: number; side: number };
  brightness: number;
  contrast: number;
  saturation: number;
  /** Hue rotation in degrees. */
  hue: number;
}

/**
 * Draws one tile's transform; the draws are made in a fixed order so a seed reproduces them. Geometry and
 * colour draw from separate generators, so turning a colour change on does not change the geometry.
 */
export function drawAugmentation(
  random: SeededRandom,
  colourRandom: SeededRandom,
  options: AugmentOptions,
  size: number,
): AugmentationDraw {
  const flipHorizontal = (options.flipHorizontal ?? true) && random.float() < 0.5;
  const flipVertical = (options.flipVertical ?? true) && random.float() < 0.5;
  const quarterTurns = (options.rotate90 ?? true) ? random.int(0, 3) : 0;
  let crop = { x: 0, y: 0, side: size };
  if (options.cropScale) {
    const side = Math.max(1, Math.round(size * random.between(options.cropScale[0], options.cropScale[1])));
    crop = { x: random.int(0, size - side), y: random.int(0, size - side), side };
  }
  const symmetric = (limit: number | undefined): number => (limit ? colourRandom.between(-limit, limit) : 0);
  return {
    flipHorizontal,
    flipVertical,
    quarterTurns,
    crop,
    brightness: symmetric(options.brightness),
    contrast: 1 + symmetric(options.contrast),
    saturation: 1 + symmetric(options.saturation),
    hue: symmetric(options.hue),
  };
}

/**
 * Per-axis lookup tables from output pixel to source position (before rounding): the turn and flips map
 * output (u, v) to the unrotated (a, b), the crop window maps those into the tile. With `swap`, a follows
 * v and b follows u.
 */
function sourceIndexTables(
  size: number,
  draw: AugmentationDraw,
): { fromX: Float64Array; fromY: Float64Array; swap: boolean } {
  // Turning by a quarter swaps axes; precompute per-axis lookup tables instead of a closure per pixel.
  const turns = draw.quarterTurns;
  const scale = draw.crop.side / size;
  const axis = (offset: number, reversed: boolean): Float64Array => {
    const table = new Float64Array(size);
    for (let i = 0; i < size; i++) table[i] = offset + ((reversed ? size - 1 - i : i) + 0.5) * scale - 0.5;
    return table;
  };
  // For output (u, v) with k clockwise quarter turns, the unrotated pixel (a, b) is:
  // k=0: (u, v); k=1: (v, s-1-u); k=2: (s-1-u, s-1-v); k=3: (s-1-v, u). Flips then mirror a or b.
  const swap = turns % 2 === 1;
  const reverseA = (turns === 2 || turns === 3) !== draw.flipHorizontal;
  const reverseB = (turns === 1 || turns === 2) !== draw.flipVertical;
  return { fromX: axis(draw.crop.x, reverseA), fromY: axis(draw.crop.y, reverseB), swap };
}

/**
 * Applies a drawn transform to a tile of any channel count: geometry to image and mask alike, colour to the
 * image only (saturation and hue to RGB tiles only: see `adjustColour`). The new tile's buffers come from
 * `allocate` (new ones by default; see `SpareTileBuffers`).
 */
export function applyAugmentation(
  tile: LabelledTile,
  draw: AugmentationDraw,
  allocate: TileAllocator = newTileBuffer,
): LabelledTile {
  const size = tile.image.width;
  const channels = tile.image.channels;
  // Every output pixel is written below, so a recycled buffer's old bytes never show.
  const image = allocate(size * size * channels);
  const mask = allocate(size * size);
  const mapping: PixelMapping = { tile, image, mask, ...sourceIndexTables(size, draw) };
  if (draw.crop.side === size) copyTurnedPixels(mapping);
  else resampleCrop(mapping);
  adjustColour(image, channels, draw, tile.origin.sourceId);
  return {
    image: { data: image, width: size, height: size, channels },
    mask: { data: mask, width: size, height: size },
    origin: tile.origin,
  };
}

/** A tile, the arrays its augmented copy is written into, and where each output pixel comes from. */
interface PixelMapping {
  tile: LabelledTile;
  image: Uint8Array;
  mask: Uint8Array;
  fromX: Float64Array;
  fromY: Float64Array;
  swap: boolean;
}

/**
 * Flips and quarter turns without a crop move whole pixels: the tables hold integer positions, and along an
 * output row the source index moves by a constant step (+-1 or +-size), so the mapping is affine (see
 * `copyTurnedTile`). It is what every tile of a default training run goes through.
 */
function copyTurnedPixels({ tile, image, mask, fromX, fromY, swap }: PixelMapping): void {
  const { width: size, channels } = tile.image;
  const at = (u: number, v: number): number =>
    swap ? fromY[u]! * size + fromX[v]! : fromY[v]! * size + fromX[u]!;
  const base = at(0, 0);
  copyTurnedTile(
    { image: tile.image.data, mask: tile.mask.data, outImage: image, outMask: mask, size, channels },
    { base, step: size > 1 ? at(1, 0) - base : 0, rowStep: size > 1 ? at(0, 1) - base : 0 },
  );
}

/** A crop scaled back to the tile's size: bilinear for the image, nearest for the mask (class ids stay ids). */
function resampleCrop({ tile, image, mask, fromX, fromY, swap }: PixelMapping): void {
  const { width: size, channels, data: source } = tile.image;
  const sourceMask = tile.mask.data;
  const last = size - 1;
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      const sx = swap ? fromX[v]! : fromX[u]!;
      const sy = swap ? fromY[u]! : fromY[v]!;
      const out = v * size + u;
      const nx = Math.min(last, Math.max(0, Math.round(sx)));
      const ny = Math.min(last, Math.max(0, Math.round(sy)));
      mask[out] = sourceMask[ny * size + nx]!;
      const cx = Math.min(last, Math.max(0, sx));
      const cy = Math.min(last, Math.max(0, sy));
      const x0 = Math.floor(cx);
      const y0 = Math.floor(cy);
      const x1 = Math.min(last, x0 + 1);
      const y1 = Math.min(last, y0 + 1);
      const fx = cx - x0;
      const fy = cy - y0;
      for (let c = 0; c < channels; c++) {
        const top =
          source[(y0 * size + x0) * channels + c]! * (1 - fx) + source[(y0 * size + x1) * channels + c]! * fx;
        const bottom =
          source[(y1 * size + x0) * channels + c]! * (1 - fx) + source[(y1 * size + x1) * channels + c]! * fx;
        image[out * channels + c] = Math.round(top * (1 - fy) + bottom * fy);
      }
    }
  }
}

/**
 * Brightness, contrast, saturation and hue in one pass. Hue turns the chroma plane of YIQ, a linear
 * colour space, so the whole adjustment is a 3x3 matrix plus an offset per pixel. Saturation and hue mean
 * something for RGB only; bands of other rasters (near infrared, elevation...) get brightness and contrast.
 *
 * @throws RangeError naming the tile's source when saturation or hue is drawn for a tile that is not RGB.
 */
function adjustColour(image: Uint8Array, channels: number, draw: AugmentationDraw, sourceId: string): void {
  const { brightness, contrast, saturation, hue } = draw;
  if (brightness === 0 && contrast === 1 && saturation === 1 && hue === 0) return;
  let mean = 0;
  if (contrast !== 1) {
    for (let i = 0; i < image.length; i++) mean += image[i]!;
    mean /= image.length;
  }
  const offset = brightness * 255 + mean * (1 - contrast);
  if (channels !== 3) {
    if (saturation !== 1 || hue !== 0)
      throw new RangeError(
        `augment: saturation and hue change RGB tiles only; tiles of ${sourceId} have ${channels} channels`,
      );
    for (let i = 0; i < image.length; i++) image[i] = clampByte(image[i]! * contrast + offset);
    return;
  }
  // RGB -> YIQ, scale chroma by saturation, rotate it by hue, back to RGB.
  const angle = (hue * Math.PI) / 180;
  const cos = Math.cos(angle) * saturation;
  const sin = Math.sin(angle) * saturation;
  const toYiq = [0.299, 0.587, 0.114, 0.596, -0.274, -0.322, 0.211, -0.523, 0.312];
  const toRgb = [1, 0.956, 0.621, 1, -0.272, -0.647, 1, -1.106, 1.703];
  const chroma = [1, 0, 0, 0, cos, -sin, 0, sin, cos];
  const m = multiply(toRgb, multiply(chroma, toYiq));
  for (let i = 0; i < image.length; i += 3) {
    const r = image[i]!;
    const g = image[i + 1]!;
    const b = image[i + 2]!;
    // Uint8Array assignment wraps, so clamp explicitly.
    image[i] = clampByte((m[0]! * r + m[1]! * g + m[2]! * b) * contrast + offset);
    image[i + 1] = clampByte((m[3]! * r + m[4]! * g + m[5]! * b) * contrast + offset);
    image[i + 2] = clampByte((m[6]! * r + m[7]! * g + m[8]! * b) * contrast + offset);
  }
}

const clampByte = (value: number): number => (value < 0 ? 0 : value > 255 ? 255 : Math.round(value));

function multiply(a: number[], b: number[]): number[] {
  const product = new Array<number>(9).fill(0);
  for (let row = 0; row < 3; row++)
    for (let col = 0; col < 3; col++)
      for (let k = 0; k < 3; k++) product[row * 3 + col]! += a[row * 3 + k]! * b[k * 3 + col]!;
  return product;
}
