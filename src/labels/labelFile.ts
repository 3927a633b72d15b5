import type { Stats } from 'node:fs';
import { InputError } from '../errors.js';
import { readWholeFile, statFile } from '../util/threadFileReads.js';
import type { ClassMap } from './classMap.js';

/**
 * Parsed label files that describe many images (COCO, with its `images` array) by path, kept while unchanged:
 * such a file is read once per image. A one-image file is read once per epoch, so keeping it would only hold
 * memory.
 */
const parsedFiles = new Map<string, { mtimeMs: number; size: number; json: unknown }>();
const CACHE_LIMIT = 8;

/** Reads and parses a JSON label file; a missing, truncated or malformed file is an InputError naming it. */
export async function readJsonLabel(path: string): Promise<unknown> {
  let info: Stats;
  try {
    info = await statFile(path);
  } catch (error) {
    throw new InputError(path, `cannot read label file (${(error as NodeJS.ErrnoException).code ?? error})`, {
      cause: error,
    });
  }
  const cached = parsedFiles.get(path);
  if (cached && cached.mtimeMs === info.mtimeMs && cached.size === info.size) return cached.json;
  let text: string;
  try {
    text = (await readWholeFile(path)).toString('utf8');
  } catch (error) {
    // A folder, a file that vanished or lost its permissions since stat, one too large for a string.
    throw new InputError(
      path,
      `cannot read label file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      { cause: error },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new InputError(path, `malformed JSON (${(error as Error).message})`, { cause: error });
  }
  if (!isObject(json) || !Array.isArray(json.images)) return json;
  if (parsedFiles.size >= CACHE_LIMIT) parsedFiles.delete(parsedFiles.keys().next().value!);
  parsedFiles.set(path, { mtimeMs: info.mtimeMs, size: info.size, json });
  return json;
}

/** True for a plain JSON object. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A label's value as error messages quote it: JSON, cut to 60 characters. Never throws, as `String()` does on an
 * object with a `toString` member and `JSON.stringify` on thousands of nested arrays.
 */
export function describeValue(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  if (text === undefined)
    return Array.isArray(value)
      ? 'a deeply nested array'
      : typeof value === 'object'
        ? 'a deeply nested object'
        : String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The class value for a label name, or an InputError naming the file and the known names. */
export function classValue(classMap: ClassMap, name: unknown, file: string, where: string): number {
  if (typeof name !== 'string')
    throw new InputError(file, `${where}: class name missing or not a string (${describeValue(name)})`);
  const value = classMap.ids.get(name);
  if (value === undefined) {
    throw new InputError(
      file,
      `${where}: unknown class '${name}' (known: ${[...classMap.ids.keys()].join(', ')})`,
    );
  }
  return value;
}

/**
 * The class value of a feature from its properties: the class map's `classProperty` when it names one, else
 * the first of `keys` that is set; a feature where that is absent, null or empty takes the class map's
 * `defaultClass`. A value no label names is an InputError naming the file, the property and the value.
 */
export function featureClassValue(
  classMap: ClassMap,
  properties: Record<string, unknown>,
  keys: readonly string[],
  file: string,
  where: string,
): number {
  const searched = classMap.classProperty === undefined ? keys : [classMap.classProperty];
  const key = searched.find(
    (k) => properties[k] !== undefined && properties[k] !== null && properties[k] !== '',
  );
  if (key !== undefined) return classValue(classMap, properties[key], file, `${where}.properties.${key}`);
  if (classMap.defaultClass === undefined)
    throw new InputError(
      file,
      `${where}: no class (${searched.join(', ')} absent or empty) and the class file gives no "defaultClass"`,
    );
  return classValue(classMap, classMap.defaultClass, file, where);
}

/** An InputError when a label declares another size than the image it belongs to. */
export function checkDeclaredSize(
  file: string,
  declared: { width: unknown; height: unknown },
  size: { width: number; height: number },
): void {
  const { width, height } = declared;
  if (width === undefined && height === undefined) return;
  if (width !== size.width || height !== size.height) {
    throw new InputError(
      file,
      `label is for a ${describeValue(width)}x${describeValue(height)} image but the image is ${size.width}x${size.height}`,
    );
  }
}
