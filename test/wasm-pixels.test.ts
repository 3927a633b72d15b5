import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { firstValueFrom, of } from 'rxjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { normalizedPixelTensor } from '../src/backend/wasm/pixels.js';
import { decodeImage } from '../src/io/decodeImage.js';
import { toTensorBatch } from '../src/operators/toTensorBatch.js';
import { cutTiles, tileGrid } from '../src/tiling/tileGrid.js';
import { syntheticXbd } from './helpers/data.js';

// ImageNet statistics: scales and offsets that are not exact in float32.
const mean = [0.485, 0.456, 0.406] as const;
const std = [0.229, 0.224, 0.225] as const;
const scale = std.map((s) => 1 / (255 * s));
const offset = mean.map((m, c) => -m / std[c]!);

/** A 1024x1024 xBD-like image's pixels, decoded by the project's reader. */
const xbd = await syntheticXbd(1);
const xbdPixels = (await decodeImage(join(xbd.imagesDir, xbd.images[0]!))).data;

test('normalizedPixelTensor: float32 value * scale + offset per channel, whole SIMD blocks and the values after them alike', async () => {
  await selectBackend({ backend: 'wasm' });
  const pixels = xbdPixels;
  // Parts of 1, 5 and 17 pixels leave values after the last 16-pixel block; a whole image has none.
  const half = pixels.length / 3 / 2;
  const cases: Array<[number[], number[]]> = [
    [[1], [1, 1, 1, 3]],
    [
      [5, 17],
      [1, 22, 1, 3],
    ],
    [
      [half, half],
      [2, half, 1, 3],
    ],
  ];
  for (const [pixelCounts, shape] of cases) {
    let at = 0;
    const parts = pixelCounts.map((count) => pixels.subarray(at, (at += count * 3)));
    const before = tf.memory().numTensors;
    const tensor = normalizedPixelTensor(parts, shape, scale, offset);
    assert.ok(tensor, 'made on wasm');
    assert.is(tf.memory().numTensors, before + 1);
    const values = tensor.dataSync();
    let mismatches = 0;
    for (let i = 0; i < at; i++) {
      const expected = Math.fround(
        Math.fround(pixels[i]! * Math.fround(scale[i % 3]!)) + Math.fround(offset[i % 3]!),
      );
      if (values[i] !== expected) mismatches++;
    }
    assert.is(mismatches, 0, `${pixelCounts.join('+')} pixels`);
    tensor.dispose();
    assert.is(tf.memory().numTensors, before);
  }
  assert.throws(
    () => normalizedPixelTensor([pixels.subarray(0, 9)], [1, 4, 1, 3], scale, offset),
    /9 bytes do not fill a tensor of shape \[1, 4, 1, 3\]/,
  );
  await selectBackend({ backend: 'cpu' });
  assert.is(
    normalizedPixelTensor([pixels.subarray(0, 3)], [1, 1, 1, 3], scale, offset),
    undefined,
    'other backends build the values in JS',
  );
});

test('normalizedPixelTensor takes any channel count: 1, 2, 4, 5 and 7 bands, each with its own scale and offset', async () => {
  await selectBackend({ backend: 'wasm' });
  for (const channels of [1, 2, 4, 5, 7]) {
    const bandScale = Array.from({ length: channels }, (_, c) => 1 / (255 * (0.1 + 0.07 * c)));
    const bandOffset = Array.from({ length: channels }, (_, c) => -0.3 * c);
    // 37 pixels: whole SIMD blocks and values after them for every channel count.
    const shape = [2, 37, 1, channels];
    const values = xbdPixels.subarray(0, 2 * 37 * channels);
    const tensor = normalizedPixelTensor(
      [values.subarray(0, 37 * channels), values.subarray(37 * channels)],
      shape,
      bandScale,
      bandOffset,
    )!;
    const made = tensor.dataSync();
    tensor.dispose();
    let mismatches = 0;
    for (let i = 0; i < values.length; i++) {
      const c = i % channels;
      if (
        made[i] !==
        Math.fround(Math.fround(values[i]! * Math.fround(bandScale[c]!)) + Math.fround(bandOffset[c]!))
      )
        mismatches++;
    }
    assert.is(mismatches, 0, `${channels} channels`);
  }
  assert.throws(
    () => normalizedPixelTensor([xbdPixels.subarray(0, 8)], [1, 2, 1, 4], scale, offset),
    /3 scales and 3 offsets for 4 channels/,
  );
});

test('toTensorBatch gives the same batch of xBD-like tiles on wasm as on cpu, up to one float32 rounding', async () => {
  const pixels = xbdPixels;
  const size = Math.sqrt(pixels.length / 3);
  const mask = Uint8Array.from({ length: size * size }, (_, i) => (i % 7 === 0 ? 255 : i % 5));
  const tiles = cutTiles(
    {
      id: 'xbd-0',
      imagePath: '',
      labelPath: '',
      image: { data: pixels, width: size, height: size, channels: 3 },
      mask: { data: mask, width: size, height: size },
    },
    tileGrid({ size: 256 }),
  );
  const batchOn = async (backend: 'cpu' | 'wasm') => {
    await selectBackend({ backend });
    const batch = await firstValueFrom(of(tiles).pipe(toTensorBatch({ mean, std })));
    const result = {
      images: batch.images.dataSync().slice(),
      labels: batch.labels.dataSync().slice(),
      shape: batch.images.shape,
    };
    batch.release();
    assert.is(tf.memory().numTensors, 0, `${backend}: no tensor left after release`);
    return result;
  };
  const cpu = await batchOn('cpu');
  const wasm = await batchOn('wasm');
  assert.equal(wasm.shape, [16, 256, 256, 3]);
  assert.equal(wasm.labels, cpu.labels);
  let worst = 0;
  for (let i = 0; i < cpu.images.length; i++)
    worst = Math.max(worst, Math.abs(wasm.images[i]! - cpu.images[i]!));
  assert.ok(worst <= 2 ** -21, `largest difference ${worst}`); // values lie in [-2.2, 2.7]: one float32 step there is 2^-22
});

test.run();
