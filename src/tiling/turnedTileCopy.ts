import { type NativeBinding, nativeBinding } from '../util/nativeBinding.js';

/**
 * Where each pixel of a flipped and quarter-turned square tile comes from: output pixel (u, v) is source pixel
 * `base + u * step + v * rowStep` (flips and turns move whole pixels along constant steps).
 */
export interface TurnedCopy {
  base: number;
  step: number;
  rowStep: number;
}

/** A square tile's pixels and mask, and the arrays of the same sizes its turned copy goes into. */
export interface TurnedCopyArrays {
  image: Uint8Array;
  mask: Uint8Array;
  outImage: Uint8Array;
  outMask: Uint8Array;
  size: number;
  channels: number;
}

/** The copy in JavaScript: what runs where the native binding is not built, and the binding's reference in tests. */
export function copyTurnedTileInJs(
  { image, mask, outImage, outMask, size, channels }: TurnedCopyArrays,
  { base, step, rowStep }: TurnedCopy,
): void {
  let out = 0;
  for (let v = 0; v < size; v++) {
    let from = base + v * rowStep;
    if (channels === 3) {
      for (let u = 0; u < size; u++, out++, from += step) {
        outMask[out] = mask[from]!;
        outImage[3 * out] = image[3 * from]!;
        outImage[3 * out + 1] = image[3 * from + 1]!;
        outImage[3 * out + 2] = image[3 * from + 2]!;
      }
      continue;
    }
    for (let u = 0; u < size; u++, out++, from += step) {
      outMask[out] = mask[from]!;
      for (let c = 0; c < channels; c++) outImage[out * channels + c] = image[from * channels + c]!;
    }
  }
}

/**
 * The binding's copy, or why the JavaScript one runs instead: the binding is missing, or was built by an
 * older segstream (before `npm run build:native` ran again) and lacks the function.
 */
function nativeTurnedCopy(): NativeBinding['copyTurnedTile'] | { missing: string } {
  const native = nativeBinding();
  if (!('binding' in native)) return native;
  return typeof native.binding.copyTurnedTile === 'function'
    ? native.binding.copyTurnedTile
    : { missing: 'the binding predates them: npm run build:native' };
}

/** Whether `copyTurnedTile` runs in C or in JavaScript (and why), for start-up lines. */
export function turnedTileCopyLine(): string {
  const native = nativeTurnedCopy();
  return typeof native === 'function'
    ? 'flips and turns in C (segstream binding)'
    : `flips and turns in JavaScript (${native.missing})`;
}

/**
 * Copies a tile flipped and turned as `copy` says, into `outImage` and `outMask`: with segstream's native
 * binding where it is built (the main thread does this for every tile of an augmented stream, and C does it
 * five times as fast: 0.07 against 0.3-0.5 ms a 256 px RGB tile on the 2-core EPYC VMs), else in JavaScript.
 * Both give the same bytes.
 */
export function copyTurnedTile(arrays: TurnedCopyArrays, copy: TurnedCopy): void {
  const native = nativeTurnedCopy();
  if (typeof native !== 'function') return copyTurnedTileInJs(arrays, copy);
  const { image, mask, outImage, outMask, size, channels } = arrays;
  native(image, mask, outImage, outMask, size, channels, copy.base, copy.step, copy.rowStep);
}
