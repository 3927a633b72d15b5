import { ACCUMULATE_PRODUCT, forEachColumnGroup, MATRIX_PRODUCT } from './filterGradientProducts.js';
import {
  addLocal,
  addTo,
  f32x4,
  type HeapFunctionSource,
  op,
  simd,
  v128Load,
  v128Store,
  type WasmMemory,
} from './heapFunctions.js';
import {
  addTimes,
  type Code,
  loadAndStep,
  sandwich,
  sandwichLocals,
  storeAndStep,
  transpose,
} from './winogradCode.js';
import { filterGradientSource, filterSource } from './winogradFilters.js';
import {
  WINOGRAD_MATRICES as MATRICES,
  WINOGRAD_BLOCK_SIZES,
  type WinogradMatrices,
} from './winogradMatrices.js';

export { WINOGRAD_BLOCK_SIZES };

/** Where a tile transform finds its operands: parameter and local indices. */
interface TileLoop {
  /** Parameters: the first tile's source and target, the tile count, the vector count. */
  source: number;
  target: number;
  tiles: number;
  vectors: number;
  /** i32 locals: the vector's source and target, the vectors left. */
  sourceAt: number;
  targetAt: number;
  left: number;
}

/**
 * The loop of a tile transform: over the tiles, and within each over its groups of four channels, 16 bytes
 * apart at the source and the target. `tileStart` runs before a tile's vectors, `nextVector` after each
 * vector's body, `nextTile` (which advances the source and target parameters) after each tile.
 */
function tileLoop(
  at: TileLoop,
  body: Code,
  nextTile: Code,
  tileStart: Code = [],
  nextVector: Code = [],
): Code {
  return [
    ...op.block,
    ...op.loop,
    op.localGet,
    at.tiles,
    op.i32Eqz,
    op.brIf,
    1,
    op.localGet,
    at.source,
    op.localSet,
    at.sourceAt,
    op.localGet,
    at.target,
    op.localSet,
    at.targetAt,
    op.localGet,
    at.vectors,
    op.localSet,
    at.left,
    ...tileStart,
    ...op.loop,
    ...body,
    ...addTo(at.sourceAt, 16),
    ...addTo(at.targetAt, 16),
    ...nextVector,
    ...addTo(at.left, -1),
    op.localGet,
    at.left,
    op.brIf,
    0,
    op.end,
    ...nextTile,
    ...addTo(at.tiles, -1),
    op.br,
    0,
    op.end,
    op.end,
  ];
}

/** Code that sets local `pointer` to local `base` plus `rows` times the i32 parameter `rowStep`. */
const rowStart = (pointer: number, base: number, rowStep: number, rows: number): Code => [
  op.localGet,
  base,
  op.localSet,
  pointer,
  ...addTimes(pointer, rowStep, rows),
];

/**
 * `<name>(source, rowBytes, cellBytes, target, planeBytes, tiles, vectors)`: matrix D matrix^T for `tiles`
 * square blocks D of a map (its side: matrix's columns) along a row, m cells apart (source: the first
 * block's top-left cell; rowBytes, cellBytes: the map's strides), `vectors` groups of four channels each,
 * into (matrix's rows)^2 planes (planeBytes apart) of [tiles, channels] rows that start at target. With B^T
 * it transforms input windows, with A dy's blocks.
 */
function tileTransformSource(name: string, matrix: number[][], m: number): HeapFunctionSource {
  // Parameters source 0, rowBytes 1, cellBytes 2, target 3, planeBytes 4, tiles 5, vectors 6; i32 locals
  // 7-9 (tileLoop), pointer 10.
  const at = { source: 0, target: 3, tiles: 5, vectors: 6, sourceAt: 7, targetAt: 8, left: 9 };
  const load = (i: number, j: number): Code => [
    ...(j === 0 ? rowStart(10, 7, 1, i) : addLocal(10, 2)),
    op.localGet,
    10,
    ...v128Load(0),
  ];
  const store = (r: number, k: number, value: Code): Code => [
    ...(r === 0 && k === 0 ? [op.localGet, 8, op.localSet, 10] : []),
    ...storeAndStep(10, 4, value),
  ];
  const code = tileLoop(at, sandwich(matrix, matrix, load, store, 11), [
    ...addTimes(0, 2, m),
    ...addLocal(3, 2),
  ]);
  return { name: `${name}${m}`, params: 7, i32Locals: 4, v128Locals: sandwichLocals(matrix, matrix), code };
}

