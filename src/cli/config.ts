import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parseDocument } from 'yaml';
import { InputError } from '../errors.js';

/** Largest config accepted, so a wrong path (a dataset, a model) fails fast instead of filling memory. */
const MAX_CONFIG_BYTES = 1 << 20;

/** YAML to plain data; unknown tags (which the library would only warn about) are errors here. */
function parseYamlData(text: string): unknown {
  const document = parseDocument(text, { schema: 'core', customTags: [], prettyErrors: false });
  const problem = document.errors[0] ?? document.warnings[0];
  if (problem) throw new Error(problem.message);
  return document.toJS({ maxAliasCount: 100 });
}

/**
 * Reads a run configuration from a JSON or YAML file, or an http(s) URL, as plain data. Nothing in the
 * file can run code: JSON.parse, and the `yaml` package's core schema, which has no function or class tags
 * (`!!js/function` and other unknown tags are errors). Keys may be written as on the command line
 * (`batch-size`) or in camelCase (`batchSize`).
 *
 * @example
 * ```ts
 * const config = await loadConfig('configs/xbd-unet.yaml'); // { arch: 'unet', batchSize: 8, ... }
 * ```
 * @param source File path or http(s) URL; `.json` is read as JSON, anything else as YAML (a superset).
 * @throws InputError naming the file when it is missing, too large, not a mapping or has bad syntax.
 */
export async function loadConfig(source: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    if (/^https?:\/\//i.test(source)) {
      const response = await fetch(source, { redirect: 'error' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      text = await response.text();
    } else {
      text = await readFile(source, 'utf8');
    }
  } catch (error) {
    throw new InputError(source, `cannot read config: ${(error as Error).message}`, { cause: error });
  }
  if (Buffer.byteLength(text) > MAX_CONFIG_BYTES)
    throw new InputError(source, `config is larger than ${MAX_CONFIG_BYTES} bytes`);
  let data: unknown;
  try {
    data =
      extname(new URL(source, 'file:///').pathname).toLowerCase() === '.json'
        ? JSON.parse(text)
        : parseYamlData(text);
  } catch (error) {
    throw new InputError(
      source,
      `config is not valid ${extname(source) === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message.split('\n')[0]}`,
      { cause: error },
    );
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data))
    throw new InputError(source, 'config must be a mapping of option names to values');
  return Object.fromEntries(
    Object.entries(data).map(([key, value]) => [
      key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()),
      value,
    ]),
  );
}
