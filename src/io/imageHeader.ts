/** Width and height in pixels. */
type Size = { width: number; height: number };

/** Bytes of a file's start that `sizeFromHeader` is given: PNG's size is in its first 24, JPEG's after its APP segments (EXIF, ICC). */
export const HEADER_BYTES = 64 * 1024;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function pngSize(bytes: Uint8Array, view: DataView): Size | undefined {
  if (bytes.length < 24 || PNG_SIGNATURE.some((byte, i) => bytes[i] !== byte)) return undefined;
  // The first chunk is IHDR: length (4), type (4), then width and height.
  if (String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') return undefined;
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** Start-of-frame markers (C0-CF) except DHT (C4), JPG (C8) and DAC (CC), which share the range. */
const isStartOfFrame = (marker: number): boolean =>
  marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;

function jpegSize(bytes: Uint8Array, view: DataView): Size | undefined {
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  // Walk the segments before the scan: marker (FF xx), then a big-endian length that counts itself.
  let at = 2;
  while (at + 9 <= bytes.length) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    if (isStartOfFrame(marker)) {
      // SOF: length (2), sample precision (1), height (2), width (2); a height of 0 is given later (DNL).
      const size = { width: view.getUint16(at + 7), height: view.getUint16(at + 5) };
      return size.width > 0 && size.height > 0 ? size : undefined;
    }
    if (marker === 0xda || marker === 0xd9) return undefined; // scan or end before any frame header
    const standalone = marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7); // TEM, RSTn: no length
    at += standalone ? 2 : 2 + view.getUint16(at + 2);
  }
  return undefined;
}

/**
 * The width and height written in a PNG's or JPEG's header, read from the file's first bytes without
 * decoding; undefined for other formats and for headers that do not fit in those bytes (then ask a decoder).
 *
 * @example
 * sizeFromHeader(firstBytesOfPng); // { width: 1024, height: 1024 }
 */
export function sizeFromHeader(bytes: Uint8Array): Size | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return pngSize(bytes, view) ?? jpegSize(bytes, view);
}
