/**
 * A class map: which class id each label name in the files stands for, which value marks pixels to ignore,
 * and how classes are coloured in previews and colour masks.
 */
export interface ClassMap {
  /** Class names by id; id 0 is the background. */
  names: string[];
  /** Label name as written in the label files -> class id, or `ignoreValue` for labels to ignore. */
  ids: Map<string, number>;
  /** Mask value of pixels excluded from losses and metrics (255 in written masks). */
  ignoreValue: number;
  /** RGB colour per class id, for previews and RGB colour masks. */
  colors: Array<[number, number, number]>;
  /** Colours of RGB colour masks that mean "ignore" (unlabelled, no data, a stray border), read as `ignoreValue`. */
  ignoreColors?: Array<[number, number, number]>;
  /**
   * The feature property that holds the label name in GeoJSON and xBD files (`building` for OpenStreetMap
   * footprints, whose values are `yes`, `house`, ...); without it GeoJSON reads the first of `class`,
   * `label`, `subtype`, `name` that is set, and xBD reads `subtype`.
   */
  classProperty?: string;
  /**
   * Label name of GeoJSON and xBD features whose class property is absent or empty (OpenStreetMap footprints
   * have none); without it such a GeoJSON feature is an error and an xBD one is a building.
   */
  defaultClass?: string;
  /**
   * Overlap priority per class id: where shapes of two classes overlap, the higher priority wins; where
   * priorities are equal (or absent), the shape drawn later wins.
   */
  priority?: number[];
}

/** The value written for ignored pixels in class-index masks. */
export const IGNORE_VALUE = 255;

/**
 * xBD / xView2 building damage: background 0, no-damage 1, minor 2, major 3, destroyed 4; `un-classified`
 * is ignored. Where buildings overlap, the more severe damage wins.
 */
export function xbdClassMap(): ClassMap {
  const names = ['background', 'no-damage', 'minor-damage', 'major-damage', 'destroyed'];
  return {
    names,
    ids: new Map<string, number>([
      ...names.map((name, id) => [name, id] as [string, number]),
      ['un-classified', IGNORE_VALUE],
    ]),
    ignoreValue: IGNORE_VALUE,
    colors: [
      [0, 0, 0],
      [0, 200, 0],
      [255, 230, 0],
      [255, 120, 0],
      [220, 0, 0],
    ],
    priority: [0, 1, 2, 3, 4],
  };
}

/**
 * The Pascal VOC colour map, which LabelMe also uses for its class masks: colour of class `id` from the
 * bits of `id` spread over the high bits of R, G and B.
 */
export function vocColormap(count: number): Array<[number, number, number]> {
  return Array.from({ length: count }, (_, id) => {
    let r = 0,
      g = 0,
      b = 0;
    for (let bit = 0, c = id; c > 0; bit++, c >>= 3) {
      r |= ((c >> 0) & 1) << (7 - bit);
      g |= ((c >> 1) & 1) << (7 - bit);
      b |= ((c >> 2) & 1) << (7 - bit);
    }
    return [r, g, b];
  });
}

/**
 * LabelMe's `class_names.txt` convention: one class per line, the line index is the class id,
 * `_background_` is id 0 and `__ignore__` maps to the ignore value; colours are the VOC colour map.
 */
export function labelMeClassMap(classNamesText: string): ClassMap {
  const lines = classNamesText
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  const ignoreAt = lines.indexOf('__ignore__');
  const names = lines.filter((line) => line !== '__ignore__');
  const ids = new Map<string, number>(names.map((name, id) => [name, id]));
  ids.set('__ignore__', IGNORE_VALUE);
  if (ignoreAt > 0)
    throw new Error(
      `__ignore__ must be the first line of class_names.txt when present (found on line ${ignoreAt + 1})`,
    );
  return { names, ids, ignoreValue: IGNORE_VALUE, colors: vocColormap(names.length) };
}
