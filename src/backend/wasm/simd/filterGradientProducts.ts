import {
  addLocal,
  addTo,
  f32x4,
  f32x4Const,
  type HeapFunctionSource,
  op,
  simd,
  v128Load,
  v128Load32Splat,
  v128Store,
} from './heapFunctions.js';

/**
 * The matrix products of the wasm filter gradient (Conv2DBackpropFilter): for every filter tap, the sum over
 * the output pixels of x's channels at the tap times dy's channels. Loads no TF.js: the helper threads that
 * run parts of the channel pairs import it too.
 */

/** Output pixels per block (of one row): the block of dy and of x that every tap and channel pair reads stays in L1 or L2 (64 was fastest from 16 to 2048, at 3 to 256 channels). */
const PRODUCT_BLOCK_CELLS = 64;

/**
 * `accumulateProduct<V>(a, aStep, aStride, b, bStride, c, cStride, pairs, cells)`: for each of `pairs`
 * pairs of rows of A and C, adds to the row's 4V floats of C the sum over `cells` cells k of A[row, k] *
 * B[k, 0:4V]. Byte steps: aStep from cell to cell of A, aStride from row to row of A, bStride from cell to
 * cell of B, cStride from row to row of C. The 2 x V vectors of C stay in registers over k.
 */
function accumulateProductSource(vectors: number, overwrite: boolean): HeapFunctionSource {
  // Parameters a 0, aStep 1, aStride 2, b 3, bStride 4, c 5, cStride 6, pairs 7, cells 8; i32 locals: A's
  // two row pointers 9 and 10, B pointer 11, cells left 12, C's second row 13; v128 locals: accumulators,
  // B's vectors, a splat.
  const accumulator = (row: number, j: number): number => 14 + row * vectors + j;
  const fromB = (j: number): number => 14 + 2 * vectors + j;
  const splat = 14 + 3 * vectors;
  const columns = Array.from({ length: vectors }, (_, j) => j);
  const code = [...op.block, ...op.loop, op.localGet, 7, op.i32Eqz, op.brIf, 1];
  code.push(op.localGet, 5, op.localGet, 6, op.i32Add, op.localSet, 13);
  const start = (row: number, j: number) =>
    overwrite ? f32x4Const(0) : [op.localGet, row === 0 ? 5 : 13, ...v128Load(16 * j)];
  for (const j of columns)
    code.push(...start(0, j), op.localSet, accumulator(0, j), ...start(1, j), op.localSet, accumulator(1, j));
  code.push(
    op.localGet,
    0,
    op.localSet,
    9,
    op.localGet,
    0,
    op.localGet,
    2,
    op.i32Add,
    op.localSet,
    10,
    op.localGet,
    3,
    op.localSet,
    11,
    op.localGet,
    8,
    op.localSet,
    12,
  );
  code.push(...op.block, ...op.loop, op.localGet, 12, op.i32Eqz, op.brIf, 1);
  for (const j of columns) code.push(op.localGet, 11, ...v128Load(16 * j), op.localSet, fromB(j));
  for (const row of [0, 1]) {
    code.push(op.localGet, 9 + row, ...v128Load32Splat(0), op.localSet, splat);
    for (const j of columns)
      code.push(
        op.localGet,
        accumulator(row, j),
        op.localGet,
        splat,
        op.localGet,
        fromB(j),
        ...simd(f32x4.mul),
        ...simd(f32x4.add),
        op.localSet,
        accumulator(row, j),
      );
  }
  code.push(
    ...addLocal(9, 1),
    ...addLocal(10, 1),
    ...addLocal(11, 4),
    ...addTo(12, -1),
    op.br,
    0,
    op.end,
    op.end,
  );
  for (const j of columns)
    code.push(
      op.localGet,
      5,
      op.localGet,
      accumulator(0, j),
      ...v128Store(16 * j),
      op.localGet,
      13,
      op.localGet,
      accumulator(1, j),
      ...v128Store(16 * j),
    );
  code.push(
    ...addLocal(0, 2),
    ...addLocal(0, 2),
    ...addLocal(5, 6),
    ...addLocal(5, 6),
    ...addTo(7, -1),
    op.br,
    0,
    op.end,
    op.end,
  );
  return {
    name: `${overwrite ? 'matrixProduct' : 'accumulateProduct'}${vectors}`,
    params: 9,
    i32Locals: 5,
    v128Locals: 3 * vectors + 1,
    code,
  };
}

/** accumulateProduct for 1 to 4 vectors of C per row (16 channels at most per call). */
export const ACCUMULATE_PRODUCT = [1, 2, 3, 4].map((vectors) => accumulateProductSource(vectors, false));
/** The same products written over C instead of added to it (`matrixProduct<V>`, same parameters). */
export const MATRIX_PRODUCT = [1, 2, 3, 4].map((vectors) => accumulateProductSource(vectors, true));

