import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { crc32c } from '@aws-crypto/crc32c';
import type { MetricEvent, MetricSink } from './sinkEvents.js';

// TensorBoard reads `events.out.tfevents.*` files: TFRecord frames, each holding one serialized
// tensorflow.Event protobuf. The few message fields we need are encoded by hand below (field numbers from
// tensorflow/core/util/event.proto and tensorflow/core/framework/summary.proto), which is smaller than
// carrying a protobuf runtime and schema for three messages.

/** Protobuf wire types. */
const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

class ProtoWriter {
  private readonly parts: Uint8Array[] = [];

  private key(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  private varint(value: number): void {
    const bytes: number[] = [];
    let v = BigInt(value);
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) byte |= 0x80;
      bytes.push(byte);
    } while (v > 0n);
    this.parts.push(Uint8Array.from(bytes));
  }

  uint(field: number, value: number): this {
    this.key(field, VARINT);
    this.varint(value);
    return this;
  }

  double(field: number, value: number): this {
    this.key(field, FIXED64);
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setFloat64(0, value, true);
    this.parts.push(bytes);
    return this;
  }

  float(field: number, value: number): this {
    this.key(field, FIXED32);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.parts.push(bytes);
    return this;
  }

  bytes(field: number, value: Uint8Array | string): this {
    const data = typeof value === 'string' ? new TextEncoder().encode(value) : value;
    this.key(field, LENGTH_DELIMITED);
    this.varint(data.length);
    this.parts.push(data);
    return this;
  }

  finish(): Uint8Array {
    return Buffer.concat(this.parts);
  }
}

/** TFRecord's masked CRC32C: rotate right by 15 and add a constant, so CRCs of CRCs stay well spread. */
export function maskedCrc32c(data: Uint8Array): number {
  const crc = crc32c(data);
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** Frames one record: length (u64 LE), masked CRC of the length, data, masked CRC of the data. */
export function tfRecordFrame(data: Uint8Array): Uint8Array {
  const frame = Buffer.alloc(8 + 4 + data.length + 4);
  frame.writeBigUInt64LE(BigInt(data.length), 0);
  frame.writeUInt32LE(maskedCrc32c(frame.subarray(0, 8)), 8);
  frame.set(data, 12);
  frame.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return frame;
}

/** A Summary.Value: a scalar (simple_value, field 2) or an image (field 4). */
type SummaryValue =
  | { tag: string; scalar: number }
  | { tag: string; png: Uint8Array; width: number; height: number };

function encodeEvent(
  step: number,
  wallTime: number,
  values: SummaryValue[] | { fileVersion: string },
): Uint8Array {
  const event = new ProtoWriter().double(1, wallTime).uint(2, step);
  if ('fileVersion' in values) return event.bytes(3, values.fileVersion).finish();
  const summary = new ProtoWriter();
  for (const value of values) {
    const encoded = new ProtoWriter().bytes(1, value.tag);
    if ('scalar' in value) encoded.float(2, value.scalar);
    else {
      // Summary.Image: height 1, width 2, colorspace 3 (3 = RGB), encoded_image_string 4.
      const image = new ProtoWriter()
        .uint(1, value.height)
        .uint(2, value.width)
        .uint(3, 3)
        .bytes(4, value.png)
        .finish();
      encoded.bytes(4, image);
    }
    summary.bytes(1, encoded.finish());
  }
  return event.bytes(5, summary.finish()).finish();
}

/** The scalars TensorBoard shows for one event, under tags grouped by section. */
function scalarsOf(event: MetricEvent): { step: number; values: SummaryValue[] } | null {
  const values: SummaryValue[] = [];
  const add = (tag: string, value: number | undefined): void => {
    if (value !== undefined && Number.isFinite(value)) values.push({ tag, scalar: value });
  };
  switch (event.type) {
    case 'batch':
      for (const [name, value] of Object.entries(event.losses)) add(`loss/${name}`, value);
      add('train_running/meanIoU', event.running.meanIoU);
      add('train_running/pixelAccuracy', event.running.pixelAccuracy);
      add('throughput/imagesPerSecond', event.imagesPerSecond);
      add('optimizer/learningRate', event.learningRate);
      add('memory/tensorBytes', event.memory.tensorBytes);
      return { step: event.globalStep, values };
    case 'epoch':
      add('epoch/trainLoss', event.trainLoss);
      add('epoch/train_meanIoU', event.train.meanIoU);
      add('epoch/validationLoss', event.validationLoss);
      add('epoch/validation_meanIoU', event.validation?.meanIoU);
      add('epoch/validation_xview2', event.validation?.xview2?.score);
      for (const c of (event.validation ?? event.train).perClass) add(`iou_per_class/${c.name}`, c.iou);
      return { step: event.globalStep, values };
    default:
      return null;
  }
}

/** Options of {@link tensorboardSink}. */
export interface TensorboardSinkOptions {
  /** Clock for wall times, seconds (tests pin it). */
  now?: () => number;
}

/**
 * Writes TensorBoard event files: scalars per step (losses, running mIoU, throughput, learning rate), epoch
 * metrics with per-class IoU, and the sample predictions as images. Records are appended synchronously so
 * a run killed mid-way leaves a readable file.
 *
 * @example
 * ```ts
 * const sink = tensorboardSink('runs/a/tensorboard'); // then: tensorboard --logdir runs/a/tensorboard
 * ```
 * @param dir Log directory; created when missing.
 */
export function tensorboardSink(
  dir: string,
  options: TensorboardSinkOptions = {},
): MetricSink & { readonly file: string } {
  if (typeof dir !== 'string' || dir.length === 0)
    throw new TypeError(`tensorboardSink: dir must be a directory path, got ${JSON.stringify(dir)}`);
  const now = options.now ?? ((): number => Date.now() / 1000);
  mkdirSync(dir, { recursive: true });
  const started = now();
  const file = join(dir, `events.out.tfevents.${Math.floor(started)}.${hostname()}`);
  const fd = openSync(file, 'a');
  let open = true;
  const append = (data: Uint8Array): void => {
    if (open) writeSync(fd, tfRecordFrame(data));
  };
  append(encodeEvent(0, started, { fileVersion: 'brain.Event:2' }));
  return {
    description: `tensorboard:${dir}`,
    file,
    write(event) {
      if (event.type === 'sample') {
        const png = Buffer.from(event.png, 'base64');
        append(
          encodeEvent(event.globalStep, now(), [
            { tag: `predictions/${event.id}`, png, width: event.width, height: event.height },
          ]),
        );
        return;
      }
      const scalars = scalarsOf(event);
      if (scalars && scalars.values.length > 0) append(encodeEvent(scalars.step, now(), scalars.values));
    },
    close() {
      if (open) {
        open = false;
        fsyncSync(fd);
        closeSync(fd);
      }
      return Promise.resolve();
    },
  };
}