/**
 * `winogradOutputTiles<m>(products, planeBytes, out, rowBytes, cellBytes, tiles, vectors, bias)`: A^T M A
 * plus the bias for `tiles` tiles of (m + 2)^2 planes of [tiles, Co] (planeBytes apart), each into an m x m
 * block of the output (out: the first block's top-left pixel; rowBytes, cellBytes: the output's strides),
 * `vectors` groups of four channels each.
 */
function outputTilesSource({ m, output: at }: WinogradMatrices): HeapFunctionSource {
  // Parameters products 0, planeBytes 1, out 2, rowBytes 3, cellBytes 4, tiles 5, vectors 6, bias 7; i32
  // locals 8-10 (tileLoop), pointer 11, bias pointer 12; v128 locals: the bias vector 13, sandwich's.
  const loop = { source: 0, target: 2, tiles: 5, vectors: 6, sourceAt: 8, targetAt: 9, left: 10 };
  const load = (i: number, j: number): Code => [
    ...(i === 0 && j === 0 ? [op.localGet, 8, op.localSet, 11] : []),
    ...loadAndStep(11, 1),
  ];
  const store = (r: number, k: number, value: Code): Code => [
    ...(k === 0 ? rowStart(11, 9, 3, r) : addLocal(11, 4)),
    op.localGet,
    11,
    ...value,
    op.localGet,
    13,
    ...simd(f32x4.add),
    ...v128Store(0),
  ];
  const body = [op.localGet, 12, ...v128Load(0), op.localSet, 13, ...sandwich(at, at, load, store, 14)];
  const code = tileLoop(
    loop,
    body,
    [...addLocal(0, 4), ...addTimes(2, 4, m)],
    [op.localGet, 7, op.localSet, 12],
    addTo(12, 16),
  );
  return {
    name: `winogradOutputTiles${m}`,
    params: 8,
    i32Locals: 5,
    v128Locals: 1 + sandwichLocals(at, at),
    code,
  };
}

/** The heap functions of one block size, in the order the runners take them. */
interface BlockSizeSources {
  filter: HeapFunctionSource;
  filterGradient: HeapFunctionSource;
  inputTiles: HeapFunctionSource;
  outputTiles: HeapFunctionSource;
  gradientTiles: HeapFunctionSource;
}

const SOURCES: BlockSizeSources[] = MATRICES.map((matrices) => ({
  filter: filterSource(matrices),
  filterGradient: filterGradientSource(matrices),
  inputTiles: tileTransformSource('winogradInputTiles', matrices.input, matrices.m),
  outputTiles: outputTilesSource(matrices),
  gradientTiles: tileTransformSource('winogradGradientTiles', transpose(matrices.output), matrices.m),
}));

/** `transformFilter<m>` (see filterSource) of block size m. */
export const winogradFilterSource = (m: number): HeapFunctionSource =>
  SOURCES[WINOGRAD_BLOCK_SIZES.indexOf(m as 2)]!.filter;
/** `transformFilterGradient<m>` (see filterGradientSource) of block size m. */
export const winogradFilterGradientSource = (m: number): HeapFunctionSource =>
  SOURCES[WINOGRAD_BLOCK_SIZES.indexOf(m as 2)]!.filterGradient;

/** The heap functions a Winograd convolution runs: input and output tiles per block size, then the products. */
export const WINOGRAD_TILE_FUNCTIONS = [
  ...SOURCES.flatMap((sources) => [sources.inputTiles, sources.outputTiles]),
  ...MATRIX_PRODUCT,
];
/** The heap functions a Winograd filter gradient runs: input and gradient tiles per block size, then the products. */
export const WINOGRAD_GRADIENT_FUNCTIONS = [
  ...SOURCES.flatMap((sources) => [sources.inputTiles, sources.gradientTiles]),
  ...ACCUMULATE_PRODUCT,
];

type HeapFunction = (...args: number[]) => void;

