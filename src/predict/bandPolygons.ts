import { ringArea } from '../labels/rasterize.js';
import type { MaskPolygon, MaskToPolygonsOptions } from './maskToPolygons.js';

/**
 * A 4-connected region of one class seen so far. Regions found apart that turn out to touch are joined by
 * union-find (`joined`); only a root holds the region's pixel count, first pixel, finished rings and corners.
 */
interface Region {
  classId: number;
  joined: Region | undefined;
  pixels: number;
  /** Raster index of its first pixel, to order the polygons closed by one row as `maskToPolygons` orders them. */
  firstPixel: number;
  rings: number[][];
  /** Vertices of `rings`: what an open region holds in memory until it closes. */
  ringVertices: number;
  /** Its diagonal corners, some already linked (dropped when the list doubles, see `addCorner`). */
  corners: DiagonalCorner[];
  /** Length of `corners` at which the linked ones are dropped. */
  cornersCompactAt: number;
  /** Last line on which the region had a pixel below it. */
  seenOnLine: number;
}

/**
 * A vertex where a pixel of one region touches a pixel of another region of the same class only diagonally:
 * each side's run has a chain arriving (tail) and one leaving (head), parked until the two regions are known
 * to be one (they are joined: each tail links to the other side's head, round the outside pixel) or apart
 * (one closes first: each tail links to its own head, round its own pixel). Both regions list it, so
 * whichever decides links both sides at once; `ends` is then dropped.
 */
interface DiagonalCorner {
  regions: [Region, Region];
  /** Tail and head of the first side, then of the second; undefined once linked. */
  ends: [ChainEnd, ChainEnd, ChainEnd, ChainEnd] | undefined;
}

/** A piece of a chain's corners, flat `[x0, y0, ...]`; pieces are linked so that joining chains costs nothing. */
interface Piece {
  corners: number[];
  next: Piece | undefined;
}

/**
 * A path along pixel edges with its region on the +90° side of travel (as `maskToPolygons` walks rings), that
 * is not closed yet: its corners strictly between its two ends, and the ends.
 */
interface Chain {
  first: Piece;
  last: Piece;
  head: ChainEnd;
  tail: ChainEnd;
  region: Region;
}

/** Where a chain begins (head: the direction of its first edge) or ends (tail: the direction of its last edge). */
interface ChainEnd {
  chain: Chain;
  x: number;
  y: number;
  direction: number;
}

// Directions of travel along pixel edges as `maskToPolygons` numbers them: 0 +x, 1 +y (down), 2 -x, 3 -y.
// Around a vertex, the pixels are numbered clockwise on screen, 0 NW, 1 NE, 2 SE, 3 SW, and the edges between
// them 0 up (NW|NE), 1 right (NE|SE), 2 down (SE|SW), 3 left (SW|NW). A run of pixels of one class from s to e
// (clockwise) enters the vertex along edge e, travelling in direction (e + 1) % 4, and leaves along edge
// (s + 3) % 4 in direction (s + 2) % 4. Edges up and left are known from the previous line and vertex; edges
// right and down begin at this vertex.
const UP = 0;
const RIGHT = 1;
const DOWN = 2;
const LEFT = 3;
/**
 * Vertices of finished rings that one open region may hold by default, some 300 MiB: a noisy prediction can
 * grow one region across the whole raster with millions of holes, which are written only with its outer ring.
 */
export const MAX_HELD_VERTICES = 10_000_000;

/** {@link BandPolygonizer}'s options: `maskToPolygons`' and the bound on what an open region holds. */
export interface BandPolygonizerOptions extends MaskToPolygonsOptions {
  /** Vertices of finished rings (holes) an open region may hold before {@link OpenRegionLimitError}. */
  maxHeldVertices?: number;
}

/** An open region holds more vertices of finished rings than the polygonizer's `maxHeldVertices`. */
export class OpenRegionLimitError extends RangeError {}

/** Value of the pixels outside the image: equal to no class. */
const OUTSIDE = -1;

/**
 * Traces the regions of a class mask that arrives band of rows by band of rows into exactly the polygons
 * `maskToPolygons` gives on the whole mask: the same rings (vertices, start and orientation), outer ring
 * first, holes in the same order. A polygon is returned as soon as the row below its region has no pixel of
 * it, so memory holds the last row and the boundaries of the regions still open, never the mask.
 *
 * It walks each line between two rows once, linking the pixel edges met there into chains of the regions on
 * either side; a chain that meets itself is a ring. Where two pixels of one class touch only at a corner and
 * are not (yet) known to be one region, whether they are (the ring turns around the outside pixel, as
 * `maskToPolygons` does) may be decided rows later, so the chains' ends there are parked and linked when the
 * region closes.
 *
 * @example
 * ```ts
 * const polygonizer = new BandPolygonizer(width);
 * for await (const band of bands) write(polygonizer.addRows(band));
 * write(polygonizer.finish());
 * ```
 */
