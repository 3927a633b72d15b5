import { ACCUMULATE_PRODUCT, MATRIX_PRODUCT } from './filterGradientProducts.js';
import { type HeapFunctionSource, type WasmMemory, addLocal, addTo, f32x4, f32x4Const, op, simd, v128Load, v128Store } from './wasmHeapFunctions.js';

/**
 * Winograd's F(2x2, 3x3) for the wasm backend's 3x3 stride-1 convolutions: each 2x2 block of output pixels
 * comes from its 4x4 input window with 16 multiplications per channel pair instead of 36. A layer becomes 16
 * matrix products, one per position of the 4x4 transformed tiles, of [tiles, Ci] by [Ci, Co], between two
 * cheap transforms (additions only) of the input tiles and of the results. Loads no TF.js: the helper
 * thread runs half of the tile rows with it.
 *
 * The transforms (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016):
 * U = G g G^T for each 3x3 filter g, V = B^T d B for each 4x4 input tile d, output A^T (U . V) A, with
 * G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]], B^T = [[1, 0, -1, 0], [0, 1, 1, 0],
 * [0, -1, 1, 0], [0, 1, 0, -1]], A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]. Four channels per SIMD vector.
 * The filter gradient is the adjoint: with V = B^T d B and Z = A dy A^T for each tile, S = the sum over the
 * tiles of V Z per position (16 products of [Ci, tiles] by [tiles, Co]), and dW = G^T S G.
 */

type Code = number[];
const get = (local: number): Code => [op.localGet, local];
const add = (a: Code, b: Code): Code => [...a, ...b, ...simd(f32x4.add)];
const sub = (a: Code, b: Code): Code => [...a, ...b, ...simd(f32x4.sub)];
const half = (a: Code): Code => [...a, ...f32x4Const(0.5), ...simd(f32x4.mul)];

/** G applied to three vectors (a filter's column or row): four vectors. */
const filterRows = (g: Code[]): Code[] => [g[0]!, half(add(add(g[0]!, g[1]!), g[2]!)), half(add(sub(g[0]!, g[1]!), g[2]!)), g[2]!];
/** B^T applied to four vectors. */
const inputRows = (d: Code[]): Code[] => [sub(d[0]!, d[2]!), add(d[1]!, d[2]!), sub(d[2]!, d[1]!), sub(d[1]!, d[3]!)];
/** A^T applied to four vectors. */
const outputRows = (m: Code[]): Code[] => [add(add(m[0]!, m[1]!), m[2]!), sub(sub(m[1]!, m[2]!), m[3]!)];
/** A applied to two vectors (a gradient's column or row). */
const gradientRows = (y: Code[]): Code[] => [y[0]!, add(y[0]!, y[1]!), sub(y[0]!, y[1]!), [...y[1]!, ...simd(f32x4.neg)]];
/** G^T applied to four vectors. */
const filterGradientRows = (s: Code[]): Code[] => {
  const middle = half(add(s[1]!, s[2]!));
  return [add(s[0]!, middle), half(sub(s[1]!, s[2]!)), add(middle, s[3]!)];
};

/** 0, 1, ..., n - 1. */
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/**
 * `transformFilter(filter, transformed, tapBytes, vectors)`: G g G^T for `vectors` groups of four (input,
 * output) channel pairs of a [3, 3, Ci, Co] filter, into [16, Ci, Co] (tapBytes = 4 Ci Co apart).
 */
export const WINOGRAD_FILTER: HeapFunctionSource = (() => {
  // Parameters filter 0, transformed 1, tapBytes 2, vectors 3; i32 local: pointer 4; v128 locals: taps 5-13,
  // rows 14-25.
  const tap = (r: number, c: number) => 5 + 3 * r + c;
  const row = (i: number, c: number) => 14 + 3 * i + c;
  const code = [...op.block, ...op.loop, op.localGet, 3, op.i32Eqz, op.brIf, 1, op.localGet, 0, op.localSet, 4];
  for (const t of range(9)) code.push(op.localGet, 4, ...v128Load(0), op.localSet, 5 + t, ...addLocal(4, 2));
  for (const c of range(3)) filterRows(range(3).map((r) => get(tap(r, c)))).forEach((value, i) => code.push(...value, op.localSet, row(i, c)));
  code.push(op.localGet, 1, op.localSet, 4);
  for (const i of range(4)) for (const value of filterRows(range(3).map((c) => get(row(i, c))))) code.push(op.localGet, 4, ...value, ...v128Store(0), ...addLocal(4, 2));
  code.push(...addTo(0, 16), ...addTo(1, 16), ...addTo(3, -1), op.br, 0, op.end, op.end);
  return { name: 'winogradFilter', params: 4, i32Locals: 1, v128Locals: 21, code };
})();