/** The two tile transforms of block size m and the products, from instantiated WINOGRAD_TILE_FUNCTIONS or WINOGRAD_GRADIENT_FUNCTIONS. */
function functionsFor(
  functions: ReadonlyArray<HeapFunction>,
  m: number,
): { first: HeapFunction; second: HeapFunction; products: ReadonlyArray<HeapFunction> } {
  const index = WINOGRAD_BLOCK_SIZES.indexOf(m as 2);
  return {
    first: functions[2 * index]!,
    second: functions[2 * index + 1]!,
    products: functions.slice(2 * WINOGRAD_BLOCK_SIZES.length),
  };
}

/** x as the input transforms read it: in place, with the zero padding its convolution adds around it. */
export interface WinogradInput {
  /** x: [images, inHeight, inWidth, inChannels]. */
  input: number;
  inHeight: number;
  inWidth: number;
  /** Rows above and columns left of x (zeros) that the first windows start at. */
  padTop: number;
  padLeft: number;
  outHeight: number;
  /** For the convolution a multiple of 2m: its products take tiles in pairs. */
  outWidth: number;
  /** Multiples of 4. */
  inChannels: number;
  outChannels: number;
  /** Room for one block's transformed tiles and products, and a staged window, per thread (`scratchBytes` each). */
  scratch: number;
  scratchBytes: number;
  /** The output block size m of F(m x m, 3x3), one of WINOGRAD_BLOCK_SIZES; outHeight and outWidth are multiples of it. */
  blockSize: number;
  /** Tile rows (of outWidth / m tiles) transformed and multiplied at a time. */
  blockRows: number;
}

const INPUT_FIELDS = [
  'input',
  'inHeight',
  'inWidth',
  'padTop',
  'padLeft',
  'outHeight',
  'outWidth',
  'inChannels',
  'outChannels',
  'scratch',
  'scratchBytes',
  'blockSize',
  'blockRows',
] as const;

/** One Winograd convolution: byte addresses in wasm memory and its sizes. */
export interface WinogradConvolution extends WinogradInput {
  /** The filter transformed by `winogradFilterSource(m)`: [(m + 2)^2, inChannels, outChannels]. */
  filter: number;
  /** [outChannels] added to every output pixel. */
  bias: number;
  /** [images, outHeight, outWidth, outChannels]. */
  output: number;
}

/** The fields of WinogradConvolution in the order a helper thread reads them. */
export const WINOGRAD_FIELDS = [...INPUT_FIELDS, 'filter', 'bias', 'output'] as const;

/**
 * Scratch floats per block are (m + 2)^2 (tiles) (Ci + Co): blocks of about 512 KiB keep the transformed
 * tiles in L2 between the transforms and the products.
 */
const BLOCK_FLOATS = 1 << 17;
/**
 * Tiles a block holds at least, whatever its size: per block, the convolution's products read each plane of
 * the transformed filter (Ci Co floats) and the filter gradient's load and store their rows of sums. On 16
 * px maps of 256 channels, blocks of 8 tiles made the filter gradient slower than the direct products; at
 * 256-512 channels, 64 tiles instead of 16 made the convolution 8-20% faster.
 */
export const BLOCK_TILES = 64;

/**
 * Tile rows per block for a layer of block size m (at least `minimumTiles` tiles), and the scratch bytes a
 * thread needs for one block and a staged window.
 */
export function winogradBlocks(
  m: number,
  outWidth: number,
  inChannels: number,
  outChannels: number,
  minimumTiles: number,
): { blockRows: number; scratchBytes: number } {
  const tilesPerRow = outWidth / m;
  const planes = (m + 2) ** 2;
  const rowFloats = planes * tilesPerRow * (inChannels + outChannels);
  const blockRows = Math.max(Math.ceil(minimumTiles / tilesPerRow), Math.floor(BLOCK_FLOATS / rowFloats));
  return { blockRows, scratchBytes: 4 * (blockRows * rowFloats + planes * inChannels) };
}

/** Calls `visit(row, image, y)` for the tile rows [first, first + rows) of block size m: each row's image and top output row. */
function forEachTileRow(
  first: number,
  rows: number,
  outHeight: number,
  m: number,
  visit: (row: number, image: number, y: number) => void,
): void {
  for (let r = 0; r < rows; r++)
    visit(r, Math.floor((first + r) / (outHeight / m)), m * ((first + r) % (outHeight / m)));
}

