import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The functions of segstream's native binding (native/), built by `npm ci` where libjpeg's headers are installed. */
export interface NativeBinding {
  /** See src/tiling/turnedTileCopy.ts. */
  copyTurnedTile(
    image: Uint8Array,
    mask: Uint8Array,
    outImage: Uint8Array,
    outMask: Uint8Array,
    size: number,
    channels: number,
    base: number,
    step: number,
    rowStep: number,
  ): void;
  decodeJpeg(
    bytes: Uint8Array,
    into?: Uint8Array,
  ): { width: number; height: number; data: Uint8Array } | null;
  setMallocThresholds(mmapThreshold: number, trimThreshold: number): boolean;
}

/** Where `npm run build:native` puts the binding, from this module's place in dist/src/util/. */
const BINDING_PATH = resolve(
  fileURLToPath(new URL('.', import.meta.url)),
  '../../../native/build/Release/segstream_native.node',
);

let loaded: { binding: NativeBinding } | { missing: string } | undefined;

/** The binding, or why it is not there (not built, or built for another system). */
export function nativeBinding(): { binding: NativeBinding } | { missing: string } {
  if (loaded) return loaded;
  try {
    loaded = { binding: createRequire(import.meta.url)(BINDING_PATH) as NativeBinding };
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0]! : String(error);
    loaded = {
      missing: message.includes('Cannot find module')
        ? 'the native binding is not built (npm run build:native; it needs libjpeg62-turbo-dev)'
        : `the native binding does not load: ${message}`,
    };
  }
  return loaded;
}
