// npm run results:render -- [--out DIR] [--images N] [RUN_DIR...]: for each saved run, predicts the first N
// images of its test split (run.json lists them) and writes image | ground truth | prediction side by side
// to DIR/<run>/<image>.png (default DIR: renders/, outside version control: the imagery is not ours to
// bundle). Default runs: runs/xbd-unet, runs/xbd-pix2pix, runs/xbd-deeplabv3plus.
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/backend/selectBackend.js';
import { readLabelledImage } from '../src/io/readLabelledImage.js';
import { readLabelMask } from '../src/labels/readLabelMask.js';
import { predictFullImage } from '../src/predict/slidingWindow.js';
import { sidePanelPng } from '../src/predict/writePrediction.js';
import { defaultResultRuns } from '../src/runs/results.js';
import { manifestClassMap, openRun } from '../src/runs/runDirectory.js';
import { pairFiles } from '../src/sources/pairFiles.js';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const { values, positionals } = parseArgs({
  options: {
    out: { type: 'string', default: resolve(root, 'renders') },
    images: { type: 'string', default: '3' },
  },
  allowPositionals: true,
});
const runDirs = positionals.length > 0 ? positionals : defaultResultRuns(root);
console.error((await selectBackend()).summary);
for (const runDir of runDirs) {
  const { manifest, model } = await openRun(runDir);
  const ids = new Set(manifest.splits?.test.slice(0, Number(values.images)));
  if (ids.size === 0) throw new Error(`${runDir}: run.json lists no test images`);
  const { pairs } = await pairFiles({
    imagesDir: String(manifest.options.images),
    labelsDir: String(manifest.options.labels),
  });
  const classMap = manifestClassMap(manifest);
  const outDir = join(values.out!, basename(resolve(runDir)));
  await mkdir(outDir, { recursive: true });
  for (const pair of pairs.filter(({ id }) => ids.has(id))) {
    const { id } = pair;
    const labelled = await readLabelledImage(pair, { classMap, readMask: readLabelMask });
    const { classes } = await predictFullImage(model, labelled.image, { tileSize: manifest.tileSize });
    const panel = await sidePanelPng(labelled.image, labelled.mask, classes, classMap.colors);
    await writeFile(join(outDir, `${id}.png`), panel.png);
    console.error(`${join(outDir, `${id}.png`)}: image | ground truth | prediction`);
  }
  model.dispose();
}