/**
 * The tiles [inside, endInside) of a tile row whose windows, columns m t - padLeft .. m t - padLeft + m + 1,
 * all lie in x's `width` columns. padLeft is negative where a convolution crops x (an input gradient of a
 * layer padded by more than its kernel less one): the range then starts at tile 0, never before it.
 */
export function tilesInsideRow(
  m: number,
  padLeft: number,
  width: number,
  tilesPerRow: number,
): [inside: number, endInside: number] {
  const inside = Math.max(0, Math.min(tilesPerRow, Math.ceil(padLeft / m)));
  const endInside = Math.max(inside, Math.min(tilesPerRow, Math.floor((width - m - 2 + padLeft) / m) + 1));
  return [inside, endInside];
}

/**
 * Transforms the input windows of one tile row (output rows y to y + m - 1 of `image`) into the planes at
 * u (planeBytes apart): the windows inside x straight from x, the others (a row's first and last, with
 * 'same' padding, and all of the first and last rows) from a zero-padded copy of the window at `staging`.
 */
function transformInputRow(
  transformInput: HeapFunction,
  heap: Float32Array,
  job: WinogradInput,
  image: number,
  y: number,
  u: number,
  planeBytes: number,
  staging: number,
): void {
  const {
    input,
    inHeight: height,
    inWidth: width,
    padTop,
    padLeft,
    outWidth,
    inChannels: ci,
    blockSize: m,
  } = job;
  const side = m + 2;
  const tilesPerRow = outWidth / m;
  const top = y - padTop;
  const cellBytes = 4 * ci;
  const rowsInside = top >= 0 && top + side <= height;
  const [inside, endInside] = rowsInside
    ? tilesInsideRow(m, padLeft, width, tilesPerRow)
    : [tilesPerRow, tilesPerRow];
  if (endInside > inside) {
    transformInput(
      input + ((image * height + top) * width + m * inside - padLeft) * cellBytes,
      width * cellBytes,
      cellBytes,
      u + inside * cellBytes,
      planeBytes,
      endInside - inside,
      ci / 4,
    );
  }
  for (let t = 0; t < tilesPerRow; t++) {
    if (t === inside && endInside > inside) t = endInside;
    if (t >= tilesPerRow) break;
    heap.fill(0, staging / 4, staging / 4 + side * side * ci);
    for (let i = 0; i < side; i++) {
      const row = top + i;
      if (row < 0 || row >= height) continue;
      for (let j = 0; j < side; j++) {
        const column = m * t - padLeft + j;
        if (column < 0 || column >= width) continue;
        const from = input / 4 + ((image * height + row) * width + column) * ci;
        heap.copyWithin(staging / 4 + (side * i + j) * ci, from, from + ci);
      }
    }
    transformInput(staging, side * cellBytes, cellBytes, u + t * cellBytes, planeBytes, 1, ci / 4);
  }
}

/** Where a block of tile rows keeps its transformed tiles: `planes` planes of [blockTiles, channels] rows. */
function planeLayout(job: WinogradInput, part: number) {
  const { blockSize: m, outWidth, inChannels: ci, outChannels: co, blockRows } = job;
  const planes = (m + 2) ** 2;
  const tilesPerRow = outWidth / m;
  const blockTiles = blockRows * tilesPerRow;
  const inputTiles = job.scratch + part * job.scratchBytes;
  const otherTiles = inputTiles + 4 * planes * blockTiles * ci;
  return {
    m,
    planes,
    tilesPerRow,
    blockTiles,
    inputTiles,
    otherTiles,
    staging: otherTiles + 4 * planes * blockTiles * co,
  };
}

/**
 * Computes tile rows [firstRow, endRow) (of images * outHeight / m in all) of the convolution, in scratch
 * part `part`: per block of rows, transforms the input windows, multiplies each plane by the filter's (16
 * output channels per call), transforms back into the output with the bias. `functions` are
 * WINOGRAD_TILE_FUNCTIONS instantiated.
 */
