import fc from 'fast-check';
import type { ClassMask } from '../../src/types.js';

/** Masks of 1 to `maxSide` pixels a side, each pixel one of 2 to 5 classes. */
export const randomMasks = (maxSide: number): fc.Arbitrary<ClassMask> =>
  fc
    .record({
      width: fc.integer({ min: 1, max: maxSide }),
      height: fc.integer({ min: 1, max: maxSide }),
      classes: fc.integer({ min: 2, max: 5 }),
    })
    .chain(({ width, height, classes }) =>
      fc
        .array(fc.integer({ min: 0, max: classes - 1 }), {
          minLength: width * height,
          maxLength: width * height,
        })
        .map((values) => ({ data: Uint8Array.from(values), width, height })),
    );