/**
 * `transformInputTiles(x, rowBytes, cellBytes, u, planeBytes, tiles, vectors)`: B^T d B for `tiles` 4x4
 * windows along a row, two cells apart (x: the first window's top-left cell; rowBytes, cellBytes: the padded
 * input's strides), `vectors` groups of four channels each, into 16 planes (planeBytes apart) of [tiles, Ci]
 * rows that start at u.
 */
export const WINOGRAD_INPUT_TILES: HeapFunctionSource = (() => {
  // Parameters x 0, rowBytes 1, cellBytes 2, u 3, planeBytes 4, tiles 5, vectors 6; i32 locals: window
  // pointer 7, plane pointer 8, vectors left 9, row pointer 10; v128 locals: window 11-26, rows 27-42.
  const cell = (i: number, j: number) => 11 + 4 * i + j;
  const row = (i: number, j: number) => 27 + 4 * i + j;
  const code = [...op.block, ...op.loop, op.localGet, 5, op.i32Eqz, op.brIf, 1];
  code.push(op.localGet, 0, op.localSet, 7, op.localGet, 3, op.localSet, 8, op.localGet, 6, op.localSet, 9);
  code.push(...op.loop, op.localGet, 7, op.localSet, 10);
  for (const i of range(4)) {
    for (const j of range(4)) code.push(op.localGet, 10, ...v128Load(0), op.localSet, cell(i, j), ...(j < 3 ? addLocal(10, 2) : []));
    code.push(op.localGet, 7, ...range(i + 1).flatMap(() => [op.localGet, 1, op.i32Add]), op.localSet, 10);
  }
  for (const j of range(4)) inputRows(range(4).map((i) => get(cell(i, j)))).forEach((value, i) => code.push(...value, op.localSet, row(i, j)));
  code.push(op.localGet, 8, op.localSet, 10);
  for (const i of range(4)) for (const value of inputRows(range(4).map((j) => get(row(i, j))))) code.push(op.localGet, 10, ...value, ...v128Store(0), ...addLocal(10, 4));
  code.push(...addTo(7, 16), ...addTo(8, 16), ...addTo(9, -1), op.localGet, 9, op.brIf, 0, op.end);
  code.push(...addLocal(0, 2), ...addLocal(0, 2), ...addLocal(3, 2), ...addTo(5, -1), op.br, 0, op.end, op.end);
  return { name: 'winogradInputTiles', params: 7, i32Locals: 4, v128Locals: 32, code };
})();

/**
 * `transformOutputTiles(m, planeBytes, out, rowBytes, cellBytes, tiles, vectors, bias)`: A^T M A plus the
 * bias for `tiles` tiles of 16 planes of [tiles, Co] (planeBytes apart), each into a 2x2 block of the output
 * (out: the first block's top-left pixel; rowBytes, cellBytes: the output's strides), `vectors` groups of
 * four channels each.
 */
