import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { xbdClassMap } from '../src/labels/classMap.js';
import { ConfusionMatrix } from '../src/metrics/confusionMatrix.js';
import { syntheticXbd } from './helpers/data.js';
import { lcg, rasterizeCells, xbdBuildings } from './train-fixtures.js';

await selectBackend({ backend: 'cpu' });
const classMap = xbdClassMap();
const SIZE = 128;

// Six 1024x1024 tiles with buildings of every damage class, some un-classified (ignored) as in the real set.
const xbd = await syntheticXbd(6, { buildingsPerImage: 30, unclassifiedEvery: 10 });

/** An xBD mask: polygons rasterized at the centres of an 8 px grid by the tests' own even-odd rasterizer. */
const xbdMask = (file: string): Uint8Array =>
  rasterizeCells(xbdBuildings(join(xbd.labelsDir, file), classMap.ids), 0, 0, 1024, SIZE);

/** A prediction: the mask shifted right by 2 cells, 10% of pixels set to a random class. */
function perturb(mask: Uint8Array, seed: number): Uint8Array {
  const random = lcg(seed);
  const out = new Uint8Array(mask.length);
  for (let row = 0; row < SIZE; row++) {
    for (let col = 0; col < SIZE; col++) {
      const source = mask[row * SIZE + Math.max(0, col - 2)]!;
      out[row * SIZE + col] = random() < 0.1 ? Math.floor(random() * 5) : source === 255 ? 1 : source;
    }
  }
  return out;
}

const pairs = xbd.labels.map((file, i) => ({
  file,
  label: xbdMask(file),
  predicted: perturb(xbdMask(file), i + 1),
}));

/** Straightforward per-pixel reference: counts per class straight from the arrays. */
function reference(items: typeof pairs) {
  const tp = new Array(5).fill(0),
    fp = new Array(5).fill(0),
    fn = new Array(5).fill(0);
  let correct = 0,
    counted = 0;
  let locTP = 0,
    locFP = 0,
    locFN = 0;
  const dmgTP = new Array(5).fill(0),
    dmgFP = new Array(5).fill(0),
    dmgFN = new Array(5).fill(0);
  for (const { label, predicted } of items) {
    for (let i = 0; i < label.length; i++) {
      const y = label[i]!,
        p = predicted[i]!;
      if (y === 255) continue;
      counted++;
      if (y === p) {
        correct++;
        tp[y]++;
      } else {
        fp[p]++;
        fn[y]++;
      }
      if (y > 0 && p > 0) locTP++;
      else if (y === 0 && p > 0) locFP++;
      else if (y > 0 && p === 0) locFN++;
      if (y > 0) {
        for (let c = 1; c < 5; c++) {
          if (y === c && p === c) dmgTP[c]++;
          else if (p === c) dmgFP[c]++;
          else if (y === c) dmgFN[c]++;
        }
      }
    }
  }
  const iou = tp.map((t, c) => (t + fp[c] + fn[c] ? t / (t + fp[c] + fn[c]) : 0));
  const present = tp.map((t, c) => t + fp[c] + fn[c] > 0);
  const f1 = (t: number, a: number, b: number) => (2 * t + a + b ? (2 * t) / (2 * t + a + b) : 0);
  const dmgF1 = [1, 2, 3, 4].map((c) => f1(dmgTP[c], dmgFP[c], dmgFN[c]));
  const loc = f1(locTP, locFP, locFN);
  const damage = 4 / dmgF1.reduce((s, v) => s + 1 / (v + 1e-6), 0);
  return {
    counted,
    accuracy: correct / counted,
    iou,
    precision: tp.map((t, c) => (t + fp[c] ? t / (t + fp[c]) : 0)),
    recall: tp.map((t, c) => (t + fn[c] ? t / (t + fn[c]) : 0)),
    f1: tp.map((t, c) => f1(t, fp[c], fn[c])),
    meanIoU: iou.filter((_, c) => present[c]).reduce((a, b) => a + b, 0) / present.filter(Boolean).length,
    xview2: { localizationF1: loc, damageF1: damage, score: 0.3 * loc + 0.7 * damage },
  };
}

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);

