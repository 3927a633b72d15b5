import { type FileHandle, open } from 'node:fs/promises';
import { magicbytes } from 'flatgeobuf/lib/mjs/constants.js';
import { buildFeature } from 'flatgeobuf/lib/mjs/generic/feature.js';
import { parseGeometry } from 'flatgeobuf/lib/mjs/geojson/geometry.js';
import type { HeaderMeta } from 'flatgeobuf/lib/mjs/header-meta.js';
import type { Polygon } from 'geojson';
import type { ClassMap } from '../labels/classMap.js';
import { geoJsonCrs, polygonCrsEpsg, polygonsToMap } from './mapPolygons.js';
import type { MaskPolygon } from './maskToPolygons.js';
import { FLATGEOBUF_COLUMNS, flatGeobufHeader, type MapPlacement } from './writeFlatGeobuf.js';
import { labelName, polygonFeature } from './writePolygons.js';

/** The polygon files written feature by feature: GeoJSON, or FlatGeobuf. */
export const STREAMED_POLYGON_FORMATS = ['geojson', 'flatgeobuf'] as const;
export type StreamedPolygonFormat = (typeof STREAMED_POLYGON_FORMATS)[number];

/** Where and how {@link PolygonStreamWriter} writes. */
export interface PolygonStreamOutput {
  path: string;
  format: StreamedPolygonFormat;
  /** Names the classes (the `class` property) and gives the ignore value, which is not traced. */
  classMap: ClassMap;
  /** Map coordinates in the chosen CRS; pixel coordinates without. */
  placement?: MapPlacement;
}

// Bytes gathered before a write: few system calls, little memory.
const FLUSH_BYTES = 1 << 22;

/**
 * Writes polygons to a file as they come, holding none: the same features, in the same coordinates and CRS,
 * as `writeMapPolygons` (GeoJSON in map coordinates), `writePolygonLabels` (GeoJSON in pixel coordinates) and
 * `writePolygonFlatGeobuf` write for the whole set, in the order given. A FlatGeobuf file's header comes first,
 * so it says that its feature count is not known (0), as the format allows for streamed files; readers count
 * the features as they read them.
 *
 * @example
 * ```ts
 * const writer = await PolygonStreamWriter.create({ path: 'out/survey.fgb', format: 'flatgeobuf', classMap, placement });
 * await writer.write(polygonizer.addRows(rows));
 * await writer.write(polygonizer.finish());
 * const features = await writer.close();
 * ```
 */
export class PolygonStreamWriter {
  readonly #file: FileHandle;
  readonly #output: PolygonStreamOutput;
  readonly #epsg: number;
  readonly #names = new Map<number, string>();
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #features = 0;

  private constructor(file: FileHandle, output: PolygonStreamOutput) {
    this.#file = file;
    this.#output = output;
    this.#epsg = output.placement ? polygonCrsEpsg(output.placement.georeference, output.placement.crs) : 0;
  }

  /** Creates (or replaces) the file and writes what comes before the features. */
  static async create(output: PolygonStreamOutput): Promise<PolygonStreamWriter> {
    const writer = new PolygonStreamWriter(await open(output.path, 'w'), output);
    if (output.format === 'flatgeobuf') {
      writer.#add(magicbytes);
      writer.#add(flatGeobufHeader(writer.#epsg, 0));
    } else {
      const crs = writer.#output.placement ? geoJsonCrs(writer.#epsg) : undefined;
      writer.#add(`{"type":"FeatureCollection",${crs ? `"crs":${JSON.stringify(crs)},` : ''}"features":[`);
    }
    return writer;
  }

  /** Features written so far. */
  get features(): number {
    return this.#features;
  }

  /** Appends the polygons' features. */
  async write(polygons: readonly MaskPolygon[]): Promise<void> {
    const { placement, format } = this.#output;
    const placed = placement ? polygonsToMap(polygons, placement.georeference, this.#epsg) : polygons;
    for (const { classId, rings } of placed) {
      const feature = polygonFeature(rings, this.#nameOf(classId));
      if (format === 'flatgeobuf') {
        this.#add(
          buildFeature(
            parseGeometry(feature.geometry as Polygon),
            feature.properties as Record<string, string>,
            {
              columns: FLATGEOBUF_COLUMNS,
            } as HeaderMeta,
          ),
        );
      } else {
        this.#add(`${this.#features > 0 ? ',' : ''}${JSON.stringify(feature)}`);
      }
      this.#features++;
    }
    if (this.#pendingBytes >= FLUSH_BYTES) await this.#flush();
  }

  /** Ends the file and closes it; returns the number of features written. */
  async close(): Promise<number> {
    try {
      if (this.#output.format === 'geojson') this.#add(']}\n');
      await this.#flush();
    } finally {
      await this.#file.close();
    }
    return this.#features;
  }

  /** Closes the file without ending it, after a failure elsewhere. */
  async abandon(): Promise<void> {
    await this.#file.close();
  }

  #nameOf(classId: number): string {
    let name = this.#names.get(classId);
    if (name === undefined) this.#names.set(classId, (name = labelName(this.#output.classMap, classId)));
    return name;
  }

  #add(chunk: Uint8Array | string): void {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
  }

  async #flush(): Promise<void> {
    if (this.#pendingBytes === 0) return;
    const bytes = Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    for (let offset = 0; offset < bytes.length; )
      offset += (await this.#file.write(bytes, offset, bytes.length - offset)).bytesWritten;
  }
}