export const WINOGRAD_OUTPUT_TILES: HeapFunctionSource = (() => {
  // Parameters m 0, planeBytes 1, out 2, rowBytes 3, cellBytes 4, tiles 5, vectors 6, bias 7; i32 locals:
  // plane pointer 8, output pointer 9, vectors left 10, bias pointer 11, load pointer 12; v128 locals:
  // products 13-28, rows 29-36, bias 37.
  const product = (i: number, j: number) => 13 + 4 * i + j;
  const row = (i: number, j: number) => 29 + 4 * i + j;
  const code = [...op.block, ...op.loop, op.localGet, 5, op.i32Eqz, op.brIf, 1];
  code.push(op.localGet, 0, op.localSet, 8, op.localGet, 2, op.localSet, 9, op.localGet, 6, op.localSet, 10, op.localGet, 7, op.localSet, 11);
  code.push(...op.loop, op.localGet, 8, op.localSet, 12);
  for (const i of range(4)) for (const j of range(4)) code.push(op.localGet, 12, ...v128Load(0), op.localSet, product(i, j), ...addLocal(12, 1));
  for (const j of range(4)) outputRows(range(4).map((i) => get(product(i, j)))).forEach((value, i) => code.push(...value, op.localSet, row(i, j)));
  code.push(op.localGet, 11, ...v128Load(0), op.localSet, 37);
  for (const i of range(2)) {
    outputRows(range(4).map((j) => get(row(i, j)))).forEach((value, j) => {
      code.push(op.localGet, 9, ...(i ? [op.localGet, 3, op.i32Add] : []), ...(j ? [op.localGet, 4, op.i32Add] : []), ...add(value, get(37)), ...v128Store(0));
    });
  }
  code.push(...addTo(8, 16), ...addTo(9, 16), ...addTo(11, 16), ...addTo(10, -1), op.localGet, 10, op.brIf, 0, op.end);
  code.push(...addLocal(0, 4), ...addLocal(2, 4), ...addLocal(2, 4), ...addTo(5, -1), op.br, 0, op.end, op.end);
  return { name: 'winogradOutputTiles', params: 8, i32Locals: 5, v128Locals: 25, code };
})();

/**
 * `transformGradientTiles(dy, rowBytes, cellBytes, z, planeBytes, tiles, vectors)`: A y A^T for `tiles` 2x2
 * blocks along a row of dy (rowBytes, cellBytes: its strides), `vectors` groups of four channels each, into
 * 16 planes (planeBytes apart) of [tiles, Co] rows that start at z.
 */
export const WINOGRAD_GRADIENT_TILES: HeapFunctionSource = (() => {
  // Parameters dy 0, rowBytes 1, cellBytes 2, z 3, planeBytes 4, tiles 5, vectors 6; i32 locals: block
  // pointer 7, plane pointer 8, vectors left 9, store pointer 10; v128 locals: block 11-14, rows 15-22.
  const cell = (i: number, j: number) => 11 + 2 * i + j;
  const row = (i: number, j: number) => 15 + 2 * i + j;
  const code = [...op.block, ...op.loop, op.localGet, 5, op.i32Eqz, op.brIf, 1];
  code.push(op.localGet, 0, op.localSet, 7, op.localGet, 3, op.localSet, 8, op.localGet, 6, op.localSet, 9);
  code.push(...op.loop);
  for (const i of range(2)) for (const j of range(2)) code.push(op.localGet, 7, ...(i ? [op.localGet, 1, op.i32Add] : []), ...(j ? [op.localGet, 2, op.i32Add] : []), ...v128Load(0), op.localSet, cell(i, j));
  for (const j of range(2)) gradientRows(range(2).map((i) => get(cell(i, j)))).forEach((value, i) => code.push(...value, op.localSet, row(i, j)));
  code.push(op.localGet, 8, op.localSet, 10);
  for (const i of range(4)) for (const value of gradientRows(range(2).map((j) => get(row(i, j))))) code.push(op.localGet, 10, ...value, ...v128Store(0), ...addLocal(10, 4));
  code.push(...addTo(7, 16), ...addTo(8, 16), ...addTo(9, -1), op.localGet, 9, op.brIf, 0, op.end);
  code.push(...addLocal(0, 2), ...addLocal(0, 2), ...addLocal(3, 2), ...addTo(5, -1), op.br, 0, op.end, op.end);
  return { name: 'winogradGradientTiles', params: 7, i32Locals: 4, v128Locals: 12, code };
})();

/**
 * `transformFilterGradient(sums, filterGradient, planeBytes, partBytes, vectors)`: G^T S G for `vectors`
 * groups of four (input, output) channel pairs, S the sum of two parts of [16, Ci, Co] sums (partBytes
 * apart; planeBytes = 4 Ci Co apart within one), into a [3, 3, Ci, Co] filter gradient.
 */