/**
 * Calls `visit(product, column)` for each group of up to 16 of `channels` columns (a multiple of 4), with
 * the instance of ACCUMULATE_PRODUCT or MATRIX_PRODUCT (`products`, 1 to 4 vectors) that fits the group.
 */
export function forEachColumnGroup(
  products: ReadonlyArray<(...args: number[]) => void>,
  channels: number,
  visit: (product: (...args: number[]) => void, column: number) => void,
): void {
  for (let column = 0; column < channels; column += 16)
    visit(products[Math.min(4, (channels - column) / 4) - 1]!, column);
}

/** One filter gradient's products: byte addresses in wasm memory and the layout of the grid they span. */
export interface FilterGradientProducts {
  /**
   * x split into stride phases, [sh, sw, images, gridRows, gridCols, pairedChannels]: zero-padded (padTop
   * and padLeft 0), or, for stride 1, x itself with its padding given by padTop and padLeft.
   */
  operands: number;
  /** dy: [images, outHeight, outWidth, channels]. */
  gradient: number;
  /** The zeroed sums: [kh, kw, pairedChannels, channels]. */
  sums: number;
  images: number;
  outHeight: number;
  outWidth: number;
  gridRows: number;
  gridCols: number;
  strideHeight: number;
  strideWidth: number;
  filterHeight: number;
  filterWidth: number;
  /** x's channels, even (a zero channel completes an odd count). */
  pairedChannels: number;
  /** dy's channels, a multiple of 4. */
  channels: number;
  /** Rows and columns of zeros before the grid that the taps reach but the grid does not hold. */
  padTop: number;
  padLeft: number;
}

/** The fields of FilterGradientProducts in the order a helper thread reads them. */
export const PRODUCT_FIELDS = [
  'operands',
  'gradient',
  'sums',
  'images',
  'outHeight',
  'outWidth',
  'gridRows',
  'gridCols',
  'strideHeight',
  'strideWidth',
  'filterHeight',
  'filterWidth',
  'pairedChannels',
  'channels',
  'padTop',
  'padLeft',
] as const;

/**
 * Adds the products of channel pairs [firstPair, endPair) to the sums: per block of up to
 * PRODUCT_BLOCK_CELLS cells of an output row, per group of up to 16 channels of dy, per tap, with
 * `accumulate[V - 1]` the instance of ACCUMULATE_PRODUCT[V - 1]. Tap (r, c) of output (i, j) is cell
 * (i + r div sh - padTop, j + c div sw - padLeft) of phase (r mod sh, c mod sw); the cells outside the grid
 * are zeros and are skipped: rows whole, columns by narrowing the block.
 */
export function runFilterGradientProducts(
  accumulate: ReadonlyArray<(...args: number[]) => void>,
  job: FilterGradientProducts,
  firstPair: number,
  endPair: number,
): void {
  const {
    operands,
    gradient,
    sums,
    images,
    outHeight,
    outWidth,
    gridRows,
    gridCols,
    strideHeight: sh,
    strideWidth: sw,
    filterHeight: kh,
    filterWidth: kw,
    pairedChannels,
    channels,
    padTop,
    padLeft,
  } = job;
  const cellBytes = 4 * pairedChannels;
  const phaseCells = images * gridRows * gridCols;
  for (let row = 0; row < images * outHeight; row++) {
    const image = Math.floor(row / outHeight);
    for (let first = 0; first < outWidth; first += PRODUCT_BLOCK_CELLS) {
      const last = Math.min(first + PRODUCT_BLOCK_CELLS, outWidth);
      forEachColumnGroup(accumulate, channels, (product, column) => {
        for (let r = 0; r < kh; r++) {
          const gridRow = (row % outHeight) + Math.floor(r / sh) - padTop;
          if (gridRow < 0 || gridRow >= gridRows) continue;
          for (let c = 0; c < kw; c++) {
            const shift = Math.floor(c / sw) - padLeft;
            const start = Math.max(first, -shift);
            const end = Math.min(last, gridCols - shift);
            if (end <= start) continue;
            const cell =
              ((r % sh) * sw + (c % sw)) * phaseCells +
              (image * gridRows + gridRow) * gridCols +
              start +
              shift;
            product(
              operands + cellBytes * cell + 8 * firstPair,
              cellBytes,
              4,
              gradient + 4 * ((row * outWidth + start) * channels + column),
              4 * channels,
              sums + 4 * (((r * kw + c) * pairedChannels + 2 * firstPair) * channels + column),
              4 * channels,
              endPair - firstPair,
              end - start,
            );
          }
        }
      });
    }
  }
}
