import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import sharp from 'sharp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tensorboardSink } from '../src/sinks/tensorboardSink.js';
import { batchEvent, epochEvent } from './helpers/metricEvents.js';

// The reader below is independent of the writer: its own CRC32C (bitwise, Castagnoli polynomial) and
// protobufjs with the message definitions of tensorflow/core/util/event.proto and framework/summary.proto.
function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
const masked = (crc: number): number => ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;

const root = protobuf.Root.fromJSON({
  nested: {
    Event: {
      fields: {
        wall_time: { type: 'double', id: 1 },
        step: { type: 'int64', id: 2 },
        file_version: { type: 'string', id: 3 },
        summary: { type: 'Summary', id: 5 },
      },
    },
    Summary: { fields: { value: { rule: 'repeated', type: 'Value', id: 1 } } },
    Value: {
      fields: {
        tag: { type: 'string', id: 1 },
        simple_value: { type: 'float', id: 2 },
        image: { type: 'Image', id: 4 },
      },
    },
    Image: {
      fields: {
        height: { type: 'int32', id: 1 },
        width: { type: 'int32', id: 2 },
        colorspace: { type: 'int32', id: 3 },
        encoded_image_string: { type: 'bytes', id: 4 },
      },
    },
  },
});
const Event = root.lookupType('Event');

interface DecodedEvent {
  wall_time: number;
  step?: { toNumber(): number } | number;
  file_version?: string;
  summary?: {
    value: {
      tag: string;
      simple_value?: number;
      image?: { height: number; width: number; encoded_image_string: Uint8Array };
    }[];
  };
}

function readRecords(file: string): DecodedEvent[] {
  const buffer = readFileSync(file);
  const events: DecodedEvent[] = [];
  for (let offset = 0; offset < buffer.length; ) {
    const lengthBytes = buffer.subarray(offset, offset + 8);
    const length = Number(buffer.readBigUInt64LE(offset));
    assert.is(buffer.readUInt32LE(offset + 8), masked(crc32c(lengthBytes)), 'length CRC');
    const data = buffer.subarray(offset + 12, offset + 12 + length);
    assert.is(buffer.readUInt32LE(offset + 12 + length), masked(crc32c(data)), 'data CRC');
    events.push(Event.toObject(Event.decode(data)) as DecodedEvent);
    offset += 12 + length + 4;
  }
  return events;
}

const stepOf = (e: DecodedEvent): number => (typeof e.step === 'number' ? e.step : (e.step?.toNumber() ?? 0));

test('CRC32C of the reader matches the standard check value', () => {
  assert.is(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
});

test('scalars per step, epoch metrics and a prediction image decode from the TFRecord event file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'segstream-tb-'));
  try {
    const sink = tensorboardSink(dir, { now: () => 1700000000 });
    for (let step = 0; step < 3; step++) sink.write(batchEvent(step, 1 / (step + 1)));
    sink.write(epochEvent(0, 3));
    const png = await sharp({
      create: { width: 6, height: 2, channels: 3, background: { r: 200, g: 10, b: 10 } },
    })
      .png()
      .toBuffer();
    sink.write({
      type: 'sample',
      epoch: 0,
      globalStep: 3,
      id: 'tile-a',
      png: png.toString('base64'),
      width: 6,
      height: 2,
    });
    await sink.close();

    const files = readdirSync(dir);
    assert.is(files.length, 1);
    assert.match(files[0]!, /^events\.out\.tfevents\.1700000000\./);
    const events = readRecords(join(dir, files[0]!));
    assert.is(events[0]!.file_version, 'brain.Event:2');
    assert.is(events.length, 1 + 3 + 1 + 1);

    const losses = events
      .slice(1, 4)
      .map((e) => [stepOf(e), e.summary!.value.find((v) => v.tag === 'loss/total')!.simple_value!]);
    assert.equal(
      losses.map(([s]) => s),
      [0, 1, 2],
    );
    losses.forEach(([step, loss]) => assert.ok(Math.abs(loss! - 1 / (step! + 1)) < 1e-6));
    const throughput = events[2]!.summary!.value.find((v) => v.tag === 'throughput/imagesPerSecond');
    assert.is(throughput?.simple_value, 5);

    const epoch = events[4]!;
    assert.is(stepOf(epoch), 3);
    const tags = Object.fromEntries(epoch.summary!.value.map((v) => [v.tag, v.simple_value]));
    assert.ok(Math.abs(tags['epoch/validation_meanIoU']! - 0.575) < 1e-6);
    assert.ok(Math.abs(tags['iou_per_class/building "main"']! - 0.3) < 1e-6);

    const image = events[5]!.summary!.value[0]!;
    assert.is(image.tag, 'predictions/tile-a');
    assert.equal([image.image!.width, image.image!.height], [6, 2]);
    const decoded = await sharp(Buffer.from(image.image!.encoded_image_string))
      .raw()
      .toBuffer({ resolveWithObject: true });
    assert.equal([decoded.info.width, decoded.info.height, decoded.data[0]], [6, 2, 200]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
