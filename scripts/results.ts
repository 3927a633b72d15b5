// npm run results -- [RUN_DIR...]: regenerates the results tables of docs/RESULTS.md from saved, evaluated
// run folders (run.json, eval.json from `eval --split test`, metrics.ndjson). Default runs: runs/xbd-unet,
// runs/xbd-pix2pix, runs/xbd-deeplabv3plus. Prints the tables too.
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultResultRuns, readRunResult, replaceResultsSection, resultsMarkdown } from '../src/pipelines/results.js';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const runs = process.argv.slice(2);
const runDirs = runs.length > 0 ? runs : defaultResultRuns(root);
const table = resultsMarkdown(await Promise.all(runDirs.map(readRunResult)));
const documentPath = resolve(root, 'docs', 'RESULTS.md');
await writeFile(documentPath, replaceResultsSection(await readFile(documentPath, 'utf8'), table, documentPath));
process.stdout.write(table);
console.error(`wrote the tables into ${documentPath}`);
