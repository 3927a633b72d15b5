import { addTo, f32x4, type HeapFunctionSource, op, simd, v128Load, v128Store } from './heapFunctions.js';

/**
 * `affineChannels(source, target, pixels, groups, constants)`: for each of `pixels` runs of 4 * `groups`
 * floats writes (x - shift) * factor + offset, with per-channel vectors read from `constants`, 48 bytes a
 * group of four channels (shift, factor, offset).
 */
export const AFFINE_CHANNELS: HeapFunctionSource = (() => {
  // Parameters source 0, target 1, pixels 2, groups 3, constants 4; locals: constant pointer 5, groups left 6.
  const code = [...op.block, ...op.loop, op.localGet, 2, op.i32Eqz, op.brIf, 1];
  code.push(op.localGet, 4, op.localSet, 5, op.localGet, 3, op.localSet, 6);
  code.push(...op.block, ...op.loop, op.localGet, 6, op.i32Eqz, op.brIf, 1);
  code.push(
    op.localGet,
    1,
    op.localGet,
    0,
    ...v128Load(0),
    op.localGet,
    5,
    ...v128Load(0),
    ...simd(f32x4.sub),
  );
  code.push(
    op.localGet,
    5,
    ...v128Load(16),
    ...simd(f32x4.mul),
    op.localGet,
    5,
    ...v128Load(32),
    ...simd(f32x4.add),
    ...v128Store(0),
  );
  code.push(...addTo(0, 16), ...addTo(1, 16), ...addTo(5, 48), ...addTo(6, -1), op.br, 0, op.end, op.end);
  code.push(...addTo(2, -1), op.br, 0, op.end, op.end);
  return { name: 'affineChannels', params: 5, i32Locals: 2, v128Locals: 0, code };
})();

/**
 * `affineTwoInputs(dy, x, target, rows, groups, constants)`: writes dy * a + (x - mean) * b + k over `rows`
 * rows of 4 * `groups` channels, per-channel vectors read from `constants`, 64 bytes a group of four
 * channels (mean, a, b, k).
 */
export const AFFINE_TWO_INPUTS: HeapFunctionSource = (() => {
  // Parameters dy 0, x 1, target 2, rows 3, groups 4, constants 5; locals: constant pointer 6, groups left 7.
  const code = [...op.block, ...op.loop, op.localGet, 3, op.i32Eqz, op.brIf, 1];
  code.push(op.localGet, 5, op.localSet, 6, op.localGet, 4, op.localSet, 7);
  code.push(...op.block, ...op.loop, op.localGet, 7, op.i32Eqz, op.brIf, 1);
  code.push(
    op.localGet,
    2,
    op.localGet,
    0,
    ...v128Load(0),
    op.localGet,
    6,
    ...v128Load(16),
    ...simd(f32x4.mul),
  );
  code.push(
    op.localGet,
    1,
    ...v128Load(0),
    op.localGet,
    6,
    ...v128Load(0),
    ...simd(f32x4.sub),
    op.localGet,
    6,
    ...v128Load(32),
    ...simd(f32x4.mul),
  );
  code.push(...simd(f32x4.add), op.localGet, 6, ...v128Load(48), ...simd(f32x4.add), ...v128Store(0));
  code.push(
    ...addTo(0, 16),
    ...addTo(1, 16),
    ...addTo(2, 16),
    ...addTo(6, 64),
    ...addTo(7, -1),
    op.br,
    0,
    op.end,
    op.end,
  );
  code.push(...addTo(3, -1), op.br, 0, op.end, op.end);
  return { name: 'affineTwoInputs', params: 6, i32Locals: 2, v128Locals: 0, code };
})();
