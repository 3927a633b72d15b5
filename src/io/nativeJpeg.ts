import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The binding of native/jpeg, built by `npm ci` where libjpeg-turbo's headers are installed. */
interface JpegBinding {
  decodeJpeg(
    bytes: Uint8Array,
    into?: Uint8Array,
  ): { width: number; height: number; data: Uint8Array } | null;
}

/** Where `npm run build:native` puts the binding, from this module's place in dist/src/io/. */
const BINDING_PATH = resolve(
  fileURLToPath(new URL('.', import.meta.url)),
  '../../../native/jpeg/build/Release/decode_jpeg.node',
);

/** The JPEG decoder in use: the binding, or sharp with the reason the binding is not used. */
export type JpegDecoderChoice = { binding: JpegBinding } | { sharp: string };

let choice: JpegDecoderChoice | undefined;

/**
 * Which decoder `decodeImage` uses for JPEG: segstream's binding of the system's libjpeg-turbo when it was
 * built and loads (2-3x faster than sharp's libvips pipeline for a whole image, and it can decode into a
 * buffer the caller reuses), else sharp. Both give the same pixels. `SEGSTREAM_JPEG_DECODER=sharp` makes it
 * sharp.
 */
export function jpegDecoder(): JpegDecoderChoice {
  if (choice) return choice;
  if (process.env.SEGSTREAM_JPEG_DECODER === 'sharp') {
    choice = { sharp: 'SEGSTREAM_JPEG_DECODER=sharp' };
    return choice;
  }
  try {
    choice = { binding: createRequire(import.meta.url)(BINDING_PATH) as JpegBinding };
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
    choice = {
      sharp: message.includes('Cannot find module')
        ? 'the libjpeg-turbo binding is not built (npm run build:native; it needs libjpeg62-turbo-dev)'
        : `the libjpeg-turbo binding does not load: ${message}`,
    };
  }
  return choice;
}

/** One line naming the JPEG decoder in use, for benchmarks' and runs' start-up lines. */
export function jpegDecoderLine(): string {
  const decoder = jpegDecoder();
  return 'binding' in decoder ? 'libjpeg-turbo (segstream binding)' : `sharp (${decoder.sharp})`;
}
