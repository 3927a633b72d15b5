/**
 * Winograd's minimal filtering for the wasm backend's 3x3 stride-1 convolutions (Lavin and Gray, "Fast
 * Algorithms for Convolutional Neural Networks", 2016). F(m x m, 3x3) computes each m x m block of output
 * pixels from its (m + 2) x (m + 2) input window with (m + 2)^2 multiplications per channel pair instead of
 * 9 m^2: F(2x2, 3x3) 16 instead of 36, F(4x4, 3x3) 36 instead of 144. A layer becomes (m + 2)^2 matrix
 * products, one per position of the transformed tiles, of [tiles, Ci] by [Ci, Co], between transforms of
 * the input windows and of the results (additions and a few multiplications by constants). Loads no TF.js:
 * the helper threads run parts of the tile rows with it.
 *
 * Transforms: U = G g G^T for each 3x3 filter g, V = B^T d B for each input window d, output A^T (U . V) A.
 * The filter gradient is the adjoint: with V and Z = A dy A^T for each tile, S = the sum over the tiles of
 * V Z per position ((m + 2)^2 products of [Ci, tiles] by [tiles, Co]), and dW = G^T S G. Four channels per
 * SIMD vector.
 */
export interface WinogradMatrices {
  /** Output block size m. */
  m: number;
  /** G: (m + 2) x 3. */
  filter: number[][];
  /** B^T: (m + 2) x (m + 2). */
  input: number[][];
  /** A^T: m x (m + 2). */
  output: number[][];
}

/** F(2x2, 3x3) at the points 0, 1, -1 (and infinity). */
const F2: WinogradMatrices = {
  m: 2,
  filter: [
    [1, 0, 0],
    [1 / 2, 1 / 2, 1 / 2],
    [1 / 2, -1 / 2, 1 / 2],
    [0, 0, 1],
  ],
  input: [
    [1, 0, -1, 0],
    [0, 1, 1, 0],
    [0, -1, 1, 0],
    [0, 1, 0, -1],
  ],
  output: [
    [1, 1, 1, 0],
    [0, 1, -1, -1],
  ],
};

/** F(4x4, 3x3) at the points 0, 1, -1, 2, -2 (and infinity). */
const F4: WinogradMatrices = {
  m: 4,
  filter: [
    [1 / 4, 0, 0],
    [-1 / 6, -1 / 6, -1 / 6],
    [-1 / 6, 1 / 6, -1 / 6],
    [1 / 24, 1 / 12, 1 / 6],
    [1 / 24, -1 / 12, 1 / 6],
    [0, 0, 1],
  ],
  input: [
    [4, 0, -5, 0, 1, 0],
    [0, -4, -4, 1, 1, 0],
    [0, 4, -4, -1, 1, 0],
    [0, -2, -1, 2, 1, 0],
    [0, 2, -1, -2, 1, 0],
    [0, 4, 0, -5, 0, 1],
  ],
  output: [
    [1, 1, 1, 1, 1, 0],
    [0, 1, -1, 2, -2, 0],
    [0, 1, 1, 4, 4, 0],
    [0, 1, -1, 8, -8, 1],
  ],
};

/** The output block sizes built here, in the order a layer tries them. */
export const WINOGRAD_BLOCK_SIZES = [4, 2] as const;
/** The matrices of each block size of WINOGRAD_BLOCK_SIZES, in its order. */
export const WINOGRAD_MATRICES = [F4, F2];
