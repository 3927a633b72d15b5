import { writeFile } from 'node:fs/promises';

/** Typed arrays that map to a NumPy dtype. */
export type NpyArray = Uint8Array | Int32Array | Float32Array;

const DTYPES = new Map<string, string>([
  ['Uint8Array', '|u1'],
  ['Int32Array', '<i4'],
  ['Float32Array', '<f4'],
]);

/**
 * Encodes an array in NumPy's `.npy` format, version 1.0: magic `\x93NUMPY`, version, a little-endian
 * header length, a Python-dict header padded with spaces to a multiple of 64 bytes and ending in a newline,
 * then the raw C-order data (little-endian, as every machine this runs on).
 */
export function encodeNpy(data: NpyArray, shape: readonly number[]): Buffer {
  const descr = DTYPES.get(data.constructor.name);
  if (descr === undefined) throw new TypeError(`encodeNpy: unsupported array type ${data.constructor.name}`);
  const count = shape.reduce((product, dim) => product * dim, 1);
  if (shape.some((dim) => !Number.isInteger(dim) || dim < 0) || count !== data.length) {
    throw new RangeError(`encodeNpy: shape ${JSON.stringify(shape)} does not hold ${data.length} values`);
  }
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const prefixLength = 10; // magic (6) + version (2) + header length (2)
  const padded = Math.ceil((prefixLength + dict.length + 1) / 64) * 64;
  const header = dict + ' '.repeat(padded - prefixLength - dict.length - 1) + '\n';
  const prefix = Buffer.alloc(prefixLength);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([
    prefix,
    Buffer.from(header, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  ]);
}

/** Writes an array as a `.npy` file. */
export async function writeNpy(path: string, data: NpyArray, shape: readonly number[]): Promise<void> {
  await writeFile(path, encodeNpy(data, shape));
}
