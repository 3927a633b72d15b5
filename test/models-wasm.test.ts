import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend/selectBackend.js';
import { buildDeepLabV3Plus } from '../src/models/deeplabv3plus.js';
import { buildPatchGANDiscriminator, buildPix2PixGenerator } from '../src/models/pix2pix.js';
import { buildUNet } from '../src/models/unet.js';
import { loadXbdCrops } from './helpers/models.js';

/** Forward passes on the wasm backend give the cpu backend's logits: no wasm kernel the models use is wrong. */
test('every architecture computes the same logits on wasm as on cpu', async () => {
  await selectBackend({ backend: 'cpu' });
  const images = await loadXbdCrops(2, 64);
  const classMap = tf.softmax(tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 1));
  const models: Array<[string, tf.LayersModel, tf.Tensor | tf.Tensor[]]> = [
    ['unet', buildUNet({ depth: 3, baseFilters: 4, numClasses: 3 }), images],
    ['deeplab os8', buildDeepLabV3Plus({ backbone: 50, outputStride: 8, backboneWidth: 4, asppFilters: 8, lowLevelFilters: 4, decoderFilters: 8, numClasses: 3 }), images],
    ['deeplab separable', buildDeepLabV3Plus({ backbone: 18, separable: true, backboneWidth: 4, asppFilters: 8, lowLevelFilters: 4, decoderFilters: 8, numClasses: 3 }), images],
    ['pix2pix generator', buildPix2PixGenerator({ depth: 6, baseFilters: 4, maxFilters: 16, numClasses: 3 }), images],
    ['patchgan', buildPatchGANDiscriminator({ baseFilters: 4, maxFilters: 16, numClasses: 3 }), [images, classMap]],
  ];
  const onCpu = models.map(([, model, input]) => tf.tidy(() => (model.predict(input) as tf.Tensor).arraySync()));
  await selectBackend({ backend: 'wasm' });
  assert.is(tf.getBackend(), 'wasm');
  for (const [i, [name, model, input]] of models.entries()) {
    const error = tf.tidy(() => {
      const expected = tf.tensor(onCpu[i] as number[]);
      return tf.sub(model.predict(input) as tf.Tensor, expected).abs().max().div(expected.abs().max()).dataSync()[0]!;
    });
    assert.ok(error < 1e-4, `${name}: relative error ${error}`);
    model.dispose();
  }
  tf.dispose([images, classMap]);
});

test.run();
