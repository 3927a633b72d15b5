/**
 * Pixel normalization (pixel / 255 - mean) / std as one multiply-add per sample: `pixel * scale[c] + offset[c]`
 * for channel c of interleaved pixels of any channel count (RGB, or one channel per raster band). The wasm
 * backend applies the same factors in its own memory (`normalizedPixelTensor`).
 */
export interface PixelNormalization {
  scale: readonly number[];
  offset: readonly number[];
}

/** The per-channel factors of (pixel / 255 - mean) / std. */
export function pixelNormalization(mean: readonly number[], std: readonly number[]): PixelNormalization {
  return { scale: std.map((s) => 1 / (255 * s)), offset: mean.map((m, c) => -m / std[c]!) };
}

/** Images of equal size, normalized one after another into one Float32Array (for backends other than wasm). */
export function normalizedPixels(
  images: readonly Uint8Array[],
  { scale, offset }: PixelNormalization,
): Float32Array {
  const samples = images[0]?.length ?? 0;
  const channels = scale.length;
  const normalized = new Float32Array(images.length * samples);
  images.forEach((image, b) => normalized.set(image, b * samples)); // native uint8 -> float32 conversion
  // Then one in-place pass per channel: about twice as fast as converting and scaling in the same JS loop.
  for (let c = 0; c < channels; c++) {
    const s = scale[c]!;
    const o = offset[c]!;
    for (let i = c; i < normalized.length; i += channels) normalized[i] = normalized[i]! * s + o;
  }
  return normalized;
}
