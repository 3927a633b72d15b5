import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InputError } from '../src/errors.js';
import { decodeImage, headerOf, probeImage, readImageSize } from '../src/io/decodeImage.js';
import { HEADER_BYTES, sizeFromHeader } from '../src/io/imageHeader.js';
import { syntheticXbd } from './helpers/data.js';
import { writeMultibandRasterSet } from './helpers/geoData.js';

const scratch = mkdtempSync(join(tmpdir(), 'segstream-io-decode-'));
// A PNG and a JPEG of 1024x1024, as xBD's tiles.
const xbd = await syntheticXbd(2);
const [XBD_PNG, XBD_JPEG] = xbd.images.map((name) => join(xbd.imagesDir, name)) as [string, string];

/** A 16-bit PNG written by hand (sharp cannot be told to make one from 16-bit raw input here). */
function png16(width: number, height: number, channels: 1 | 3, samples: number[]): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const typed = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typed));
    return Buffer.concat([length, typed, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 16;
  header[9] = channels === 1 ? 0 : 2;
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = Buffer.alloc(1 + width * channels * 2);
    for (let i = 0; i < width * channels; i++)
      row.writeUInt16BE(samples[y * width * channels + i]!, 1 + i * 2);
    rows.push(row);
  }
  const signature = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  return Buffer.concat([
    signature,
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

async function expectInputError(promise: Promise<unknown>, file: string): Promise<InputError> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, InputError);
    assert.is((error as InputError).file, file);
    assert.match((error as InputError).message, file);
    return error as InputError;
  }
  throw new Error(`no InputError for ${file}`);
}

test('xBD-like JPEG and PNG decode to 1024x1024 RGB, as their headers say', async () => {
  assert.equal(
    [XBD_PNG, XBD_JPEG].map((path) => path.slice(-4)),
    ['.png', '.jpg'],
  );
  for (const path of [XBD_JPEG, XBD_PNG]) {
    const image = await decodeImage(path);
    assert.equal([image.width, image.height, image.channels], [1024, 1024, 3]);
    assert.is(image.data.length, 1024 * 1024 * 3);
    assert.equal(await readImageSize(path), { width: 1024, height: 1024 });
    // sharp's own RGB decode of the same file is the reference for the pixels.
    const reference = await sharp(path).removeAlpha().raw().toBuffer();
    assert.ok(Buffer.from(image.data).equals(reference), `${path} pixels differ from sharp's decode`);
  }
});

test('grayscale becomes RGB with three equal channels', async () => {
  const gray = Uint8Array.from({ length: 5 * 4 }, (_, i) => i * 12);
  const path = join(scratch, 'gray.png');
  await sharp(gray, { raw: { width: 5, height: 4, channels: 1 } })
    .png()
    .toFile(path);
  const image = await decodeImage(path);
  assert.equal([image.width, image.height, image.channels], [5, 4, 3]);
  for (let i = 0; i < gray.length; i++)
    assert.equal(Array.from(image.data.subarray(i * 3, i * 3 + 3)), [gray[i], gray[i], gray[i]]);
});

test('RGBA loses its alpha, colours unchanged', async () => {
  const rgba = Uint8Array.from({ length: 3 * 2 * 4 }, (_, i) => (i % 4 === 3 ? 40 + i : i * 9));
  const path = join(scratch, 'rgba.png');
  await sharp(rgba, { raw: { width: 3, height: 2, channels: 4 } })
    .png()
    .toFile(path);
  const image = await decodeImage(path);
  const expected = Array.from(rgba).filter((_, i) => i % 4 !== 3);
  assert.equal(Array.from(image.data), expected);
});

test('16-bit grayscale and RGB are scaled to 8 bits (within one level of v / 257)', async () => {
  for (const channels of [1, 3] as const) {
    const samples = Array.from({ length: 4 * 3 * channels }, (_, i) => (i * 4099 + 77) % 65536);
    const path = join(scratch, `deep${channels}.png`);
    writeFileSync(path, png16(4, 3, channels, samples));
    const image = await decodeImage(path);
    assert.equal([image.width, image.height, image.channels], [4, 3, 3]);
    for (let p = 0; p < 12; p++) {
      for (let c = 0; c < 3; c++) {
        const expected = samples[p * channels + (channels === 1 ? 0 : c)]! / 257;
        assert.ok(
          Math.abs(image.data[p * 3 + c]! - expected) <= 1,
          `pixel ${p} channel ${c}: ${image.data[p * 3 + c]} vs ${expected}`,
        );
      }
    }
  }
});

test('a truncated JPEG, a text file named .png and a missing file give an InputError naming the file', async () => {
  const truncated = join(scratch, 'truncated.jpg');
  const bytes = readFileSync(XBD_JPEG);
  writeFileSync(truncated, bytes.subarray(0, bytes.length / 3));
  await expectInputError(decodeImage(truncated), truncated);
  const notImage = join(scratch, 'not-an-image.png');
  writeFileSync(notImage, 'this is not a PNG');
  await expectInputError(decodeImage(notImage), notImage);
  await expectInputError(readImageSize(notImage), notImage);
  const missing = join(scratch, 'missing.jpg');
  await expectInputError(decodeImage(missing), missing);
});

