import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeImage, type ReusablePixels } from '../src/io/decodeImage.js';
import { IMAGE_MALLOC_THRESHOLDS, jpegDecoder, setImageMallocThresholds } from '../src/io/nativeReading.js';
import { copyTurnedTileInJs, type TurnedCopy } from '../src/tiling/turnedTileCopy.js';
import { nativeBinding } from '../src/util/nativeBinding.js';
import { testUnlessMissing } from './helpers/skips.js';

// The libjpeg-turbo binding must give exactly sharp's pixels, and hand to sharp whatever it would get wrong.
const decoder = jpegDecoder();
const missing = 'binding' in decoder ? undefined : `needs the libjpeg-turbo binding: ${decoder.sharp}`;
const scratch = mkdtempSync(join(tmpdir(), 'segstream-io-jpeg-'));

/** A scene with edges and gradients in every channel, so that DCT and upsampling differences show. */
function scene(width: number, height: number): Buffer {
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const at = (y * width + x) * 3;
      pixels[at] = (x * 7 + y * 3) & 255;
      pixels[at + 1] = ((x >> 3) + (y >> 3)) % 2 ? 230 : 20;
      pixels[at + 2] = Math.round(127 + 120 * Math.sin(x / 5) * Math.cos(y / 7));
    }
  return pixels;
}

/** What sharp makes of a file, as decodeImage did before the binding: RGB, no alpha, sRGB. */
async function sharpPixels(path: string): Promise<Uint8Array> {
  return new Uint8Array(await sharp(readFileSync(path)).removeAlpha().toColourspace('srgb').raw().toBuffer());
}

async function writeJpeg(name: string, width: number, height: number, encode: (image: Sharp) => Sharp) {
  const path = join(scratch, name);
  const image = sharp(scene(width, height), { raw: { width, height, channels: 3 } });
  writeFileSync(path, await encode(image).toBuffer());
  return path;
}

testUnlessMissing("JPEGs of every common kind decode to exactly sharp's pixels", missing, async () => {
  const kinds: Array<[string, number, number, (image: Sharp) => Sharp]> = [
    ['420.jpg', 256, 192, (i) => i.jpeg({ quality: 80 })],
    ['444.jpg', 256, 192, (i) => i.jpeg({ quality: 95, chromaSubsampling: '4:4:4' })],
    ['odd-size.jpg', 37, 23, (i) => i.jpeg({ quality: 70 })],
    ['progressive.jpg', 200, 120, (i) => i.jpeg({ progressive: true })],
    ['gray.jpg', 64, 48, (i) => i.grayscale().jpeg()],
    [
      'optimised.jpg',
      96,
      96,
      (i) => i.jpeg({ optimiseCoding: true, trellisQuantisation: true, quantisationTable: 3 }),
    ],
  ];
  for (const [name, width, height, encode] of kinds) {
    const path = await writeJpeg(name, width, height, encode);
    const image = await decodeImage(path);
    assert.equal([image.width, image.height, image.channels], [width, height, 3], name);
    assert.ok(
      Buffer.from(image.data).equals(Buffer.from(await sharpPixels(path))),
      `${name}: pixels differ from sharp's`,
    );
  }
});

testUnlessMissing(
  'a JPEG with an ICC profile or in CMYK is left to sharp, which converts it to sRGB',
  missing,
  async () => {
    for (const [name, encode] of [
      ['display-p3.jpg', (i: Sharp) => i.withIccProfile('p3').jpeg()],
      ['cmyk.jpg', (i: Sharp) => i.toColourspace('cmyk').jpeg()],
    ] as const) {
      const path = await writeJpeg(name, 64, 64, encode);
      const expected = await sharpPixels(path);
      assert.ok(Buffer.from((await decodeImage(path)).data).equals(Buffer.from(expected)), name);
      // The binding itself declines them (null), rather than decoding them without the conversion.
      if ('binding' in decoder) assert.is(decoder.binding.decodeJpeg(readFileSync(path)), null, name);
    }
  },
);

testUnlessMissing(
  'decoding into a reused buffer: its memory, grown for a larger image, same pixels',
  missing,
  async () => {
    const small = await writeJpeg('small.jpg', 32, 16, (i) => i.jpeg());
    const large = await writeJpeg('large.jpg', 64, 40, (i) => i.jpeg());
    const reuse: ReusablePixels = { bytes: new Uint8Array(0) };
    const first = await decodeImage(large, undefined, reuse);
    assert.is(first.data.buffer, reuse.bytes.buffer, 'grown to the image and decoded into');
    assert.is(reuse.bytes.length, 64 * 40 * 3);
    const grown = reuse.bytes;
    const second = await decodeImage(small, undefined, reuse);
    assert.is(reuse.bytes, grown, 'a smaller image reuses the buffer');
    assert.is(second.data.buffer, grown.buffer);
    assert.is(second.data.length, 32 * 16 * 3);
    assert.ok(Buffer.from(second.data).equals(Buffer.from(await sharpPixels(small))));
  },
);

