import { readFile } from 'node:fs/promises';
import { InputError } from '../errors.js';
import { type ClassMap, IGNORE_VALUE, labelMeClassMap, xbdClassMap } from '../labels/classMap.js';
import { type BalanceClassesOptions, checkBalanceClasses } from '../tiling/classBalance.js';

/** Class-map presets `--classes` accepts by name. */
export const CLASS_PRESETS: Record<string, () => ClassMap> = { xbd: xbdClassMap };

/** A distinct colour for class `id` beyond a file's own colours. */
const fallbackColour = (id: number): [number, number, number] =>
  id === 0 ? [0, 0, 0] : [(id * 97) % 256, (id * 57 + 80) % 256, (id * 151 + 40) % 256];

/**
 * Resolves `--classes`: a preset name (`xbd`), a LabelMe `class_names.txt`, or a JSON file `{ "names": [...], "colors"?: [[r,g,b], ...],
 * "labels"?: { "label in files": id or "ignore" }, "ignoreColors"?: [[r,g,b], ...], "classProperty"?: "property",
 * "defaultClass"?: "label" }`. Without `labels`, each name labels its own class; colour-mask pixels of an
 * `ignoreColors` colour are ignored; GeoJSON and xBD features take their label from the `classProperty`
 * property, and those where it is absent or empty take `defaultClass`.
 *
 * @example
 * ```ts
 * const classMap = await resolveClassMap('xbd');
 * ```
 * @param spec Preset name or file path.
 * @throws InputError naming the file and the field that is wrong.
 */
export async function resolveClassMap(spec: string): Promise<ClassMap> {
  const preset = CLASS_PRESETS[spec];
  if (preset) return preset();
  if (spec.endsWith('.txt')) {
    // LabelMe's class_names.txt: one class per line, the line index is the id.
    try {
      return labelMeClassMap(await readFile(spec, 'utf8'));
    } catch (error) {
      throw new InputError(spec, `not a usable class_names.txt: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  let data: {
    names?: unknown;
    colors?: unknown;
    labels?: unknown;
    ignoreColors?: unknown;
    classProperty?: unknown;
    defaultClass?: unknown;
  };
  try {
    data = JSON.parse(await readFile(spec, 'utf8')) as typeof data;
  } catch (error) {
    throw new InputError(
      spec,
      `--classes is neither a preset (${Object.keys(CLASS_PRESETS).join(', ')}) nor a readable JSON class file: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const { names, colors, labels, ignoreColors, classProperty, defaultClass } = data;
  if (!Array.isArray(names) || names.length < 2 || names.some((n) => typeof n !== 'string'))
    throw new InputError(spec, '"names" must be an array of at least 2 class names, background first');
  if (names.length > 255)
    throw new InputError(spec, `"names" has ${names.length} classes; at most 255 fit in a mask`);
  const ids = new Map<string, number>();
  if (labels === undefined) (names as string[]).forEach((name, id) => ids.set(name, id));
  else if (typeof labels === 'object' && labels !== null) {
    for (const [label, id] of Object.entries(labels)) {
      if (id === 'ignore') ids.set(label, IGNORE_VALUE);
      else if (Number.isInteger(id) && (id as number) >= 0 && (id as number) < names.length)
        ids.set(label, id as number);
      else
        throw new InputError(
          spec,
          `"labels"."${label}" must be a class id in [0, ${names.length - 1}] or "ignore", got ${JSON.stringify(id)}`,
        );
    }
  } else throw new InputError(spec, '"labels" must map label names to class ids');
  const isColour = (c: unknown): c is [number, number, number] =>
    Array.isArray(c) && c.length === 3 && c.every((v) => Number.isInteger(v) && v >= 0 && v <= 255);
  if (ignoreColors !== undefined && (!Array.isArray(ignoreColors) || !ignoreColors.every(isColour))) {
    throw new InputError(
      spec,
      `"ignoreColors" must be a list of [r, g, b] colours (0-255), got ${JSON.stringify(ignoreColors)}`,
    );
  }
  if (classProperty !== undefined && (typeof classProperty !== 'string' || classProperty === '')) {
    throw new InputError(
      spec,
      `"classProperty" must name the feature property that holds the class, got ${JSON.stringify(classProperty)}`,
    );
  }
  if (defaultClass !== undefined && (typeof defaultClass !== 'string' || !ids.has(defaultClass))) {
    throw new InputError(
      spec,
      `"defaultClass" must be one of the labels (${[...ids.keys()].join(', ')}), got ${JSON.stringify(defaultClass)}`,
    );
  }
  const palette = Array.isArray(colors) ? colors : [];
  return {
    names: names as string[],
    ids,
    ignoreValue: IGNORE_VALUE,
    colors: (names as string[]).map((_, id) => {
      const colour = palette[id] as unknown;
      return isColour(colour) ? colour : fallbackColour(id);
    }),
    ...(ignoreColors ? { ignoreColors } : {}),
    ...(classProperty === undefined ? {} : { classProperty }),
    ...(defaultClass === undefined ? {} : { defaultClass }),
  };
}

/**
 * Reads `--sample-balance`: `CLASSES:FACTOR[:MIN_PIXELS]`, the classes by name or id, comma-separated, e.g.
 * `minor-damage,major-damage:4`: tiles holding minor or major damage are drawn four times per epoch.
 * @throws RangeError naming the flag, the part that is wrong and the class names to choose from.
 */
export function parseSampleBalance(spec: string, classMap: ClassMap): BalanceClassesOptions {
  const [classList = '', factorText = '', minPixelsText, ...extra] = spec.split(':');
  const usage = `--sample-balance must be CLASSES:FACTOR[:MIN_PIXELS] (e.g. ${classMap.names.slice(-2).join(',')}:4), got '${spec}'`;
  if (extra.length > 0 || classList === '' || factorText === '') throw new RangeError(usage);
  const classes = classList.split(',').map((name) => {
    const id = /^\d+$/.test(name) ? Number(name) : classMap.names.indexOf(name);
    if (id < 0 || id >= classMap.names.length)
      throw new RangeError(`--sample-balance: no class '${name}' (classes: ${classMap.names.join(', ')})`);
    return id;
  });
  const options = {
    classes,
    factor: Number(factorText),
    ...(minPixelsText === undefined ? {} : { minPixels: Number(minPixelsText) }),
  };
  checkBalanceClasses(options);
  return options;
}
