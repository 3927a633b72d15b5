/** A region of one class as polygon rings along pixel edges: the outer ring first, then its holes. */
export interface MaskPolygon {
  classId: number;
  /**
   * Flat `[x0, y0, x1, y1, ...]` rings in pixel coordinates (integer pixel corners, x right, y down), without
   * a repeated closing vertex, as `rasterizeShapes` takes them. The outer ring has a positive shoelace area
   * (`ringArea`), holes a negative one: counter-clockwise and clockwise when the numbers are read in y-up axes
   * (GeoJSON's right-hand rule), the other way round as seen on screen.
   */
  rings: number[][];
}

/** How `maskToPolygons` reads the mask. */
export interface MaskToPolygonsOptions {
  /** Mask value left out (not traced); none by default. Pass the class map's ignore value for label masks. */
  ignoreValue?: number;
  /** Mask value of the background, not traced (default 0). */
  background?: number;
  /**
   * Regions of fewer pixels are left out (default 0: keep all). Their pixels are covered by no polygon, so they
   * read back as background; a left-out region inside another region's hole leaves the hole in place. To
   * merge small regions into their neighbours instead, sieve the mask first (`sieveMask`).
   */
  minArea?: number;
}

// Directions of travel along pixel edges, numbered so that +1 turns towards the region being traced.
const DX = [1, 0, -1, 0] as const; // 0: +x, 1: +y, 2: -x, 3: -y
const DY = [0, 1, 0, -1] as const;
// Arriving at a vertex in direction d, the pixel ahead on the region's side is at this offset from the
// vertex; the pixel ahead on the other side is at the offset of direction d + 3.
const AHEAD_X = [0, -1, -1, 0] as const;
const AHEAD_Y = [0, 0, -1, -1] as const;

/**
 * Traces the 4-connected regions of each class of a class mask into polygons along pixel edges.
 *
 * Every edge between a region's pixel and a pixel outside the region (or the image border) is on exactly one
 * of its rings, so rasterizing a polygon by the pixel-centre rule (`rasterizeShapes`, even-odd) paints exactly
 * the region's pixels: the mask comes back unchanged. Collinear vertices are merged.
 *
 * Pixels that touch only at a corner are separate regions unless joined by a 4-connected path. Within one
 * region, a ring through such a corner turns around the outside pixel there, so every ring follows the border
 * of one connected piece of the outside: rings are simple (no vertex repeats), and a ring may touch another
 * ring of the same polygon only at a corner, which polygon validity rules (OGC simple features) allow.
 *
 * Cost is linear in the number of pixels (one labelling pass, one tracing pass).
 *
 * @example
 * ```ts
 * const polygons = maskToPolygons(prediction.classes, { ignoreValue: 255, minArea: 4 });
 * for (const { classId, rings } of polygons) console.log(classMap.names[classId], rings.length - 1, 'holes');
 * ```
 * @param mask class ids, row-major, `width * height` values.
 * @param options background (default 0) and ignore values, which are not traced; `minArea` in pixels.
 * @returns one polygon per kept region, in the raster order of each region's first pixel.
 */
