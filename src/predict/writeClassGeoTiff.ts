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

/** TIFF field types: ASCII (1 byte a character), SHORT (2 bytes), LONG (4) and DOUBLE (8). */
const FIELD = {
  ascii: { type: 2, bytes: 1 },
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
/** GDAL's private tag: XML of band descriptions, scales and offsets, which gdalinfo and QGIS show. */
const GDAL_METADATA_TAG = 42112;
const COMPRESSION_DEFLATE = 8;
/** Bytes of uncompressed rows per strip: GDAL's choice for deflate is about as small. */
const STRIP_BYTES = 64 * 1024;
/** The largest offset a classic TIFF holds (32 bits). */
const CLASSIC_TIFF_LIMIT = 2 ** 32 - 1;

/** The sample types {@link GeoTiffStripWriter} writes: bytes, or 32-bit floats. */
export const GEOTIFF_SAMPLE_TYPES = ['uint8', 'float32'] as const;
export type GeoTiffSampleType = (typeof GEOTIFF_SAMPLE_TYPES)[number];
/** Per sample type: the array its rows come in, bits per sample, and TIFF SampleFormat (1 unsigned, 3 float). */
const SAMPLE_TYPES = {
  uint8: { array: Uint8Array, bits: 8, format: 1 },
  float32: { array: Float32Array, bits: 32, format: 3 },
} as const;

/** What a {@link GeoTiffStripWriter} writes: size, bands and their sample type, placement and band metadata. */
export interface GeoTiffLayout {
  width: number;
  height: number;
  /** [1] Samples per pixel, interleaved in the rows given. */
  bands?: number;
  /** ['uint8'] */
  sampleType?: GeoTiffSampleType;
  /** Places the raster; without it the TIFF has no georeference. */
  georeference?: GeoReference;
  /** A description per band (GDAL shows them as band names). */
  bandNames?: readonly string[];
  /** What one unit of a sample is worth (GDAL's band scale: value = sample x scale). */
  scale?: number;
  /** [about 64 KiB of samples, see `stripRows`] Rows per strip. */
  rowsPerStrip?: number;
}

/**
 * Rows per strip of a GeoTIFF whose rows take `rowBytes` bytes, `height` high: about 64 KiB a strip. The parts
 * of a raster predicted in shards keep the whole raster's strips, so `merge` copies them unchanged.
 */
const stripRows = (rowBytes: number, height: number): number =>
  Math.max(1, Math.min(height, Math.floor(STRIP_BYTES / rowBytes)));

/** Rows per strip of a one-band class raster (a byte a pixel) `width` x `height`. */
export const classStripRows = (width: number, height: number): number => stripRows(width, height);

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

function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** GDAL_METADATA's XML: each band's description and, with a scale, its scale and offset 0; undefined when there are none. */
function gdalMetadataXml(
  bands: number,
  bandNames: readonly string[] = [],
  scale?: number,
): string | undefined {
  const items = Array.from({ length: bands }, (_, band) => [
    ...(bandNames[band] !== undefined
      ? // Escaped twice, as GDAL writes and reads values (an `&` escaped once cuts its description short).
        [
          `<Item name="DESCRIPTION" sample="${band}" role="description">${escapeXml(escapeXml(bandNames[band]))}</Item>`,
        ]
      : []),
    ...(scale !== undefined
      ? [
          `<Item name="SCALE" sample="${band}" role="scale">${scale}</Item>`,
          `<Item name="OFFSET" sample="${band}" role="offset">0</Item>`,
        ]
      : []),
  ]).flat();
  return items.length > 0 ? `<GDALMetadata>${items.join('')}</GDALMetadata>` : undefined;
}

/**
 * A GeoTIFF of one or more bands of bytes or floats written row by row: each strip of rows (bands
 * interleaved) is deflated and written as soon as it is complete, and the directory (strip offsets,
 * georeference tags, GeoKeys, band names) goes at the end, so a raster far larger than memory can be written
 * while it is predicted. Classic TIFF, readable by GDAL, QGIS and geotiff.js. `predict` writes its class
 * raster (one band of class ids) and its probabilities (a band per class) with it.
 *
 * @example
 * ```ts
 * const writer = await GeoTiffStripWriter.create('out/scene.classes.tif', { width, height, georeference });
 * for (const rows of bandsOfRows) await writer.writeRows(rows); // whole rows, top to bottom
 * await writer.close();
 * ```
 */
export class GeoTiffStripWriter {
  private readonly rowsPerStrip: number;
  private readonly rowBytes: number;
  private readonly strip: Uint8Array;
  private stripFill = 0;
  private rowsWritten = 0;
  private offset = 8;
  private readonly stripOffsets: number[] = [];
  private readonly stripByteCounts: number[] = [];

  private constructor(
    readonly path: string,
    private readonly file: FileHandle,
    private readonly layout: Required<Pick<GeoTiffLayout, 'width' | 'height' | 'bands' | 'sampleType'>> &
      GeoTiffLayout,
  ) {
    const { width, height, bands, sampleType } = layout;
    this.rowBytes = width * bands * (SAMPLE_TYPES[sampleType].bits / 8);
    this.rowsPerStrip = layout.rowsPerStrip ?? stripRows(this.rowBytes, height);
    this.strip = new Uint8Array(this.rowsPerStrip * this.rowBytes);
  }

  /** Creates the file (replacing one there) for the raster `layout` describes. @throws RangeError for a size or band count that is not a whole number >= 1. */
  static async create(path: string, layout: GeoTiffLayout): Promise<GeoTiffStripWriter> {
    const { width, height, bands = 1, sampleType = 'uint8' } = layout;
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
      throw new RangeError(`${path}: a GeoTIFF needs a size of whole pixels, got ${width}x${height}`);
    if (!Number.isInteger(bands) || bands < 1)
      throw new RangeError(`${path}: a GeoTIFF needs a whole number of bands >= 1, got ${bands}`);
    const { rowsPerStrip } = layout;
    if (rowsPerStrip !== undefined && (!Number.isInteger(rowsPerStrip) || rowsPerStrip < 1))
      throw new RangeError(`${path}: rows per strip must be a whole number >= 1, got ${rowsPerStrip}`);
    if (!(sampleType in SAMPLE_TYPES))
      throw new RangeError(
        `${path}: sample type must be one of ${GEOTIFF_SAMPLE_TYPES.join(', ')}, got ${JSON.stringify(sampleType)}`,
      );
    const file = await open(path, 'w');
    // Byte order II (little-endian), 42, and the directory's offset, written once it is known.
    await file.write(new Uint8Array([0x49, 0x49, 42, 0, 0, 0, 0, 0]), 0, 8, 0);
    return new GeoTiffStripWriter(path, file, { ...layout, bands, sampleType });
  }

  /**
   * Appends the next strip as it is, already deflated (a strip of a file with the same strip rows, such as a
   * part of this raster predicted by a shard): the same bytes a `writeRows` of its rows would write.
   */
  async writeStrip(deflated: Uint8Array): Promise<void> {
    const { height } = this.layout;
    if (this.stripFill > 0 || this.rowsWritten === height)
      throw new RangeError(
        `${this.path}: a whole strip goes after whole strips only (${this.rowsWritten} of ${height} rows written)`,
      );
    await this.appendStrip(deflated);
    this.rowsWritten += Math.min(this.rowsPerStrip, height - this.rowsWritten);
  }

  /**
   * Appends whole rows (a multiple of width x bands samples, bands interleaved), below those written before,
   * in the array of the writer's sample type (Uint8Array or Float32Array; floats go to the file in the
   * machine's byte order, little-endian as the header says on every machine this runs on).
   */
  async writeRows(samples: Uint8Array | Float32Array): Promise<void> {
    const { width, height, bands, sampleType } = this.layout;
    if (!(samples instanceof SAMPLE_TYPES[sampleType].array))
      throw new TypeError(
        `${this.path}: rows of ${sampleType} samples come as a ${SAMPLE_TYPES[sampleType].array.name}`,
      );
    const rows = samples.length / (width * bands);
    if (!Number.isInteger(rows) || this.rowsWritten + rows > height) {
      throw new RangeError(
        `${this.path}: ${samples.length} values are not whole rows of ${width} x ${bands} within the ${height - this.rowsWritten} rows left`,
      );
    }
    const bytes = new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength);
    let at = 0;
    while (at < bytes.length) {
      const take = Math.min(this.strip.length - this.stripFill, bytes.length - at);
      this.strip.set(bytes.subarray(at, at + take), this.stripFill);
      this.stripFill += take;
      at += take;
      if (this.stripFill === this.strip.length) await this.flushStrip();
    }
    this.rowsWritten += rows;
  }

  /** Writes the last strip and the directory, and closes the file. @throws RangeError when rows are missing. */
  async close(): Promise<void> {
    try {
      if (this.rowsWritten !== this.layout.height)
        throw new RangeError(`${this.path}: ${this.rowsWritten} of ${this.layout.height} rows written`);
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
    const { width, height, bands, sampleType, georeference, bandNames, scale } = this.layout;
    const perBand = (value: number): number[] => new Array<number>(bands).fill(value);
    const fields: Field[] = [
      { tag: 256, kind: FIELD.long, values: [width] },
      { tag: 257, kind: FIELD.long, values: [height] },
      { tag: 258, kind: FIELD.short, values: perBand(SAMPLE_TYPES[sampleType].bits) },
      { tag: 259, kind: FIELD.short, values: [COMPRESSION_DEFLATE] },
      { tag: 262, kind: FIELD.short, values: [1] }, // BlackIsZero
      { tag: 273, kind: FIELD.long, values: this.stripOffsets },
      { tag: 277, kind: FIELD.short, values: [bands] },
      { tag: 278, kind: FIELD.long, values: [this.rowsPerStrip] },
      { tag: 279, kind: FIELD.long, values: this.stripByteCounts },
      { tag: 284, kind: FIELD.short, values: [1] }, // chunky
      { tag: 339, kind: FIELD.short, values: perBand(SAMPLE_TYPES[sampleType].format) },
    ];
    // Bands past the first of a grey image are extra samples of no stated meaning (0), as libtiff expects.
    if (bands > 1) fields.push({ tag: 338, kind: FIELD.short, values: perBand(0).slice(1) });
    if (georeference) {
      const tags = geoTiffTags(georeference);
      for (const name of ['ModelPixelScale', 'ModelTiepoint', 'ModelTransformation'] as const) {
        const values = tags[name] as number[] | undefined;
        if (values) fields.push({ tag: GEO_TAG_IDS[name], kind: FIELD.double, values });
      }
      fields.push({ tag: GEO_TAG_IDS.GeoKeyDirectory, kind: FIELD.short, values: geoKeyDirectory(tags) });
    }
    const metadata = gdalMetadataXml(bands, bandNames, scale);
    if (metadata !== undefined)
      fields.push({
        tag: GDAL_METADATA_TAG,
        kind: FIELD.ascii,
        values: [...Buffer.from(`${metadata}\0`, 'utf8')],
      });
    fields.sort((a, b) => a.tag - b.tag);
    if (this.offset % 2 === 1) await this.append(new Uint8Array(1)); // the directory starts on a word boundary
    const start = this.offset;
    const entriesBytes = 2 + 12 * fields.length + 4;
    // Values outside the entries start on word boundaries, as TIFF asks.
    const outsideBytes = ({ kind, values }: Field): number => {
      const bytes = kind.bytes * values.length;
      return bytes > 4 ? bytes + (bytes % 2) : 0;
    };
    const outside = fields.reduce((sum, field) => sum + outsideBytes(field), 0);
    const bytes = new Uint8Array(entriesBytes + outside);
    const view = new DataView(bytes.buffer);
    view.setUint16(0, fields.length, true);
    let valueAt = entriesBytes; // relative to the directory's start; the next-directory offset (0) sits before it
    const put = (at: number, { kind, values }: Field): void => {
      values.forEach((value, i) => {
        const where = at + i * kind.bytes;
        if (kind === FIELD.ascii) view.setUint8(where, value);
        else if (kind === FIELD.short) view.setUint16(where, value, true);
        else if (kind === FIELD.long) view.setUint32(where, value, true);
        else view.setFloat64(where, value, true);
      });
    };
    fields.forEach((field, i) => {
      const entry = 2 + 12 * i;
      view.setUint16(entry, field.tag, true);
      view.setUint16(entry + 2, field.kind.type, true);
      view.setUint32(entry + 4, field.values.length, true);
      if (outsideBytes(field) === 0) {
        put(entry + 8, field);
        return;
      }
      view.setUint32(entry + 8, start + valueAt, true);
      put(valueAt, field);
      valueAt += outsideBytes(field);
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
  const writer = await GeoTiffStripWriter.create(path, {
    width: mask.width,
    height: mask.height,
    georeference,
  });
  await writer.writeRows(mask.data);
  await writer.close();
}
