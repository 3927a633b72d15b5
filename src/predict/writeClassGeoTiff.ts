import { type FileHandle, open } from 'node:fs/promises';
import { deflateSync } from 'node:zlib';
import type { GeotiffWriterMetadata } from 'geotiff';
import { isGeographicCrs } from '../labels/mapCoordinates.js';
import type { ClassMask, GeoReference } from '../types.js';

/** GeoKey values: GTModelTypeGeoKey 1 projected, 2 geographic; GTRasterTypeGeoKey 1 PixelIsArea. */
const MODEL_PROJECTED = 1;
const MODEL_GEOGRAPHIC = 2;
const RASTER_PIXEL_IS_AREA = 1;

/**
 * The GeoTIFF tags that place a raster where `georeference` says: ModelPixelScale and ModelTiepoint for a
 * north-up transform (what GIS software reads most widely), ModelTransformation for a rotated one, and the
 * GeoKeys naming its EPSG code.
 */
export function geoTiffTags({ transform: t, epsg }: GeoReference): GeotiffWriterMetadata {
  const placement: GeotiffWriterMetadata =
    t[2] === 0 && t[4] === 0 && t[5] < 0
      ? { ModelPixelScale: [t[1], -t[5], 0], ModelTiepoint: [0, 0, 0, t[0], t[3], 0] }
      : { ModelTransformation: [t[1], t[2], 0, t[0], t[4], t[5], 0, t[3], 0, 0, 0, 0, 0, 0, 0, 1] };
  const geographic = isGeographicCrs(epsg);
  return {
    ...placement,
    GTModelTypeGeoKey: geographic ? MODEL_GEOGRAPHIC : MODEL_PROJECTED,
    GTRasterTypeGeoKey: RASTER_PIXEL_IS_AREA,
    ...(geographic ? { GeographicTypeGeoKey: epsg } : { ProjectedCSTypeGeoKey: epsg }),
  };
}

/** TIFF field types: SHORT (2 bytes), LONG (4) and DOUBLE (8). */
const FIELD = {
  short: { type: 3, bytes: 2 },
  long: { type: 4, bytes: 4 },
  double: { type: 12, bytes: 8 },
} as const;
/** The GeoKeys' numbers in the GeoKeyDirectory (GeoTIFF 1.1, section 7.1). */
const GEO_KEY_IDS: Record<string, number> = {
  GTModelTypeGeoKey: 1024,
  GTRasterTypeGeoKey: 1025,
  GeographicTypeGeoKey: 2048,
  ProjectedCSTypeGeoKey: 3072,
};
const GEO_TAG_IDS = {
  ModelPixelScale: 33550,
  ModelTiepoint: 33922,
  ModelTransformation: 34264,
  GeoKeyDirectory: 34735,
} as const;
const COMPRESSION_DEFLATE = 8;
/** Bytes of uncompressed rows per strip: GDAL's choice for deflate is about as small. */
const STRIP_BYTES = 64 * 1024;
/** The largest offset a classic TIFF holds (32 bits). */
const CLASSIC_TIFF_LIMIT = 2 ** 32 - 1;

/**
 * Rows per strip of a class GeoTIFF `width` pixels wide and `height` high: about 64 KiB of class ids. The
 * parts of a raster predicted in shards keep the whole raster's strips, so `merge` copies them unchanged.
 */
export const classStripRows = (width: number, height: number): number =>
  Math.max(1, Math.min(height, Math.floor(STRIP_BYTES / width)));

interface Field {
  tag: number;
  kind: (typeof FIELD)[keyof typeof FIELD];
  values: readonly number[];
}

/** The GeoKeyDirectory of `geoTiffTags`' keys: a header (version 1.1.0, key count), then (id, location 0, count 1, value) per key, by id. */
function geoKeyDirectory(tags: GeotiffWriterMetadata): number[] {
  const keys = Object.entries(GEO_KEY_IDS)
    .filter(([name]) => typeof (tags as Record<string, unknown>)[name] === 'number')
    .map(([name, id]) => [id, (tags as Record<string, number>)[name]!] as const)
    .sort((a, b) => a[0] - b[0]);
  return [1, 1, 0, keys.length, ...keys.flatMap(([id, value]) => [id, 0, 1, value])];
}