export function runWinogradTiles(
  functions: ReadonlyArray<HeapFunction>,
  memory: WasmMemory,
  job: WinogradConvolution,
  firstRow: number,
  endRow: number,
  part: number,
): void {
  const { filter, bias, output, outHeight, outWidth, inChannels: ci, outChannels: co, blockRows } = job;
  const {
    m,
    planes,
    tilesPerRow,
    blockTiles,
    inputTiles,
    otherTiles: results,
    staging,
  } = planeLayout(job, part);
  const { first: transformInput, second: transformOutput, products } = functionsFor(functions, m);
  const heap = new Float32Array(memory.buffer);
  const outRowBytes = 4 * co * outWidth;
  for (let first = firstRow; first < endRow; first += blockRows) {
    const rows = Math.min(blockRows, endRow - first);
    forEachTileRow(first, rows, outHeight, m, (r, image, y) => {
      transformInputRow(
        transformInput,
        heap,
        job,
        image,
        y,
        inputTiles + 4 * r * tilesPerRow * ci,
        4 * blockTiles * ci,
        staging,
      );
    });
    const pairs = (rows * tilesPerRow) / 2;
    for (let plane = 0; plane < planes; plane++) {
      forEachColumnGroup(products, co, (product, column) =>
        product(
          inputTiles + 4 * plane * blockTiles * ci,
          4,
          4 * ci,
          filter + 4 * (plane * ci * co + column),
          4 * co,
          results + 4 * (plane * blockTiles * co + column),
          4 * co,
          pairs,
          ci,
        ),
      );
    }
    forEachTileRow(first, rows, outHeight, m, (r, image, y) => {
      transformOutput(
        results + 4 * r * tilesPerRow * co,
        4 * blockTiles * co,
        output + (image * outHeight + y) * outRowBytes,
        outRowBytes,
        4 * co,
        tilesPerRow,
        co / 4,
        bias,
      );
    });
  }
}

/** One Winograd filter gradient: byte addresses in wasm memory and its sizes. */
export interface WinogradFilterGradient extends WinogradInput {
  /** dy: [images, outHeight, outWidth, outChannels]. */
  gradient: number;
  /** Zeroed parts of [(m + 2)^2, inChannels, outChannels] sums, one per thread, one after the other. */
  sums: number;
}

/** The fields of WinogradFilterGradient in the order a helper thread reads them. */
export const WINOGRAD_GRADIENT_FIELDS = [...INPUT_FIELDS, 'gradient', 'sums'] as const;

/**
 * Adds tile rows [firstRow, endRow) to sums part `part`: per block of rows, transforms x's windows and dy's
 * blocks, then adds to each plane of sums the products of its two planes over the block's tiles (input
 * channels in pairs, 16 output channels per call). `functions` are WINOGRAD_GRADIENT_FUNCTIONS instantiated.
 */
export function runWinogradFilterGradient(
  functions: ReadonlyArray<HeapFunction>,
  memory: WasmMemory,
  job: WinogradFilterGradient,
  firstRow: number,
  endRow: number,
  part: number,
): void {
  const { gradient, outHeight, outWidth, inChannels: ci, outChannels: co, blockRows } = job;
  const {
    m,
    planes,
    tilesPerRow,
    blockTiles,
    inputTiles,
    otherTiles: gradientTiles,
    staging,
  } = planeLayout(job, part);
  const { first: transformInput, second: transformGradient, products } = functionsFor(functions, m);
  const heap = new Float32Array(memory.buffer);
  const outRowBytes = 4 * co * outWidth;
  const sums = job.sums + 4 * part * planes * ci * co;
  for (let first = firstRow; first < endRow; first += blockRows) {
    const rows = Math.min(blockRows, endRow - first);
    forEachTileRow(first, rows, outHeight, m, (r, image, y) => {
      transformInputRow(
        transformInput,
        heap,
        job,
        image,
        y,
        inputTiles + 4 * r * tilesPerRow * ci,
        4 * blockTiles * ci,
        staging,
      );
      transformGradient(
        gradient + (image * outHeight + y) * outRowBytes,
        outRowBytes,
        4 * co,
        gradientTiles + 4 * r * tilesPerRow * co,
        4 * blockTiles * co,
        tilesPerRow,
        co / 4,
      );
    });
    for (let plane = 0; plane < planes; plane++) {
      forEachColumnGroup(products, co, (product, column) =>
        product(
          inputTiles + 4 * plane * blockTiles * ci,
          4 * ci,
          4,
          gradientTiles + 4 * (plane * blockTiles * co + column),
          4 * co,
          sums + 4 * (plane * ci * co + column),
          4 * co,
          ci / 2,
          rows * tilesPerRow,
        ),
      );
    }
  }
}
