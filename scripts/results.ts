// npm run results -- [RUN_DIR | RECORD.json ...]: regenerates the results tables of docs/RESULTS.md. Run
// folders (evaluated with `eval --split test`: run.json, eval.json, metrics.ndjson) also get their record
// written to docs/results/<run>.json; with no arguments the tables come from the records there, so the
// published figures regenerate from the repository alone. Prints the tables too.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  defaultResultRecords,
  readResult,
  replaceResultsSection,
  resultRecordJson,
  resultsMarkdown,
} from '../src/runs/results.js';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const sources = process.argv.slice(2);
const results = await Promise.all(
  (sources.length > 0 ? sources : defaultResultRecords(root)).map(readResult),
);
const recordsDir = resolve(root, 'docs', 'results');
for (const [i, source] of sources.entries()) {
  if (source.endsWith('.json')) continue;
  await mkdir(recordsDir, { recursive: true });
  await writeFile(join(recordsDir, `${results[i]!.run}.json`), resultRecordJson(results[i]!));
  console.error(`wrote the record of ${source} into ${join(recordsDir, `${results[i]!.run}.json`)}`);
}
const table = resultsMarkdown(results);
const documentPath = resolve(root, 'docs', 'RESULTS.md');
await writeFile(
  documentPath,
  replaceResultsSection(await readFile(documentPath, 'utf8'), table, documentPath),
);
process.stdout.write(table);
console.error(`wrote the tables into ${documentPath}`);
