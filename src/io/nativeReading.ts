import { type NativeBinding, nativeBinding } from '../util/nativeBinding.js';

/** The JPEG decoder in use: the binding, or sharp with the reason the binding is not used. */
export type JpegDecoderChoice = { binding: Pick<NativeBinding, 'decodeJpeg'> } | { sharp: string };

/**
 * Which decoder `decodeImage` uses for JPEG: segstream's binding of the system's libjpeg-turbo when it was
 * built and loads (2-3x faster than sharp's libvips pipeline for a whole image, and it can decode into a
 * buffer the caller reuses), else sharp. Both give the same pixels. `SEGSTREAM_JPEG_DECODER=sharp` makes it
 * sharp.
 */
export function jpegDecoder(): JpegDecoderChoice {
  if (process.env.SEGSTREAM_JPEG_DECODER === 'sharp') return { sharp: 'SEGSTREAM_JPEG_DECODER=sharp' };
  const native = nativeBinding();
  return 'binding' in native ? native : { sharp: native.missing };
}

/** One line naming the JPEG decoder in use, for benchmarks' and runs' start-up lines. */
export function jpegDecoderLine(): string {
  const decoder = jpegDecoder();
  return 'binding' in decoder ? 'libjpeg-turbo (segstream binding)' : `sharp (${decoder.sharp})`;
}

/** glibc's malloc thresholds for image work: buffers up to 8 MiB from the heap, trimmed above 32 MiB free. */
export const IMAGE_MALLOC_THRESHOLDS = { mmapThreshold: 8 * 2 ** 20, trimThreshold: 32 * 2 ** 20 } as const;

/**
 * Sets glibc's malloc thresholds for this process to {@link IMAGE_MALLOC_THRESHOLDS}, what
 * `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=8388608:glibc.malloc.trim_threshold=33554432` does at start-up:
 * decoded images and tiles (a few MiB each) then reuse the heap's freed pages instead of being mapped afresh
 * and faulting in new pages for every image. `stream-train` calls it at start; a program that embeds segstream
 * may. It changes nothing where `GLIBC_TUNABLES` already sets malloc settings (the user's choice),
 * `SEGSTREAM_MALLOC=default` asks for glibc's defaults, the binding is not built, or the C library is not glibc.
 *
 * @returns one line saying what it did, for start-up lines.
 */
export function setImageMallocThresholds(): string {
  if (process.env.GLIBC_TUNABLES?.includes('glibc.malloc.'))
    return `malloc: GLIBC_TUNABLES=${process.env.GLIBC_TUNABLES}`;
  if (process.env.SEGSTREAM_MALLOC === 'default')
    return "malloc: glibc's defaults (SEGSTREAM_MALLOC=default)";
  const native = nativeBinding();
  if (!('binding' in native)) return `malloc: glibc's defaults (${native.missing})`;
  const { mmapThreshold, trimThreshold } = IMAGE_MALLOC_THRESHOLDS;
  return native.binding.setMallocThresholds(mmapThreshold, trimThreshold)
    ? `malloc: mmap threshold ${mmapThreshold / 2 ** 20} MiB, trim threshold ${trimThreshold / 2 ** 20} MiB`
    : 'malloc: the C library is not glibc; its defaults';
}