export const WINOGRAD_FILTER_GRADIENT: HeapFunctionSource = (() => {
  // Parameters sums 0, filterGradient 1, planeBytes 2, partBytes 3, vectors 4; i32 locals: pointer 5, second
  // part's pointer 6; v128 locals: sums 7-22, rows 23-34.
  const sum = (i: number, j: number) => 7 + 4 * i + j;
  const row = (r: number, j: number) => 23 + 4 * r + j;
  const code = [...op.block, ...op.loop, op.localGet, 4, op.i32Eqz, op.brIf, 1];
  code.push(op.localGet, 0, op.localSet, 5, op.localGet, 0, op.localGet, 3, op.i32Add, op.localSet, 6);
  for (const i of range(4)) {
    for (const j of range(4)) code.push(op.localGet, 5, ...v128Load(0), op.localGet, 6, ...v128Load(0), ...simd(f32x4.add), op.localSet, sum(i, j), ...addLocal(5, 2), ...addLocal(6, 2));
  }
  for (const j of range(4)) filterGradientRows(range(4).map((i) => get(sum(i, j)))).forEach((value, r) => code.push(...value, op.localSet, row(r, j)));
  code.push(op.localGet, 1, op.localSet, 5);
  for (const r of range(3)) for (const value of filterGradientRows(range(4).map((j) => get(row(r, j))))) code.push(op.localGet, 5, ...value, ...v128Store(0), ...addLocal(5, 2));
  code.push(...addTo(0, 16), ...addTo(1, 16), ...addTo(4, -1), op.br, 0, op.end, op.end);
  return { name: 'winogradFilterGradient', params: 5, i32Locals: 2, v128Locals: 28, code };
})();

/** The heap functions a Winograd convolution runs, in the order `runWinogradTiles` takes them instantiated. */
export const WINOGRAD_TILE_FUNCTIONS = [WINOGRAD_INPUT_TILES, WINOGRAD_OUTPUT_TILES, ...MATRIX_PRODUCT];
/** The heap functions a Winograd filter gradient runs, in the order `runWinogradFilterGradient` takes them instantiated. */
export const WINOGRAD_GRADIENT_FUNCTIONS = [WINOGRAD_INPUT_TILES, WINOGRAD_GRADIENT_TILES, ...ACCUMULATE_PRODUCT];

/** x as the input transforms read it: in place, with the zero padding its convolution adds around it. */
export interface WinogradInput {
  /** x: [images, inHeight, inWidth, inChannels]. */
  input: number;
  inHeight: number;
  inWidth: number;
  /** Rows above and columns left of x (zeros) that the first windows start at. */
  padTop: number;
  padLeft: number;
  /** Even. */
  outHeight: number;
  /** Even (a multiple of 4 for the convolution: its products take tiles in pairs). */
  outWidth: number;
  /** Multiples of 4. */
  inChannels: number;
  outChannels: number;
  /** Room for one block's transformed tiles and products, and a staged window, per thread (`scratchBytes` each). */
  scratch: number;
  scratchBytes: number;
  /** Tile rows (of outWidth / 2 tiles) transformed and multiplied at a time. */
  blockRows: number;
}

const INPUT_FIELDS = ['input', 'inHeight', 'inWidth', 'padTop', 'padLeft', 'outHeight', 'outWidth', 'inChannels', 'outChannels', 'scratch', 'scratchBytes', 'blockRows'] as const;

/** One Winograd convolution: byte addresses in wasm memory and its sizes. */
export interface WinogradConvolution extends WinogradInput {
  /** The filter transformed by WINOGRAD_FILTER: [16, inChannels, outChannels]. */
  filter: number;
  /** [outChannels] added to every output pixel. */
  bias: number;
  /** [images, outHeight, outWidth, outChannels]. */
  output: number;
}

/** The fields of WinogradConvolution in the order a helper thread reads them. */
export const WINOGRAD_FIELDS = [...INPUT_FIELDS, 'filter', 'bias', 'output'] as const;

/**
 * Scratch floats per block are 16 (tiles) (Ci + Co): a block of about 8192 (Ci + Co) / 2 floats, 512 KiB in
 * all, keeps the transformed tiles in L2 between the transforms and the products.
 */
const BLOCK_FLOATS = 1 << 17;
/**
 * Tiles a filter gradient's block holds at least, whatever its size: each product call loads and stores its
 * rows of sums once per block (on 16 px maps of 256 channels, blocks of 8 tiles made it slower than direct).
 */
export const GRADIENT_BLOCK_TILES = 64;

