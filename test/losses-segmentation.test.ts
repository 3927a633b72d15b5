import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { selectBackend } from '../src/backend/selectBackend.js';
import { InputError } from '../src/errors.js';
import { buildLoss } from '../src/losses/buildLoss.js';
import {
  binaryCrossEntropy,
  categoricalCrossEntropy,
  diceLoss,
  focalLoss,
  focalTverskyLoss,
  l1OneHot,
  sparseCrossEntropy,
  tverskyLoss,
} from '../src/losses/segmentationLosses.js';

await selectBackend({ backend: 'cpu' });

// A 1x2x3 batch with 3 classes; pixel 4 is ignored (255).
const C = 3;
const LOGITS = [
  [2, 0.5, -1],
  [0.1, 0.2, 0.3],
  [-1, 3, 0],
  [0, 0, 0],
  [5, -2, 1],
  [1, 1, 4],
];
const LABELS = [0, 2, 1, 1, 255, 0];
const WEIGHTS = [0.5, 2, 1];

const logitsTensor = () => tf.tensor4d(LOGITS.flat(), [1, 2, 3, C]);
const labelsTensor = () => tf.tensor3d(LABELS, [1, 2, 3], 'int32');

function softmax(row: number[]): number[] {
  const m = Math.max(...row);
  const e = row.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const valid = LABELS.map((l, i) => ({ l, i })).filter(({ l }) => l !== 255);

function evaluate(loss: (l: tf.Tensor4D, y: tf.Tensor3D) => tf.Scalar): number {
  const logits = logitsTensor();
  const labels = labelsTensor();
  try {
    const value = loss(logits, labels);
    const result = value.dataSync()[0]!;
    value.dispose();
    return result;
  } finally {
    tf.dispose([logits, labels]);
  }
}

function close(actual: number, expected: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) < 1e-5 * Math.max(1, Math.abs(expected)),
    `${what}: ${actual} vs ${expected}`,
  );
}

/** Soft TP/FP/FN per class from the hand-computed softmax. */
function softCounts(activation: (row: number[]) => number[], labels = LABELS) {
  const tp = new Array(C).fill(0),
    fp = new Array(C).fill(0),
    fn = new Array(C).fill(0);
  for (const [i, l] of labels.entries()) {
    if (l === 255) continue;
    const p = activation(LOGITS[i]!);
    for (let c = 0; c < C; c++) {
      const g = l === c ? 1 : 0;
      tp[c] += p[c]! * g;
      fp[c] += p[c]! * (1 - g);
      fn[c] += (1 - p[c]!) * g;
    }
  }
  return { tp, fp, fn };
}

test('sparse cross-entropy: class-weighted mean of -log p_true over counted pixels', () => {
  let sum = 0,
    norm = 0;
  for (const { l, i } of valid) {
    sum += -WEIGHTS[l]! * Math.log(softmax(LOGITS[i]!)[l]!);
    norm += WEIGHTS[l]!;
  }
  close(evaluate(sparseCrossEntropy({ numClasses: C, classWeights: WEIGHTS })), sum / norm, 'weighted');
  const plain = valid.reduce((s, { l, i }) => s - Math.log(softmax(LOGITS[i]!)[l]!), 0) / valid.length;
  close(evaluate(sparseCrossEntropy({ numClasses: C })), plain, 'unweighted');
});

test('categorical cross-entropy equals sparse without smoothing and follows smoothed targets with it', () => {
  close(
    evaluate(categoricalCrossEntropy({ numClasses: C })),
    evaluate(sparseCrossEntropy({ numClasses: C })),
    'no smoothing',
  );
  const s = 0.2;
  let sum = 0;
  for (const { l, i } of valid) {
    const p = softmax(LOGITS[i]!);
    for (let c = 0; c < C; c++) sum -= ((l === c ? 1 - s : 0) + s / C) * Math.log(p[c]!);
  }
  close(
    evaluate(categoricalCrossEntropy({ numClasses: C, labelSmoothing: s })),
    sum / valid.length,
    'smoothed',
  );
});

test('binary cross-entropy per channel on sigmoid, channels weighted', () => {
  let sum = 0,
    norm = 0;
  for (const { l, i } of valid) {
    for (let c = 0; c < C; c++) {
      const p = sigmoid(LOGITS[i]![c]!);
      const z = l === c ? 1 : 0;
      sum += WEIGHTS[c]! * -(z * Math.log(p) + (1 - z) * Math.log(1 - p));
      norm += WEIGHTS[c]!;
    }
  }
  close(evaluate(binaryCrossEntropy({ numClasses: C, classWeights: WEIGHTS })), sum / norm, 'bce');
});