/**
 * A one-band 8-bit GeoTIFF of class ids written row by row: each strip of rows is deflated and written as
 * soon as it is complete, and the directory (strip offsets, georeference tags and GeoKeys) goes at the end,
 * so a raster far larger than memory can be written while it is predicted. Classic TIFF, readable by GDAL,
 * QGIS and geotiff.js.
 *
 * @example
 * ```ts
 * const writer = await ClassGeoTiffWriter.create('out/scene.classes.tif', { width, height, georeference });
 * for (const rows of bandsOfRows) await writer.writeRows(rows); // whole rows, top to bottom
 * await writer.close();
 * ```
 */
export class ClassGeoTiffWriter {
  private readonly rowsPerStrip: number;
  private readonly strip: Uint8Array;
  private stripFill = 0;
  private rowsWritten = 0;
  private offset = 8;
  private readonly stripOffsets: number[] = [];
  private readonly stripByteCounts: number[] = [];

  private constructor(
    readonly path: string,
    private readonly file: FileHandle,
    readonly width: number,
    readonly height: number,
    private readonly georeference: GeoReference | undefined,
    rowsPerStrip: number,
  ) {
    this.rowsPerStrip = rowsPerStrip;
    this.strip = new Uint8Array(this.rowsPerStrip * width);
  }

  /**
   * Creates the file (replacing one there) for a raster of `width` x `height`, placed by `georeference` when
   * given, in strips of `rowsPerStrip` rows (default `classStripRows`).
   */
  static async create(
    path: string,
    {
      width,
      height,
      georeference,
      rowsPerStrip = classStripRows(width, height),
    }: { width: number; height: number; georeference?: GeoReference; rowsPerStrip?: number },
  ): Promise<ClassGeoTiffWriter> {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
      throw new RangeError(`${path}: a class GeoTIFF needs a size of whole pixels, got ${width}x${height}`);
    if (!Number.isInteger(rowsPerStrip) || rowsPerStrip < 1)
      throw new RangeError(`${path}: rows per strip must be a whole number >= 1, got ${rowsPerStrip}`);
    const file = await open(path, 'w');
    // Byte order II (little-endian), 42, and the directory's offset, written once it is known.
    await file.write(new Uint8Array([0x49, 0x49, 42, 0, 0, 0, 0, 0]), 0, 8, 0);
    return new ClassGeoTiffWriter(path, file, width, height, georeference, rowsPerStrip);
  }

  /**
   * Appends the next strip as it is, already deflated (a strip of a file with the same strip rows, such as a
   * part of this raster predicted by a shard): the same bytes a `writeRows` of its rows would write.
   */
  async writeStrip(deflated: Uint8Array): Promise<void> {
    if (this.stripFill > 0 || this.rowsWritten === this.height)
      throw new RangeError(
        `${this.path}: a whole strip goes after whole strips only (${this.rowsWritten} of ${this.height} rows written)`,
      );
    await this.appendStrip(deflated);
    this.rowsWritten += Math.min(this.rowsPerStrip, this.height - this.rowsWritten);
  }

  /** Appends whole rows of class ids (a multiple of the width), below those written before. */
  async writeRows(classes: Uint8Array): Promise<void> {
    const rows = classes.length / this.width;
    if (!Number.isInteger(rows) || this.rowsWritten + rows > this.height) {
      throw new RangeError(
        `${this.path}: ${classes.length} values are not whole rows of ${this.width} within the ${this.height - this.rowsWritten} rows left`,
      );
    }
    let at = 0;
    while (at < classes.length) {
      const take = Math.min(this.strip.length - this.stripFill, classes.length - at);
      this.strip.set(classes.subarray(at, at + take), this.stripFill);
      this.stripFill += take;
      at += take;
      if (this.stripFill === this.strip.length) await this.flushStrip();
    }
    this.rowsWritten += rows;
  }

  /** Writes the last strip and the directory, and closes the file. @throws RangeError when rows are missing. */
  async close(): Promise<void> {
    try {
      if (this.rowsWritten !== this.height)
        throw new RangeError(`${this.path}: ${this.rowsWritten} of ${this.height} rows written`);
      if (this.stripFill > 0) await this.flushStrip();
      await this.writeDirectory();
    } finally {
      await this.file.close();
    }
  }

  private async flushStrip(): Promise<void> {
    await this.appendStrip(deflateSync(this.strip.subarray(0, this.stripFill)));
    this.stripFill = 0;
  }

