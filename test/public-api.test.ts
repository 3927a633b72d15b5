import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
// The package by its name, as a user imports it: Node resolves it through package.json's "exports".
import * as segstream from 'segstream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PROJECT_ROOT } from './helpers/data.js';

const compiledSrc = fileURLToPath(new URL('../src/', import.meta.url));
const publicValues = new Set<unknown>(Object.values(segstream));

/** The compiled modules of a source folder (and its subfolders), with what each exports; worker entries run on import, so are left out. */
async function compiledModules(
  folder: string,
): Promise<Array<{ file: string; exports: Record<string, unknown> }>> {
  const files = readdirSync(join(compiledSrc, folder), { recursive: true, encoding: 'utf8' }).filter(
    (name) => name.endsWith('.js') && !name.endsWith('Worker.js'),
  );
  return Promise.all(
    files.map(async (name) => {
      const path = join(compiledSrc, folder, name);
      return {
        file: relative(compiledSrc, path),
        exports: (await import(pathToFileURL(path).href)) as Record<string, unknown>,
      };
    }),
  );
}

/** `import { a, type B, c as d } from 'segstream'` in the code blocks of a Markdown file: the value names. */
function documentedImports(markdown: string): string[] {
  return [...markdown.matchAll(/import\s*\{([^}]*)\}\s*from\s*'segstream'/g)].flatMap(([, names]) =>
    names!
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== '' && !name.startsWith('type '))
      .map((name) => name.split(/\s+as\s+/)[0]!),
  );
}

test("'segstream' resolves to this build's src/index.js", () => {
  assert.is(import.meta.resolve('segstream'), new URL('../src/index.js', import.meta.url).href);
});

test('every name the README and docs import from segstream is exported', () => {
  const documents = [
    'README.md',
    ...readdirSync(join(PROJECT_ROOT, 'docs'))
      .filter((name) => name.endsWith('.md'))
      .map((name) => join('docs', name)),
  ];
  const imported = documents.flatMap((document) =>
    documentedImports(readFileSync(join(PROJECT_ROOT, document), 'utf8')).map((name) => ({ document, name })),
  );
  assert.ok(imported.length >= 10, `found ${imported.length} documented imports`);
  const missing = imported.filter(({ name }) => (segstream as Record<string, unknown>)[name] === undefined);
  assert.equal(missing, [], 'documented imports that segstream does not export');
});

test('every operator, model builder and sink is public, the same function as in its file', async () => {
  const builders = (await compiledModules('models')).filter(({ file }) => !file.includes('layers'));
  const modules = [...(await compiledModules('operators')), ...builders, ...(await compiledModules('sinks'))];
  const expected = modules.flatMap(({ file, exports }) =>
    Object.entries(exports)
      .filter(([name]) => file.startsWith('operators') || /^build[A-Z]/.test(name) || /Sink$/.test(name))
      .map(([name, value]) => ({ file, name, value })),
  );
  assert.ok(expected.length >= 20, `found ${expected.length} operators, builders and sinks`);
  const notPublic = expected
    .filter(({ name, value }) => (segstream as Record<string, unknown>)[name] !== value)
    .map(({ file, name }) => `${file}: ${name}`);
  assert.equal(notPublic, []);
});

test('internals stay out: the wasm kernels, model layers and the results tables', async () => {
  const internal = [
    ...(await compiledModules('backend/wasm')),
    ...(await compiledModules('models/layers')),
    ...(await compiledModules('runs')).filter(({ file }) => file.endsWith('results.js')),
  ];
  assert.ok(internal.length >= 10, `found ${internal.length} internal modules`);
  const leaked = internal.flatMap(({ file, exports }) =>
    Object.entries(exports)
      .filter(([, value]) => publicValues.has(value))
      .map(([name]) => `${file}: ${name}`),
  );
  assert.equal(leaked, []);
});

test.run();