test('L1 between softmax and one-hot over counted pixels and channels', () => {
  let sum = 0;
  for (const { l, i } of valid)
    softmax(LOGITS[i]!).forEach((p, c) => (sum += Math.abs(p - (l === c ? 1 : 0))));
  close(evaluate(l1OneHot({ numClasses: C })), sum / (valid.length * C), 'l1');
});

test('focal loss: (1 - p)^gamma weighting; gamma 0 is cross-entropy', () => {
  let sum = 0,
    norm = 0;
  for (const { l, i } of valid) {
    const p = softmax(LOGITS[i]!)[l]!;
    sum += -WEIGHTS[l]! * (1 - p) ** 2 * Math.log(p);
    norm += WEIGHTS[l]!;
  }
  close(evaluate(focalLoss({ numClasses: C, gamma: 2, classWeights: WEIGHTS })), sum / norm, 'gamma 2');
  close(
    evaluate(focalLoss({ numClasses: C, gamma: 0 })),
    evaluate(sparseCrossEntropy({ numClasses: C })),
    'gamma 0',
  );
});

test('Dice, Tversky and focal Tversky from soft per-class counts', () => {
  const { tp, fp, fn } = softCounts(softmax);
  const smooth = 1;
  const wsum = WEIGHTS.reduce((a, b) => a + b, 0);
  const dice = tp.map((t, c) => 1 - (2 * t + smooth) / (2 * t + fp[c] + fn[c] + smooth));
  close(
    evaluate(diceLoss({ numClasses: C, classWeights: WEIGHTS })),
    dice.reduce((s, d, c) => s + WEIGHTS[c]! * d, 0) / wsum,
    'dice',
  );
  const [alpha, beta, gamma] = [0.7, 0.3, 0.75];
  const tversky = tp.map((t, c) => 1 - (t + smooth) / (t + alpha * fp[c] + beta * fn[c] + smooth));
  close(
    evaluate(tverskyLoss({ numClasses: C, alpha, beta })),
    tversky.reduce((a, b) => a + b, 0) / C,
    'tversky',
  );
  close(
    evaluate(focalTverskyLoss({ numClasses: C, alpha, beta, gamma, classWeights: WEIGHTS })),
    tversky.reduce((s, t, c) => s + WEIGHTS[c]! * t ** gamma, 0) / wsum,
    'focal tversky',
  );
  close(
    evaluate(tverskyLoss({ numClasses: C, alpha: 0.5, beta: 0.5, smooth: 0 })),
    evaluate(diceLoss({ numClasses: C, smooth: 0 })),
    'tversky(0.5, 0.5) is dice',
  );
  const sig = softCounts((row) => row.map(sigmoid));
  const sigDice = sig.tp.map((t, c) => 1 - (2 * t + smooth) / (2 * t + sig.fp[c] + sig.fn[c] + smooth));
  close(
    evaluate(diceLoss({ numClasses: C, activation: 'sigmoid' })),
    sigDice.reduce((a, b) => a + b, 0) / C,
    'sigmoid dice',
  );
});

test('skipAbsentClasses: the mean runs over the classes labelled in the batch only', () => {
  const [alpha, beta, gamma, smooth] = [0.7, 0.3, 0.75, 1];
  const options = { numClasses: C, alpha, beta, gamma, classWeights: WEIGHTS };
  close(
    evaluate(focalTverskyLoss({ ...options, skipAbsentClasses: true })),
    evaluate(focalTverskyLoss(options)),
    'all classes present: same value',
  );
  // Without class 2's one labelled pixel (now ignored), only classes 0 and 1 count.
  const withoutClass2 = LABELS.map((l) => (l === 2 ? 255 : l));
  const labels = tf.tensor3d(withoutClass2, [1, 2, 3], 'int32');
  const logits = logitsTensor();
  const { tp, fp, fn } = softCounts(softmax, withoutClass2);
  const perClass = tp.map(
    (t, c) => (1 - (t + smooth) / (t + alpha * fp[c] + beta * fn[c] + smooth)) ** gamma,
  );
  const skipping = focalTverskyLoss({ ...options, skipAbsentClasses: true });
  const value = skipping(logits, labels);
  close(
    value.dataSync()[0]!,
    (WEIGHTS[0]! * perClass[0] + WEIGHTS[1]! * perClass[1]) / (WEIGHTS[0]! + WEIGHTS[1]!),
    'present classes only',
  );
  const counted = focalTverskyLoss(options)(logits, labels);
  assert.ok(
    counted.dataSync()[0]! > value.dataSync()[0]! + 0.01,
    'counting the absent class adds its false positives',
  );
  const allIgnored = tf.fill([1, 2, 3], 255, 'int32') as tf.Tensor3D;
  for (const loss of [
    skipping,
    diceLoss({ numClasses: C, skipAbsentClasses: true }),
    tverskyLoss({ numClasses: C, skipAbsentClasses: true }),
  ]) {
    const nothing = loss(logits, allIgnored);
    assert.is(nothing.dataSync()[0], 0, 'no labelled pixel: loss 0');
    nothing.dispose();
  }
  assert.throws(
    () => diceLoss({ numClasses: C, skipAbsentClasses: 'yes' as never }),
    /skipAbsentClasses must be true or false/,
  );
  tf.dispose([labels, logits, value, counted, allIgnored]);
});

