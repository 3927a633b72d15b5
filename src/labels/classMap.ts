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
    ids: new Map<string, number>([...names.map((name, id) => [name, id] as [string, number]), ['un-classified', IGNORE_VALUE]]),
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
