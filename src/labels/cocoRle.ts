/**
 * COCO run-length encoding: runs of alternating 0s and 1s (starting with 0s) over the mask in column-major
 * order, either as a list of numbers (uncompressed) or as COCO's compact string: each run is written in
 * groups of 5 bits with a continuation bit (ASCII offset 48), the last group sign-extended, and from the
 * third run on stored as the difference to the run two before.
 */
export function decodeRleString(counts: string): number[] {
  const runs: number[] = [];
  let position = 0;
  while (position < counts.length) {
    let value = 0;
    let shift = 0;
    let more = true;
    let group = 0;
    while (more) {
      if (position >= counts.length) throw new Error('RLE string ends inside a run');
      group = counts.charCodeAt(position++) - 48;
      if (group < 0 || group > 63) throw new Error(`RLE string has an invalid character at ${position - 1}`);
      value |= (group & 0x1f) << shift;
      more = (group & 0x20) !== 0;
      shift += 5;
    }
    if (group & 0x10) value |= -1 << shift;
    if (runs.length > 2) value += runs[runs.length - 2]!;
    runs.push(value);
  }
  return runs;
}

/** Encodes runs as COCO's compact string (the inverse of `decodeRleString`). */
export function encodeRleString(runs: readonly number[]): string {
  let out = '';
  runs.forEach((run, index) => {
    let value = index > 2 ? run - runs[index - 2]! : run;
    let more = true;
    while (more) {
      let group = value & 0x1f;
      value >>= 5;
      more = group & 0x10 ? value !== -1 : value !== 0;
      if (more) group |= 0x20;
      out += String.fromCharCode(group + 48);
    }
  });
  return out;
}

/** Column-major runs of a binary mask (row-major `data`, non-zero = 1), starting with a run of 0s. */
export function encodeRuns(data: ArrayLike<number>, width: number, height: number): number[] {
  const runs: number[] = [];
  let current = 0;
  let length = 0;
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      const bit = data[y * width + x] ? 1 : 0;
      if (bit !== current) {
        runs.push(length);
        current = bit;
        length = 0;
      }
      length++;
    }
  }
  runs.push(length);
  return runs;
}

/**
 * Calls `paint(row, column, column + 1)` for every pixel set by the runs of a `height` x `width` mask, and
 * checks that the runs cover exactly the mask.
 */
export function forEachRlePixel(
  runs: readonly number[],
  width: number,
  height: number,
  paint: (row: number, from: number, to: number) => void,
): void {
  let index = 0;
  runs.forEach((run, k) => {
    if (!Number.isInteger(run) || run < 0) throw new Error(`RLE run ${k} is ${run}, not a count`);
    if (k % 2 === 1) {
      const end = Math.min(index + run, width * height);
      for (let i = index; i < end; i++) paint(i % height, Math.floor(i / height), Math.floor(i / height) + 1);
    }
    index += run;
  });
  if (index !== width * height)
    throw new Error(`RLE runs cover ${index} pixels, the mask has ${width * height}`);
}