test('Tversky defaults: a missed pixel of a class costs more than a false alarm of it', () => {
  // Confident (logit 8) predictions of 8 pixels, 2 of them class 1: one misses a class-1 pixel, the other
  // marks a background pixel as class 1. Recall of the rare class is what the defaults favour.
  const labels = tf.tensor3d([1, 1, 0, 0, 0, 0, 0, 0], [1, 1, 8], 'int32');
  const predicting = (classes: number[]) =>
    tf.oneHot(tf.tensor1d(classes, 'int32'), 2).mul(8).reshape([1, 1, 8, 2]) as tf.Tensor4D;
  const missed = predicting([1, 0, 0, 0, 0, 0, 0, 0]);
  const falseAlarm = predicting([1, 1, 1, 0, 0, 0, 0, 0]);
  for (const loss of [tverskyLoss({ numClasses: 2 }), focalTverskyLoss({ numClasses: 2 })]) {
    const [costOfMiss, costOfAlarm] = [loss(missed, labels), loss(falseAlarm, labels)].map((v) => {
      const x = v.dataSync()[0]!;
      v.dispose();
      return x;
    });
    assert.ok(costOfMiss! > costOfAlarm! * 1.1, `miss ${costOfMiss} vs false alarm ${costOfAlarm}`);
  }
  tf.dispose([labels, missed, falseAlarm]);
});

test('ignored pixels get no gradient and do not change the value', () => {
  for (const loss of [
    sparseCrossEntropy({ numClasses: C }),
    diceLoss({ numClasses: C }),
    binaryCrossEntropy({ numClasses: C }),
    focalTverskyLoss({ numClasses: C }),
  ]) {
    const logits = logitsTensor();
    const labels = labelsTensor();
    const grad = tf.grad((x: tf.Tensor) => loss(x as tf.Tensor4D, labels))(logits);
    const g = grad.reshape([6, C]).arraySync() as number[][];
    assert.equal(g[4], [0, 0, 0], 'ignored pixel has zero gradient');
    assert.ok(
      g[0]!.some((v) => v !== 0),
      'counted pixel has a gradient',
    );
    const changed = tf.tensor4d(
      LOGITS.flatMap((row, i) => (i === 4 ? [-9, 9, 0] : row)),
      [1, 2, 3, C],
    );
    close(
      loss(changed, labels).dataSync()[0]!,
      loss(logits, labels).dataSync()[0]!,
      'value independent of ignored logits',
    );
    tf.dispose([logits, labels, grad, changed]);
  }
});

test('buildLoss: by name with parameters, weighted sums, errors name the problem', () => {
  const before = tf.memory().numTensors;
  const common = { numClasses: C, classWeights: WEIGHTS };
  close(
    evaluate(buildLoss({ name: 'focalTversky', alpha: 0.6, beta: 0.4, gamma: 2 }, common)),
    evaluate(focalTverskyLoss({ ...common, alpha: 0.6, beta: 0.4, gamma: 2 })),
    'by name',
  );
  const sum = buildLoss(
    {
      name: 'weightedSum',
      terms: [
        { weight: 1, loss: { name: 'sparseCrossEntropy' } },
        { weight: 0.5, loss: { name: 'dice', classWeights: [1, 1, 1] } },
      ],
    },
    common,
  );
  close(
    evaluate(sum),
    evaluate(sparseCrossEntropy(common)) + 0.5 * evaluate(diceLoss({ numClasses: C })),
    'weighted sum',
  );
  assert.throws(
    () => buildLoss({ name: 'nope' } as never, common, 'run.json'),
    (e: unknown) => e instanceof InputError && /run\.json.*unknown loss "nope"/.test((e as Error).message),
  );
  assert.throws(
    () => buildLoss({ name: 'dice', gama: 2 }, common, 'run.json'),
    (e: unknown) => e instanceof InputError && /no parameter "gama"/.test((e as Error).message),
  );
  assert.throws(
    () => sparseCrossEntropy({ numClasses: 3, classWeights: [1, 2] }),
    /classWeights must have 3 entries/,
  );
  assert.throws(() => evaluate(sparseCrossEntropy({ numClasses: 4 })), /expected logits \[B, H, W, 4\]/);
  assert.is(tf.memory().numTensors, before, 'no tensors leaked');
});

test.run();