testUnlessMissing(
  'a JPEG libjpeg cannot decode gives the InputError sharp gives, naming the file',
  missing,
  async () => {
    const path = await writeJpeg('corrupt.jpg', 64, 64, (i) => i.jpeg());
    const bytes = readFileSync(path);
    // A start-of-frame claiming 0 components: libjpeg refuses it outright.
    const frame = bytes.findIndex((b, i) => b === 0xff && bytes[i + 1] === 0xc0);
    bytes[frame + 9] = 0;
    writeFileSync(path, bytes);
    assert.throws(() => 'binding' in decoder && decoder.binding.decodeJpeg(bytes));
    try {
      await decodeImage(path);
      assert.unreachable('decoded a JPEG of 0 components');
    } catch (error) {
      assert.match(String(error), path);
    }
  },
);

testUnlessMissing(
  'the malloc thresholds are set unless GLIBC_TUNABLES or SEGSTREAM_MALLOC says otherwise',
  missing,
  () => {
    const saved = { ...process.env };
    try {
      delete process.env.GLIBC_TUNABLES;
      delete process.env.SEGSTREAM_MALLOC;
      assert.is(
        setImageMallocThresholds(),
        `malloc: mmap threshold ${IMAGE_MALLOC_THRESHOLDS.mmapThreshold / 2 ** 20} MiB, trim threshold ${IMAGE_MALLOC_THRESHOLDS.trimThreshold / 2 ** 20} MiB`,
      );
      process.env.GLIBC_TUNABLES = 'glibc.malloc.trim_threshold=1048576';
      assert.is(setImageMallocThresholds(), 'malloc: GLIBC_TUNABLES=glibc.malloc.trim_threshold=1048576');
      delete process.env.GLIBC_TUNABLES;
      process.env.SEGSTREAM_MALLOC = 'default';
      assert.match(setImageMallocThresholds(), "glibc's defaults");
    } finally {
      process.env = saved;
    }
  },
);

testUnlessMissing(
  "the binding's flips and quarter turns give the JavaScript copy's bytes, and refuse a mapping off the tile",
  missing,
  () => {
    const native = nativeBinding();
    if (!('binding' in native)) return assert.unreachable(native.missing);
    const { copyTurnedTile } = native.binding;
    for (const size of [1, 5, 24]) {
      const last = size - 1;
      // The eight flips and turns of a square, as output (u, v) -> source (x, y).
      const orientations: Array<(u: number, v: number) => [number, number]> = [
        (u, v) => [u, v],
        (u, v) => [last - u, v],
        (u, v) => [u, last - v],
        (u, v) => [last - u, last - v],
        (u, v) => [v, u],
        (u, v) => [v, last - u],
        (u, v) => [last - v, u],
        (u, v) => [last - v, last - u],
      ];
      for (const channels of [1, 3, 4]) {
        const image = Uint8Array.from({ length: size * size * channels }, (_, i) => (i * 29 + 7) % 256);
        const mask = Uint8Array.from({ length: size * size }, (_, i) => (i * 13) % 256);
        for (const [k, sourceOf] of orientations.entries()) {
          const index = (u: number, v: number): number => {
            const [x, y] = sourceOf(u, v);
            return y * size + x;
          };
          const base = index(0, 0);
          const copy: TurnedCopy =
            size > 1
              ? { base, step: index(1, 0) - base, rowStep: index(0, 1) - base }
              : { base, step: 0, rowStep: 0 };
          const viaJs = { outImage: new Uint8Array(image.length), outMask: new Uint8Array(mask.length) };
          copyTurnedTileInJs({ image, mask, ...viaJs, size, channels }, copy);
          const viaBinding = { outImage: new Uint8Array(image.length), outMask: new Uint8Array(mask.length) };
          copyTurnedTile(
            image,
            mask,
            viaBinding.outImage,
            viaBinding.outMask,
            size,
            channels,
            copy.base,
            copy.step,
            copy.rowStep,
          );
          const name = `size ${size}, ${channels} channels, orientation ${k}`;
          assert.equal(viaBinding.outImage, viaJs.outImage, name);
          assert.equal(viaBinding.outMask, viaJs.outMask, name);
          // Both are the definition: output pixel (u, v) holds source pixel sourceOf(u, v).
          for (let v = 0; v < size; v++)
            for (let u = 0; u < size; u++) assert.is(viaJs.outMask[v * size + u], mask[index(u, v)], name);
        }
      }
    }
    const tile = new Uint8Array(16 * 3);
    const tileMask = new Uint8Array(16);
    assert.throws(
      () => copyTurnedTile(tile, tileMask, new Uint8Array(48), new Uint8Array(16), 4, 3, 0, 1, 5),
      (error: Error) => error instanceof RangeError && /do not fit/.test(error.message),
    );
    assert.throws(
      () =>
        copyTurnedTile(
          tile,
          Array.from(tileMask) as unknown as Uint8Array,
          new Uint8Array(48),
          new Uint8Array(16),
          4,
          3,
          0,
          1,
          4,
        ),
      (error: Error) => error instanceof TypeError && /Uint8Arrays/.test(error.message),
    );
  },
);

test.run();