test('sizeFromHeader reads PNG and JPEG sizes as sharp does, past EXIF and ICC segments, progressive too', async () => {
  const pixels = (width: number, height: number) =>
    sharp(
      Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 31) % 251),
      { raw: { width, height, channels: 3 } },
    );
  const encodings: Array<[string, (width: number, height: number) => Promise<Buffer>]> = [
    ['png', (w, h) => pixels(w, h).png().toBuffer()],
    ['jpeg', (w, h) => pixels(w, h).jpeg({ quality: 95 }).toBuffer()],
    ['progressive jpeg', (w, h) => pixels(w, h).jpeg({ progressive: true }).toBuffer()],
    // EXIF (APP1) and an ICC profile (APP2) come before the frame header.
    [
      'jpeg with EXIF and ICC',
      (w, h) => pixels(w, h).withMetadata({ orientation: 6 }).withIccProfile('p3').jpeg().toBuffer(),
    ],
  ];
  for (const [name, encode] of encodings) {
    for (const [width, height] of [
      [1, 1],
      [300, 7],
      [17, 1025],
    ] as const) {
      const bytes = await encode(width, height);
      const { width: sharpWidth, height: sharpHeight } = await sharp(bytes).metadata();
      assert.equal(
        sizeFromHeader(bytes.subarray(0, HEADER_BYTES)),
        { width: sharpWidth, height: sharpHeight },
        `${name} ${width}x${height}`,
      );
    }
  }
  assert.is(
    sizeFromHeader(
      await sharp(Buffer.alloc(12), { raw: { width: 2, height: 2, channels: 3 } })
        .webp()
        .toBuffer(),
    ),
    undefined,
    'not PNG or JPEG',
  );
  assert.is(sizeFromHeader(Buffer.from('this is not an image')), undefined);
});

test('readImageSize asks sharp when the JPEG frame header lies past the bytes read first', async () => {
  const jpeg = await sharp(Buffer.alloc(40 * 30 * 3, 90), { raw: { width: 40, height: 30, channels: 3 } })
    .jpeg()
    .toBuffer();
  // A comment segment (COM, at most 65,533 bytes of text) right after the start marker pushes the frame header back.
  const comment = Buffer.alloc(65533, 0x61);
  const length = Buffer.from([0xff, 0xfe, 0xff, 0xff]);
  const padded = Buffer.concat([jpeg.subarray(0, 2), length, comment, jpeg.subarray(2)]);
  assert.is(sizeFromHeader(padded.subarray(0, HEADER_BYTES)), undefined);
  const path = join(scratch, 'late-frame-header.jpg');
  writeFileSync(path, padded);
  assert.equal(await readImageSize(path), { width: 40, height: 30 });
  assert.equal([(await decodeImage(path)).width, (await decodeImage(path)).height], [40, 30]);
});

test('one header read says what an image is under any read options: an 8-bit RGB TIFF is RGB until bands or ranges are given', async () => {
  const tiff = join(scratch, 'plain-rgb.tif');
  await sharp(Buffer.alloc(20 * 10 * 3, 7), { raw: { width: 20, height: 10, channels: 3 } })
    .tiff()
    .toFile(tiff);
  const plain = await probeImage(tiff);
  assert.equal(headerOf(plain), { width: 20, height: 10, channels: 3, raster: false });
  const range = { low: 0, high: 255 };
  assert.equal(headerOf(plain, { ranges: [range, range, range] }), {
    width: 20,
    height: 10,
    channels: 3,
    raster: true,
  });
  assert.equal(headerOf(plain, { bands: [2] }), { width: 20, height: 10, channels: 1, raster: true });
  // What decodeImage gives under the same options agrees with the header.
  assert.is((await decodeImage(tiff, { bands: [2] })).channels, 1);
  assert.is((await decodeImage(tiff)).channels, 3);

  const geo = await writeMultibandRasterSet(join(scratch, 'multiband'), 1, { bands: 4, size: 32 });
  const multiband = await probeImage(join(geo.imagesDir, 'scene-0.tif'));
  assert.equal(headerOf(multiband), { width: 32, height: 32, channels: 4, raster: true });
  assert.equal(headerOf(multiband, { bands: [3, 2, 1] }).channels, 3);

  // Band options are for TIFFs: a JPEG stays RGB.
  const jpeg = await probeImage(XBD_JPEG);
  assert.equal(headerOf(jpeg, { bands: [0] }), { width: 1024, height: 1024, channels: 3, raster: false });
});

test('a path that is not a string is refused by name', async () => {
  try {
    await decodeImage('' as string);
    assert.unreachable();
  } catch (error) {
    assert.instance(error, TypeError);
    assert.match(String(error), 'path');
  }
});

test.run();