/** Tile rows per block for a layer (of at least `minimumTiles` tiles), and the scratch bytes a thread needs for one block and a staged window. */
export function winogradBlocks(outWidth: number, inChannels: number, outChannels: number, minimumTiles: number): { blockRows: number; scratchBytes: number } {
  const tilesPerRow = outWidth / 2;
  const rowFloats = 16 * tilesPerRow * (inChannels + outChannels);
  const blockRows = Math.max(Math.ceil(minimumTiles / tilesPerRow), Math.floor(BLOCK_FLOATS / rowFloats));
  return { blockRows, scratchBytes: 4 * (blockRows * rowFloats + 16 * inChannels) };
}

/** Calls `visit(row, image, y)` for the tile rows [first, first + rows): each row's image and top output row. */
function forEachTileRow(first: number, rows: number, outHeight: number, visit: (row: number, image: number, y: number) => void): void {
  for (let r = 0; r < rows; r++) visit(r, Math.floor((first + r) / (outHeight / 2)), 2 * ((first + r) % (outHeight / 2)));
}

/**
 * Transforms the input tiles of one tile row (output rows y and y + 1 of `image`) into the 16 planes at u
 * (planeBytes apart): the windows inside x straight from x, the others (a row's first and last, with
 * 'same' padding, and all of the first and last rows) from a zero-padded copy of the window at `staging`.
 */
function transformInputRow(
  transformInput: (...args: number[]) => void, heap: Float32Array, job: WinogradInput, image: number, y: number, u: number, planeBytes: number, staging: number,
): void {
  const { input, inHeight: height, inWidth: width, padTop, padLeft, outWidth, inChannels: ci } = job;
  const tilesPerRow = outWidth / 2;
  const top = y - padTop;
  const cellBytes = 4 * ci;
  // Tiles [inside, endInside) read columns 2t - padLeft .. 2t - padLeft + 3 of rows top .. top + 3, all in x.
  const rowsInside = top >= 0 && top + 4 <= height;
  const inside = rowsInside ? Math.min(tilesPerRow, Math.ceil(padLeft / 2)) : tilesPerRow;
  const endInside = rowsInside ? Math.max(inside, Math.min(tilesPerRow, Math.floor((width - 4 + padLeft) / 2) + 1)) : tilesPerRow;
  if (endInside > inside) {
    transformInput(input + ((image * height + top) * width + 2 * inside - padLeft) * cellBytes, width * cellBytes, cellBytes, u + inside * cellBytes, planeBytes, endInside - inside, ci / 4);
  }
  for (let t = 0; t < tilesPerRow; t++) {
    if (t === inside && endInside > inside) t = endInside;
    if (t >= tilesPerRow) break;
    heap.fill(0, staging / 4, staging / 4 + 16 * ci);
    for (let i = 0; i < 4; i++) {
      const row = top + i;
      if (row < 0 || row >= height) continue;
      for (let j = 0; j < 4; j++) {
        const column = 2 * t - padLeft + j;
        if (column < 0 || column >= width) continue;
        const from = input / 4 + ((image * height + row) * width + column) * ci;
        heap.copyWithin(staging / 4 + (4 * i + j) * ci, from, from + ci);
      }
    }
    transformInput(staging, 4 * cellBytes, cellBytes, u + t * cellBytes, planeBytes, 1, ci / 4);
  }
}

/**
 * Computes tile rows [firstRow, endRow) (of images * outHeight / 2 in all) of the convolution, in scratch part
 * `part`: per block of rows, transforms the input tiles, multiplies each of the 16 planes by the filter's
 * (16 output channels per call), transforms back into the output with the bias. `functions` are
 * WINOGRAD_TILE_FUNCTIONS instantiated.
 */