export function maskToPolygons(
  mask: { data: Uint8Array | ArrayLike<number>; width: number; height: number },
  options: MaskToPolygonsOptions = {},
): MaskPolygon[] {
  const { data, width, height } = mask;
  if (data.length !== width * height)
    throw new RangeError(`maskToPolygons: ${data.length} values for a ${width}x${height} mask`);
  const background = options.background ?? 0;
  const minArea = options.minArea ?? 0;
  const traced = (value: number): boolean => value !== background && value !== options.ignoreValue;

  const { regionOf, regionPixels } = labelRegions(data, width, height, traced);
  // Region id -> index of its polygon, or -1 while its outer ring is not traced yet.
  const polygonOf = new Int32Array(regionPixels.length).fill(-1);
  const polygons: MaskPolygon[] = [];
  // Top edges already walked: every ring has at least one top edge (pixel of its region below, none above),
  // so starting from each unwalked top edge in raster order finds every ring once, the outer ring first.
  const topEdgeWalked = new Uint8Array(width * height);
  for (let pixel = 0; pixel < width * height; pixel++) {
    const region = regionOf[pixel]!;
    if (region === 0 || regionPixels[region]! < minArea || topEdgeWalked[pixel]) continue;
    if (pixel >= width && regionOf[pixel - width] === region) continue;
    const ring = traceRing(
      regionOf,
      width,
      height,
      region,
      pixel % width,
      Math.floor(pixel / width),
      topEdgeWalked,
    );
    if (polygonOf[region] === -1) {
      polygonOf[region] = polygons.length;
      polygons.push({ classId: data[pixel]!, rings: [ring] });
    } else {
      polygons[polygonOf[region]!]!.rings.push(ring);
    }
  }
  return polygons;
}

/**
 * 4-connected regions of equal traced values: region id per pixel (ids from 1 in the raster order of each
 * region's first pixel, 0 where not traced) and pixels per region (index 0 unused).
 */
export function labelRegions(
  data: ArrayLike<number>,
  width: number,
  height: number,
  traced: (value: number) => boolean,
): { regionOf: Int32Array; regionPixels: number[] } {
  const regionOf = new Int32Array(width * height);
  const regionPixels = [0];
  const stack = new Int32Array(width * height);
  for (let seed = 0; seed < width * height; seed++) {
    const value = data[seed]!;
    if (regionOf[seed] !== 0 || !traced(value)) continue;
    const region = regionPixels.length;
    let pixels = 0;
    let top = 0;
    stack[top++] = seed;
    regionOf[seed] = region;
    while (top > 0) {
      const pixel = stack[--top]!;
      pixels++;
      const x = pixel % width;
      for (let side = 0; side < 4; side++) {
        const next =
          side === 0
            ? x > 0
              ? pixel - 1
              : -1
            : side === 1
              ? x < width - 1
                ? pixel + 1
                : -1
              : side === 2
                ? pixel - width
                : pixel + width;
        if (next >= 0 && next < regionOf.length && regionOf[next] === 0 && data[next] === value) {
          regionOf[next] = region;
          stack[top++] = next;
        }
      }
    }
    regionPixels.push(pixels);
  }
  return { regionOf, regionPixels };
}

/**
 * Walks one ring of `region` along pixel edges with the region on the +90° side of travel, from the top-left
 * corner of pixel (startX, startY) along its top edge, and returns its corners (a vertex where the direction
 * changes). Marks each top edge it walks in `topEdgeWalked`.
 */
function traceRing(
  regionOf: Int32Array,
  width: number,
  height: number,
  region: number,
  startX: number,
  startY: number,
  topEdgeWalked: Uint8Array,
): number[] {
  const inside = (x: number, y: number): boolean =>
    x >= 0 && y >= 0 && x < width && y < height && regionOf[y * width + x] === region;
  const ring: number[] = [];
  let x = startX;
  let y = startY;
  let direction = 0;
  do {
    if (direction === 0) topEdgeWalked[y * width + x] = 1;
    x += DX[direction]!;
    y += DY[direction]!;
    const other = (direction + 3) % 4;
    const regionSide = inside(x + AHEAD_X[direction]!, y + AHEAD_Y[direction]!);
    const otherSide = inside(x + AHEAD_X[other]!, y + AHEAD_Y[other]!);
    // Turn away from the region where its pixel lies ahead on the other side: an inner corner, or a corner
    // shared with a diagonal pixel of the same region, where turning around the outside pixel between them
    // keeps the ring to one piece of the outside. Else go straight along the region or turn round its corner.
    const turn = otherSide ? 3 : regionSide ? 0 : 1;
    if (turn !== 0) {
      ring.push(x, y);
      direction = (direction + turn) % 4;
    }
  } while (x !== startX || y !== startY || direction !== 0);
  return ring;
}
