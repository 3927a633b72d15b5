import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { buildNetworks } from '../src/models/buildNetworks.js';
import { getModelInfo } from '../src/models/modelInfo.js';

test.before(async () => {
  await selectBackend({ backend: 'cpu' });
});

test('builds each architecture by name with the shared options, per-architecture options winning', () => {
  const unet = buildNetworks('unet', {
    numClasses: 3,
    outputActivation: 'sigmoid',
    unet: { depth: 2, baseFilters: 2 },
  });
  assert.equal(getModelInfo(unet.model), {
    architecture: 'unet',
    numClasses: 3,
    outputActivation: 'sigmoid',
    sizeDivisor: 4,
    inputChannels: 3,
  });
  assert.is(unet.discriminator, undefined);
  const deeplab = buildNetworks('deeplabv3plus', {
    numClasses: 3,
    deeplabv3plus: { backbone: 18, backboneWidth: 2, asppFilters: 4, decoderFilters: 4, numClasses: 4 },
  });
  assert.is(getModelInfo(deeplab.model).numClasses, 4);
  const pix2pix = buildNetworks('pix2pix', {
    numClasses: 3,
    inputSize: [64, 64],
    pix2pixGenerator: { depth: 6, baseFilters: 2 },
    pix2pixDiscriminator: { baseFilters: 2 },
  });
  assert.equal(pix2pix.model.outputs[0]!.shape, [null, 64, 64, 3]);
  assert.equal(
    pix2pix.discriminator!.inputs.map((i) => i.shape),
    [
      [null, 64, 64, 3],
      [null, 64, 64, 3],
    ],
  );
  assert.equal(pix2pix.discriminator!.outputs[0]!.shape, [null, 6, 6, 1]);
  for (const { model, discriminator } of [unet, deeplab, pix2pix]) {
    model.dispose();
    discriminator?.dispose();
  }
  assert.throws(
    () => buildNetworks('segnet' as never),
    /buildNetworks: architecture must be one of unet, pix2pix, deeplabv3plus, got segnet/,
  );
});

test('a seed fixes every initial weight of every architecture; another seed or none gives others', () => {
  const unseededRandom = Math.random;
  const small = {
    numClasses: 3,
    unet: { depth: 2, baseFilters: 2 },
    deeplabv3plus: { backbone: 18 as const, backboneWidth: 2, asppFilters: 4, decoderFilters: 4 },
    pix2pixGenerator: { depth: 3, baseFilters: 2 },
    pix2pixDiscriminator: { baseFilters: 2 },
  };
  const weightsOf = (networks: ReturnType<typeof buildNetworks>): Float32Array[] => {
    const models = [networks.model, ...(networks.discriminator ? [networks.discriminator] : [])];
    const values = models.flatMap((model) => model.getWeights().map((w) => w.dataSync() as Float32Array));
    models.forEach((model) => model.dispose());
    return values;
  };
  const same = (a: Float32Array[], b: Float32Array[]) =>
    a.length === b.length && a.every((w, i) => w.every((v, k) => v === b[i]![k]));
  for (const arch of ['unet', 'deeplabv3plus', 'pix2pix'] as const) {
    const first = weightsOf(buildNetworks(arch, { ...small, seed: 11 }));
    assert.ok(same(first, weightsOf(buildNetworks(arch, { ...small, seed: 11 }))), `${arch}: seed 11 twice`);
    assert.not.ok(
      same(first, weightsOf(buildNetworks(arch, { ...small, seed: 12 }))),
      `${arch}: seeds 11 and 12`,
    );
    assert.not.ok(same(first, weightsOf(buildNetworks(arch, small))), `${arch}: seed 11 and none`);
  }
  assert.is(Math.random, unseededRandom, 'Math.random is restored');
});

test.run();