export function runWinogradTiles(functions: ReadonlyArray<(...args: number[]) => void>, memory: WasmMemory, job: WinogradConvolution, firstRow: number, endRow: number, part: number): void {
  const [transformInput, transformOutput, ...products] = functions as [(...args: number[]) => void, (...args: number[]) => void, ...Array<(...args: number[]) => void>];
  const { filter, bias, output, outHeight, outWidth, inChannels: ci, outChannels: co, blockRows } = job;
  const heap = new Float32Array(memory.buffer);
  const tilesPerRow = outWidth / 2;
  const outRowBytes = 4 * co * outWidth;
  const blockTiles = blockRows * tilesPerRow;
  const tiles = job.scratch + part * job.scratchBytes;
  const results = tiles + 64 * blockTiles * ci;
  const staging = results + 64 * blockTiles * co;
  for (let first = firstRow; first < endRow; first += blockRows) {
    const rows = Math.min(blockRows, endRow - first);
    forEachTileRow(first, rows, outHeight, (r, image, y) => {
      transformInputRow(transformInput, heap, job, image, y, tiles + 4 * r * tilesPerRow * ci, 4 * blockTiles * ci, staging);
    });
    const pairs = (rows * tilesPerRow) / 2;
    for (let plane = 0; plane < 16; plane++) {
      for (let column = 0; column < co; column += 16) {
        const product = products[Math.min(4, (co - column) / 4) - 1]!;
        product(
          tiles + 4 * plane * blockTiles * ci, 4, 4 * ci, filter + 4 * (plane * ci * co + column), 4 * co,
          results + 4 * (plane * blockTiles * co + column), 4 * co, pairs, ci,
        );
      }
    }
    forEachTileRow(first, rows, outHeight, (r, image, y) => {
      transformOutput(results + 4 * r * tilesPerRow * co, 4 * blockTiles * co, output + (image * outHeight + y) * outRowBytes, outRowBytes, 4 * co, tilesPerRow, co / 4, bias);
    });
  }
}

/** One Winograd filter gradient: byte addresses in wasm memory and its sizes. */
export interface WinogradFilterGradient extends WinogradInput {
  /** dy: [images, outHeight, outWidth, outChannels]. */
  gradient: number;
  /** Two zeroed parts of [16, inChannels, outChannels] sums, one per thread, 64 Ci Co bytes apart. */
  sums: number;
}

/** The fields of WinogradFilterGradient in the order a helper thread reads them. */
export const WINOGRAD_GRADIENT_FIELDS = [...INPUT_FIELDS, 'gradient', 'sums'] as const;

/**
 * Adds tile rows [firstRow, endRow) to sums part `part`: per block of rows, transforms x's and dy's tiles,
 * then adds to each of the 16 planes of sums the products of its two planes over the block's tiles (input
 * channels in pairs, 16 output channels per call). `functions` are WINOGRAD_GRADIENT_FUNCTIONS instantiated.
 */
export function runWinogradFilterGradient(functions: ReadonlyArray<(...args: number[]) => void>, memory: WasmMemory, job: WinogradFilterGradient, firstRow: number, endRow: number, part: number): void {
  const [transformInput, transformGradient, ...products] = functions as [(...args: number[]) => void, (...args: number[]) => void, ...Array<(...args: number[]) => void>];
  const { gradient, outHeight, outWidth, inChannels: ci, outChannels: co, blockRows } = job;
  const heap = new Float32Array(memory.buffer);
  const tilesPerRow = outWidth / 2;
  const outRowBytes = 4 * co * outWidth;
  const blockTiles = blockRows * tilesPerRow;
  const tiles = job.scratch + part * job.scratchBytes;
  const transformed = tiles + 64 * blockTiles * ci;
  const staging = transformed + 64 * blockTiles * co;
  const sums = job.sums + part * 64 * ci * co;
  for (let first = firstRow; first < endRow; first += blockRows) {
    const rows = Math.min(blockRows, endRow - first);
    forEachTileRow(first, rows, outHeight, (r, image, y) => {
      transformInputRow(transformInput, heap, job, image, y, tiles + 4 * r * tilesPerRow * ci, 4 * blockTiles * ci, staging);
      transformGradient(gradient + (image * outHeight + y) * outRowBytes, outRowBytes, 4 * co, transformed + 4 * r * tilesPerRow * co, 4 * blockTiles * co, tilesPerRow, co / 4);
    });
    for (let plane = 0; plane < 16; plane++) {
      for (let column = 0; column < co; column += 16) {
        const product = products[Math.min(4, (co - column) / 4) - 1]!;
        product(
          tiles + 4 * plane * blockTiles * ci, 4 * ci, 4, transformed + 4 * (plane * blockTiles * co + column), 4 * co,
          sums + 4 * (plane * ci * co + column), 4 * co, ci / 2, rows * tilesPerRow,
        );
      }
    }
  }
}