export class BandPolygonizer {
  readonly #width: number;
  readonly #traced: (value: number) => boolean;
  readonly #minArea: number;
  readonly #maxHeldVertices: number;
  #y = 0;
  #finished = false;
  #previous: Int16Array;
  #current: Int16Array;
  #previousRegions: Array<Region | undefined>;
  #currentRegions: Array<Region | undefined>;
  /** At vertex x of the current line: the chain arriving down edge `UP` (tail) and leaving up it (head). */
  readonly #arrivingDown: Array<ChainEnd | undefined>;
  readonly #leavingUp: Array<ChainEnd | undefined>;
  readonly #values = new Int16Array(4);
  readonly #vertex: Vertex = {
    x: 0,
    y: 0,
    arriving: new Array<ChainEnd | undefined>(4),
    leaving: new Array<ChainEnd | undefined>(4),
    nextArriving: undefined,
    nextLeaving: undefined,
  };

  /**
   * @param width pixels per row.
   * @param options background and ignore values (not traced) and `minArea`, as `maskToPolygons` takes them, and
   *   `maxHeldVertices` (default {@link MAX_HELD_VERTICES}).
   */
  constructor(width: number, options: BandPolygonizerOptions = {}) {
    if (!Number.isInteger(width) || width < 1)
      throw new RangeError(`BandPolygonizer: width must be a whole number of pixels >= 1, got ${width}`);
    this.#width = width;
    const background = options.background ?? 0;
    this.#traced = (value) => value !== OUTSIDE && value !== background && value !== options.ignoreValue;
    this.#minArea = options.minArea ?? 0;
    this.#maxHeldVertices = options.maxHeldVertices ?? MAX_HELD_VERTICES;
    this.#previous = new Int16Array(width).fill(OUTSIDE);
    this.#current = new Int16Array(width);
    this.#previousRegions = new Array<Region | undefined>(width);
    this.#currentRegions = new Array<Region | undefined>(width);
    this.#arrivingDown = new Array<ChainEnd | undefined>(width + 1);
    this.#leavingUp = new Array<ChainEnd | undefined>(width + 1);
  }

  /** Rows taken so far. */
  get rows(): number {
    return this.#y;
  }

  /**
   * Takes the next rows of the mask (row-major class ids, a whole number of rows).
   *
   * @returns the polygons of the regions that these rows closed (none of their pixels in the last row).
   * @throws OpenRegionLimitError when a region still open holds over `maxHeldVertices` vertices of finished rings.
   */
  addRows(rows: ArrayLike<number>): MaskPolygon[] {
    if (this.#finished) throw new RangeError('BandPolygonizer: rows added after finish()');
    if (rows.length % this.#width !== 0)
      throw new RangeError(
        `BandPolygonizer: ${rows.length} values are not whole rows of ${this.#width} pixels`,
      );
    const closed: MaskPolygon[] = [];
    for (let start = 0; start < rows.length; start += this.#width) {
      for (let x = 0; x < this.#width; x++) this.#current[x] = rows[start + x]!;
      closed.push(...this.#takeRow());
    }
    return closed;
  }

  /** Ends the mask below the last row added: returns the polygons of the regions still open. */
  finish(): MaskPolygon[] {
    if (this.#finished) return [];
    this.#current.fill(OUTSIDE);
    const closed = this.#takeRow();
    this.#finished = true;
    return closed;
  }

  /** Labels the current row, links the edges of the line above it, and closes the regions it does not reach. */
  #takeRow(): MaskPolygon[] {
    this.#labelRow();
    this.#walkLine();
    const closed = this.#closedRegions();
    [this.#previous, this.#current] = [this.#current, this.#previous];
    [this.#previousRegions, this.#currentRegions] = [this.#currentRegions, this.#previousRegions];
    this.#y++;
    return closed
      .sort((a, b) => a.firstPixel - b.firstPixel)
      .filter((region) => region.pixels >= this.#minArea)
      .map(polygonOf);
  }

  /** Gives each traced pixel of the current row its region, joining regions that this row connects. */
  #labelRow(): void {
    const width = this.#width;
    const row = this.#current;
    const regions = this.#currentRegions;
    for (let x = 0; x < width; x++) {
      const value = row[x]!;
      if (!this.#traced(value)) {
        regions[x] = undefined;
        continue;
      }
      let region = x > 0 && row[x - 1] === value ? regions[x - 1] : undefined;
      if (this.#previous[x] === value) {
        const above = rootOf(this.#previousRegions[x]!);
        region = region ? join(rootOf(region), above) : above;
      }
      region ??= {
        classId: value,
        joined: undefined,
        pixels: 0,
        firstPixel: this.#y * width + x,
        rings: [],
        ringVertices: 0,
        corners: [],
        cornersCompactAt: MIN_CORNERS_COMPACT_AT,
        seenOnLine: -1,
      };
      region = rootOf(region);
      region.pixels++;
      region.seenOnLine = this.#y;
      regions[x] = region;
    }
  }

  /** Links the edges that meet at each vertex of the line above the current row, left to right. */
  #walkLine(): void {
    const width = this.#width;
    const above = this.#previous;
    const below = this.#current;
    const values = this.#values;
    const vertex = this.#vertex;
    vertex.y = this.#y;
    vertex.nextArriving = vertex.nextLeaving = undefined;
    for (let x = 0; x <= width; x++) {
      values[0] = x > 0 ? above[x - 1]! : OUTSIDE;
      values[1] = x < width ? above[x]! : OUTSIDE;
      values[2] = x < width ? below[x]! : OUTSIDE;
      values[3] = x > 0 ? below[x - 1]! : OUTSIDE;
      vertex.x = x;
      vertex.arriving[UP] = this.#arrivingDown[x];
      vertex.leaving[UP] = this.#leavingUp[x];
      vertex.arriving[LEFT] = vertex.nextArriving;
      vertex.leaving[LEFT] = vertex.nextLeaving;
      this.#arrivingDown[x] = this.#leavingUp[x] = vertex.nextArriving = vertex.nextLeaving = undefined;
      if (values[0] === values[1] && values[1] === values[2] && values[2] === values[3]) continue;
      for (let start = 0; start < 4; start++) {
        const value = values[start]!;
        if (!this.#traced(value) || values[(start + 3) % 4] === value) continue;
        let end = start;
        while (values[(end + 1) % 4] === value) end++;
        const region = this.#regionAt(x, start);
        if (start !== end || values[(start + 2) % 4] !== value) {
          this.#linkRun(region, end % 4, (start + 3) % 4);
        } else if (rootOf(region) === rootOf(this.#regionAt(x, (start + 2) % 4))) {
          // Two pixels of one region touching only at this corner: the ring turns round the outside pixel,
          // from this pixel's edge in to the other pixel's edge out.
          this.#linkRun(region, start, (start + 1) % 4);
        } else if (start < 2) {
          // Two pixels of one class touching only at this corner: one region or not, known later (both
          // sides at once, from the first one's start).
          this.#parkCorner(region, this.#regionAt(x, start + 2), start);
        }
      }
    }
  }

  /** The region of pixel `position` (0 NW, 1 NE, 2 SE, 3 SW) around vertex x of the current line. */
  #regionAt(x: number, position: number): Region {
    return position < 2
      ? this.#previousRegions[x - 1 + position]!
      : this.#currentRegions[position === 2 ? x : x - 1]!;
  }

  /**
   * Parks the chain ends of the two one-pixel runs (pixel `start` of `first`, pixel start + 2 of `second`) at a
   * diagonal corner of two regions not yet known to be one, in a corner record that both regions list.
   */
  #parkCorner(first: Region, second: Region, start: number): void {
    const [firstTail, firstHead] = this.#runEnds(first, start);
    const [secondTail, secondHead] = this.#runEnds(second, start + 2);
    const corner: DiagonalCorner = {
      regions: [first, second],
      ends: [firstTail, firstHead, secondTail, secondHead],
    };
    addCorner(rootOf(first), corner);
    addCorner(rootOf(second), corner);
  }

  /** The chain ends of the one-pixel run at `start` at the vertex, arriving and leaving, begun where none are. */
  #runEnds(region: Region, start: number): [ChainEnd, ChainEnd] {
    const outEdge = (start + 3) % 4;
    const tail =
      this.#vertex.arriving[start] ?? this.#newEdgeChain(region, start, (start + 1) % 4, 'arriving').tail;
    const head =
      this.#vertex.leaving[outEdge] ?? this.#newEdgeChain(region, outEdge, (outEdge + 3) % 4, 'leaving').head;
    return [tail, head];
  }

  /**
   * Links the run's edge in (`inEdge`) to its edge out (`outEdge`) at the vertex: joins their chains, extends
   * the one that exists along the new edge, or begins a chain at a corner.
   */
  #linkRun(region: Region, inEdge: number, outEdge: number): void {
    const vertex = this.#vertex;
    const inDirection = (inEdge + 1) % 4;
    const outDirection = (outEdge + 3) % 4;
    const tail = vertex.arriving[inEdge];
    const head = vertex.leaving[outEdge];
    if (tail && head) {
      linkEnds(tail, head, vertex.x, vertex.y);
    } else if (tail) {
      if (tail.direction !== outDirection) tail.chain.last.corners.push(vertex.x, vertex.y);
      this.#moveEnd(tail, outEdge, outDirection, 'leaving');
    } else if (head) {
      if (head.direction !== inDirection)
        head.chain.first = { corners: [vertex.x, vertex.y], next: head.chain.first };
      this.#moveEnd(head, inEdge, inDirection, 'arriving');
    } else {
      const chain = this.#newEdgeChain(region, inEdge, inDirection, 'arriving');
      chain.last.corners.push(vertex.x, vertex.y);
      this.#moveEnd(chain.tail, outEdge, outDirection, 'leaving');
    }
  }

  /** A chain of the one new edge (right or down) that arrives at or leaves the vertex; its far end registered. */
  #newEdgeChain(region: Region, edge: number, direction: number, way: 'arriving' | 'leaving'): Chain {
    const { x, y } = this.#vertex;
    const piece: Piece = { corners: [], next: undefined };
    const chain = { first: piece, last: piece, region } as Chain;
    chain.head = { chain, x, y, direction };
    chain.tail = { chain, x, y, direction };
    this.#moveEnd(way === 'arriving' ? chain.head : chain.tail, edge, direction, way);
    return chain;
  }

  /**
   * Moves a chain end from the vertex to the far end of a new edge (right or down) that the chain now walks,
   * arriving at the vertex along it (a head moving back) or leaving along it (a tail moving on), and registers
   * it where the next vertex or line finds it.
   */
  #moveEnd(end: ChainEnd, edge: number, direction: number, way: 'arriving' | 'leaving'): void {
    const vertex = this.#vertex;
    end.direction = direction;
    if (edge === RIGHT) {
      end.x = vertex.x + 1;
      end.y = vertex.y;
      // Above the line an edge is walked leftwards (its chain leaves the next vertex), below it rightwards.
      if (way === 'arriving') vertex.nextLeaving = end;
      else vertex.nextArriving = end;
    } else if (edge === DOWN) {
      end.x = vertex.x;
      end.y = vertex.y + 1;
      if (way === 'arriving') this.#leavingUp[vertex.x] = end;
      else this.#arrivingDown[vertex.x] = end;
    } else {
      throw new Error(`BandPolygonizer: edge ${edge} at (${vertex.x}, ${vertex.y}) is not a new edge`);
    }
  }

  /**
   * The regions of the previous row that the current row does not reach: complete, their corners with other
   * regions linked as apart.
   */
  #closedRegions(): Region[] {
    const closed: Region[] = [];
    for (const region of this.#previousRegions) {
      if (!region) continue;
      const root = rootOf(region);
      if (root.seenOnLine > this.#y) continue; // closed by this line, listed already
      if (root.seenOnLine === this.#y) {
        if (root.ringVertices > this.#maxHeldVertices)
          throw new OpenRegionLimitError(
            `a region of class ${root.classId} from row ${Math.floor(root.firstPixel / this.#width)} still open at row ${this.#y} holds ${root.ringVertices} vertices of finished rings (holes), over the limit of ${this.#maxHeldVertices}`,
          );
        continue;
      }
      root.seenOnLine = this.#y + 1; // listed once
      for (const corner of root.corners) if (corner.ends) linkCorner(corner, false);
      root.corners = [];
      closed.push(root);
    }
    return closed;
  }
}

/**
 * The vertex being walked: where it is, the chain ends already there by edge (up and left), and the ends on
 * its right edge that the next vertex finds on its left: arriving below the line (a tail), leaving above it
 * (a head).
 */
interface Vertex {
  x: number;
  y: number;
  arriving: Array<ChainEnd | undefined>;
  leaving: Array<ChainEnd | undefined>;
  nextArriving: ChainEnd | undefined;
  nextLeaving: ChainEnd | undefined;
}

function rootOf(region: Region): Region {
  let root = region;
  while (root.joined) root = root.joined;
  while (region.joined && region.joined !== root) [region, region.joined] = [region.joined, root];
  return root;
}

/** Joins two roots into the one with more to carry; returns it. Their shared corners are linked as one region's. */
function join(a: Region, b: Region): Region {
  if (a === b) return a;
  const [into, from] =
    a.rings.length + a.corners.length >= b.rings.length + b.corners.length ? [a, b] : [b, a];
  from.joined = into;
  into.pixels += from.pixels;
  into.firstPixel = Math.min(into.firstPixel, from.firstPixel);
  into.seenOnLine = Math.max(into.seenOnLine, from.seenOnLine);
  for (const ring of from.rings) into.rings.push(ring);
  into.ringVertices += from.ringVertices;
  from.rings = [];
  // A corner shared with `into` is in both lists: found in the shorter, `from`'s.
  for (const corner of from.corners) {
    if (!corner.ends) continue;
    if (rootOf(corner.regions[0]) === rootOf(corner.regions[1])) linkCorner(corner, true);
    else addCorner(into, corner);
  }
  from.corners = [];
  return into;
}

// Corners a region lists before its linked ones are first dropped.
const MIN_CORNERS_COMPACT_AT = 16;

/** Lists the corner in the root's corners, dropping the linked ones when the list reaches twice the live ones. */
function addCorner(root: Region, corner: DiagonalCorner): void {
  if (root.corners.length >= root.cornersCompactAt) {
    root.corners = root.corners.filter((listed) => listed.ends);
    root.cornersCompactAt = Math.max(MIN_CORNERS_COMPACT_AT, 2 * root.corners.length);
  }
  root.corners.push(corner);
}

/**
 * Links a diagonal corner's parked ends: as one region's, each tail to the other side's head (the ring turns
 * away from the region, round the outside pixel, as `maskToPolygons` turns); as two regions', each tail to its
 * own head (round its own pixel).
 */
function linkCorner(corner: DiagonalCorner, oneRegion: boolean): void {
  const [firstTail, firstHead, secondTail, secondHead] = corner.ends!;
  corner.ends = undefined;
  linkEnds(firstTail, oneRegion ? secondHead : firstHead, firstTail.x, firstTail.y);
  linkEnds(secondTail, oneRegion ? firstHead : secondHead, secondTail.x, secondTail.y);
}

/**
 * Links a tail to a head that meet at vertex (x, y): one chain, or a ring when they are the same chain's ends,
 * handed to its region.
 */
function linkEnds(tail: ChainEnd, head: ChainEnd, x: number, y: number): void {
  const chain = tail.chain;
  if (tail.direction !== head.direction) chain.last.corners.push(x, y);
  if (head.chain === chain) {
    const ring: number[] = [];
    for (let piece: Piece | undefined = chain.first; piece; piece = piece.next)
      for (const value of piece.corners) ring.push(value);
    const root = rootOf(chain.region);
    root.rings.push(ring);
    root.ringVertices += ring.length / 2;
    return;
  }
  const next = head.chain;
  chain.last.next = next.first;
  chain.last = next.last;
  chain.tail = next.tail;
  next.tail.chain = chain;
}

/**
 * A complete region's polygon as `maskToPolygons` writes it: each ring ends at the top-left corner of its first
 * top edge in raster order (where `maskToPolygons` starts tracing it), the outer ring first, holes in the raster
 * order of those corners.
 */
function polygonOf(region: Region): MaskPolygon {
  const rings = region.rings.map(startAtFirstTopEdge);
  const outer = rings.findIndex(({ ring }) => ringArea(ring) > 0);
  const holes = rings.filter((_, index) => index !== outer).sort((a, b) => a.y - b.y || a.x - b.x);
  return { classId: region.classId, rings: [rings[outer]!, ...holes].map(({ ring }) => ring) };
}

/** The ring rotated to end at the start of its first rightward edge in raster order, and that corner. */
function startAtFirstTopEdge(ring: number[]): { ring: number[]; x: number; y: number } {
  const n = ring.length;
  let start = -1;
  for (let i = 0; i < n; i += 2) {
    const next = (i + 2) % n;
    if (ring[next + 1] !== ring[i + 1] || ring[next]! < ring[i]!) continue;
    if (
      start === -1 ||
      ring[i + 1]! < ring[start + 1]! ||
      (ring[i + 1] === ring[start + 1] && ring[i]! < ring[start]!)
    )
      start = i;
  }
  const rotated = [...ring.slice(start + 2), ...ring.slice(0, start + 2)];
  return { ring: rotated, x: ring[start]!, y: ring[start + 1]! };
}
