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

/**
 * Masks of up to `maxSide` pixels a side painted with 1 to 12 rectangles of classes 0 to 3, each filled or a
 * frame one or two pixels wide, over one another: regions that span many rows, holes, regions in holes, and
 * frames that touch themselves or others at corners.
 */
export const paintedMasks = (maxSide: number): fc.Arbitrary<ClassMask> =>
  fc
    .record({
      width: fc.integer({ min: 1, max: maxSide }),
      height: fc.integer({ min: 1, max: maxSide }),
      shapes: fc.array(
        fc.record({
          corners: fc.tuple(
            fc.double({ min: 0, max: 1, noNaN: true }),
            fc.double({ min: 0, max: 1, noNaN: true }),
          ),
          size: fc.tuple(
            fc.double({ min: 0, max: 1, noNaN: true }),
            fc.double({ min: 0, max: 1, noNaN: true }),
          ),
          classId: fc.integer({ min: 0, max: 3 }),
          frame: fc.integer({ min: 0, max: 2 }),
        }),
        { minLength: 1, maxLength: 12 },
      ),
    })
    .map(({ width, height, shapes }) => {
      const data = new Uint8Array(width * height);
      for (const { corners, size, classId, frame } of shapes) {
        const left = Math.floor(corners[0] * width);
        const top = Math.floor(corners[1] * height);
        const right = Math.min(width, left + 1 + Math.floor(size[0] * width));
        const bottom = Math.min(height, top + 1 + Math.floor(size[1] * height));
        for (let y = top; y < bottom; y++)
          for (let x = left; x < right; x++) {
            const inFrame = Math.min(x - left, right - 1 - x, y - top, bottom - 1 - y) < frame;
            if (frame === 0 || inFrame) data[y * width + x] = classId;
          }
      }
      return { data, width, height };
    });