  private async appendStrip(deflated: Uint8Array): Promise<void> {
    await this.append(deflated);
    this.stripOffsets.push(this.offset - deflated.length);
    this.stripByteCounts.push(deflated.length);
  }

  private async append(bytes: Uint8Array): Promise<void> {
    if (this.offset + bytes.length > CLASSIC_TIFF_LIMIT)
      throw new RangeError(`${this.path}: over 4 GiB, too large for a classic TIFF`);
    await this.file.write(bytes, 0, bytes.length, this.offset);
    this.offset += bytes.length;
  }

  /** The image file directory: its entries by tag, then the values that do not fit in an entry's 4 bytes. */
  private async writeDirectory(): Promise<void> {
    const fields: Field[] = [
      { tag: 256, kind: FIELD.long, values: [this.width] },
      { tag: 257, kind: FIELD.long, values: [this.height] },
      { tag: 258, kind: FIELD.short, values: [8] },
      { tag: 259, kind: FIELD.short, values: [COMPRESSION_DEFLATE] },
      { tag: 262, kind: FIELD.short, values: [1] }, // BlackIsZero
      { tag: 273, kind: FIELD.long, values: this.stripOffsets },
      { tag: 277, kind: FIELD.short, values: [1] },
      { tag: 278, kind: FIELD.long, values: [this.rowsPerStrip] },
      { tag: 279, kind: FIELD.long, values: this.stripByteCounts },
      { tag: 284, kind: FIELD.short, values: [1] }, // chunky
      { tag: 339, kind: FIELD.short, values: [1] }, // unsigned integers
    ];
    if (this.georeference) {
      const tags = geoTiffTags(this.georeference);
      for (const name of ['ModelPixelScale', 'ModelTiepoint', 'ModelTransformation'] as const) {
        const values = tags[name] as number[] | undefined;
        if (values) fields.push({ tag: GEO_TAG_IDS[name], kind: FIELD.double, values });
      }
      fields.push({ tag: GEO_TAG_IDS.GeoKeyDirectory, kind: FIELD.short, values: geoKeyDirectory(tags) });
    }
    fields.sort((a, b) => a.tag - b.tag);
    if (this.offset % 2 === 1) await this.append(new Uint8Array(1)); // the directory starts on a word boundary
    const start = this.offset;
    const entriesBytes = 2 + 12 * fields.length + 4;
    const outside = fields.reduce(
      (sum, { kind, values }) => sum + (kind.bytes * values.length > 4 ? kind.bytes * values.length : 0),
      0,
    );
    const bytes = new Uint8Array(entriesBytes + outside);
    const view = new DataView(bytes.buffer);
    view.setUint16(0, fields.length, true);
    let valueAt = entriesBytes; // relative to the directory's start; the next-directory offset (0) sits before it
    const put = (at: number, { kind, values }: Field): void => {
      values.forEach((value, i) => {
        const where = at + i * kind.bytes;
        if (kind === FIELD.short) view.setUint16(where, value, true);
        else if (kind === FIELD.long) view.setUint32(where, value, true);
        else view.setFloat64(where, value, true);
      });
    };
    fields.forEach((field, i) => {
      const entry = 2 + 12 * i;
      view.setUint16(entry, field.tag, true);
      view.setUint16(entry + 2, field.kind.type, true);
      view.setUint32(entry + 4, field.values.length, true);
      if (field.kind.bytes * field.values.length <= 4) {
        put(entry + 8, field);
        return;
      }
      view.setUint32(entry + 8, start + valueAt, true);
      put(valueAt, field);
      valueAt += field.kind.bytes * field.values.length;
    });
    await this.append(bytes);
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, start, true);
    await this.file.write(header, 0, 4, 4);
  }
}

/**
 * Writes a class-index mask as a one-band 8-bit GeoTIFF (pixel value = class id) placed where the source
 * raster lies, so a GIS shows the prediction over its imagery.
 *
 * @example
 * ```ts
 * await writeClassGeoTiff(prediction.classes, image.georeference, 'out/scene.classes.tif');
 * ```
 */
export async function writeClassGeoTiff(
  mask: ClassMask,
  georeference: GeoReference,
  path: string,
): Promise<void> {
  const writer = await ClassGeoTiffWriter.create(path, {
    width: mask.width,
    height: mask.height,
    georeference,
  });
  await writer.writeRows(mask.data);
  await writer.close();
}