test('xBD masks vs perturbed copies: every metric equals a per-pixel reference', () => {
  for (const value of [1, 2, 3, 4, 255])
    assert.ok(
      pairs.some(({ label }) => label.includes(value)),
      `some tile has pixels of ${value}`,
    );
  const matrix = new ConfusionMatrix(5);
  for (const { label, predicted } of pairs) matrix.add(label, predicted);
  const m = matrix.metrics(classMap.names);
  const r = reference(pairs);
  assert.is(m.pixels, r.counted);
  close(m.pixelAccuracy, r.accuracy, 'accuracy');
  close(m.micro.f1, r.accuracy, 'micro F1');
  close(m.meanIoU, r.meanIoU, 'mIoU');
  for (let c = 0; c < 5; c++) {
    close(m.perClass[c]!.iou, r.iou[c], `IoU ${c}`);
    close(m.perClass[c]!.precision, r.precision[c], `precision ${c}`);
    close(m.perClass[c]!.recall, r.recall[c], `recall ${c}`);
    close(m.perClass[c]!.f1, r.f1[c], `F1 ${c}`);
  }
  close(m.macro.f1, r.f1.reduce((a, b) => a + b, 0) / 5, 'macro F1');
  close(m.xview2!.localizationF1, r.xview2.localizationF1, 'localization F1');
  close(m.xview2!.damageF1, r.xview2.damageF1, 'damage F1');
  close(m.xview2!.score, r.xview2.score, 'xView2 score');
  assert.ok(
    m.xview2!.localizationF1 > 0.3 && m.xview2!.localizationF1 < 1,
    'a perturbed prediction scores between chance and perfect',
  );
});

test('accumulating over batches equals one pass over everything; a perfect prediction scores 1', () => {
  const streamed = new ConfusionMatrix(5);
  for (const { label, predicted } of pairs) {
    const part = new ConfusionMatrix(5);
    part.add(label, predicted);
    streamed.merge(part);
  }
  const once = new ConfusionMatrix(5);
  once.add(
    pairs.flatMap(({ label }) => [...label]),
    pairs.flatMap(({ predicted }) => [...predicted]),
  );
  assert.equal([...streamed.counts], [...once.counts]);
  const perfect = new ConfusionMatrix(5);
  for (const { label } of pairs)
    perfect.add(
      label,
      label.map((v) => (v === 255 ? 0 : v)),
    );
  const m = perfect.metrics(classMap.names);
  assert.is(m.pixelAccuracy, 1);
  assert.is(m.meanIoU, 1);
});

test('addLogits counts the arg-max of logits, skips the ignore value and leaks no tensors', async () => {
  const { label, predicted } = pairs[0]!;
  assert.ok(label.includes(255), 'the tile has ignored pixels');
  const before = tf.memory().numTensors;
  const fromTensors = new ConfusionMatrix(5);
  const logits = tf.tidy(() =>
    tf.oneHot(tf.tensor1d(predicted, 'int32'), 5).toFloat().mul(3).reshape([1, SIZE, SIZE, 5]),
  ) as tf.Tensor4D;
  const labels = tf.tensor3d(label, [1, SIZE, SIZE], 'int32');
  await fromTensors.addLogits(logits, labels);
  tf.dispose([logits, labels]);
  assert.is(tf.memory().numTensors, before);
  const fromArrays = new ConfusionMatrix(5);
  fromArrays.add(label, predicted);
  assert.equal([...fromTensors.counts], [...fromArrays.counts]);
  assert.is(fromTensors.total, label.filter((v) => v !== 255).length);
});

test('out-of-range ids and mismatched lengths are errors naming the values', () => {
  const matrix = new ConfusionMatrix(3);
  assert.throws(() => matrix.add([0, 7], [0, 1]), /got label 7, prediction 1 at pixel 1/);
  assert.throws(() => matrix.add([0], [0, 1]), /same length, got 1 and 2/);
  assert.throws(() => new ConfusionMatrix(0), /numClasses must be an integer >= 1, got 0/);
});

test.run();
