import { request } from 'node:http';
import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSink } from '../src/sinks/createSink.js';
import { httpSink } from '../src/sinks/httpSink.js';
import { ndjsonSink } from '../src/sinks/ndjsonSink.js';
import { batchEvent, epochEvent } from './helpers/metricEvents.js';

/** Sends a request line exactly as written (fetch would normalise `../`), returns status and body. */
function rawGet(port: number, path: string, extra = ''): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}Connection: close\r\n\r\n`),
    );
    let text = '';
    socket.on('data', (d) => (text += d));
    socket.on('end', () =>
      resolve({ status: Number(text.split(' ')[1]), body: text.split('\r\n\r\n').slice(1).join('\r\n\r\n') }),
    );
    socket.on('error', reject);
  });
}

/** Reads SSE `data:` messages from /events until `count` have arrived. */
function readEvents(
  url: string,
  count: number,
): Promise<{ events: { type: string; globalStep: number }[]; close: () => void }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}events`, (res) => {
      let buffer = '';
      const events: { type: string; globalStep: number }[] = [];
      res.on('data', (chunk) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          events.push(JSON.parse(buffer.slice(0, end).replace(/^data: /, '')));
          buffer = buffer.slice(end + 2);
        }
        if (events.length >= count) resolve({ events, close: () => req.destroy() });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

test('late viewers get the history, several viewers get live events, /metrics has the latest values', async () => {
  const sink = httpSink({ port: 0 });
  const url = await sink.listening;
  try {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    sink.write(batchEvent(0, 0.9));
    sink.write(batchEvent(1, 0.7));
    const early = readEvents(url, 4);
    const late = readEvents(url, 4);
    // Both viewers connect after two events, then two more arrive live.
    await new Promise((r) => setTimeout(r, 100));
    assert.is(sink.viewerCount, 2);
    sink.write(batchEvent(2, 0.5));
    sink.write(epochEvent(0, 3));
    for (const viewer of await Promise.all([early, late])) {
      assert.equal(
        viewer.events.map((e) => `${e.type}${e.globalStep}`),
        ['batch0', 'batch1', 'batch2', 'epoch3'],
      );
      viewer.close();
    }
    const metrics = await (await fetch(`${url}metrics`)).text();
    assert.match(metrics, /^segstream_loss 0\.5$/m);
    assert.match(metrics, /^segstream_global_step 2$/m);
    assert.match(metrics, /^segstream_class_iou\{split="validation",class="building \\"main\\""\} 0\.3$/m);
    assert.match(metrics, /# TYPE segstream_images_per_second gauge/);
    const page = await fetch(url);
    assert.is(page.status, 200);
    assert.match(await page.text(), /<script src="dashboard.js">/);
    assert.is((await fetch(`${url}uPlot.min.js`)).status, 200);
  } finally {
    await sink.close();
  }
});

test('no path traversal: ../ and encoded variants, absolute paths and source files are 404', async () => {
  const sink = httpSink({ port: 0 });
  const port = Number(new URL(await sink.listening).port);
  try {
    const attempts = [
      '/../package.json',
      '/../../../../etc/passwd',
      '/%2e%2e/package.json',
      '/%2e%2e%2fpackage.json',
      '/..%2f..%2fetc%2fpasswd',
      '/%252e%252e%252fpackage.json',
      '/..%5c..%5cpackage.json',
      '/dashboard.js/../../src/sinks/httpSink.ts',
      '//etc/passwd',
      '/index.html',
      '/dashboard/../httpSink.js',
      '/node_modules/uplot/package.json',
      '/%00',
    ];
    for (const path of attempts) {
      const { status, body } = await rawGet(port, path);
      assert.ok(status === 404 || status === 400, `${path} gave ${status}`);
      assert.not.match(body, /root:|"name"|import /, `${path} leaked a file`);
    }
    assert.is((await rawGet(port, '/dashboard.css')).status, 200);
  } finally {
    await sink.close();
  }
});

test('only GET/HEAD without bodies; token required when set; connections bounded', async () => {
  const sink = httpSink({ port: 0, token: 'secret-token-123', maxConnections: 2 });
  const url = await sink.listening;
  const port = Number(new URL(url).port);
  try {
    assert.is((await fetch(`${url}metrics`)).status, 401);
    assert.is((await fetch(`${url}metrics?token=wrong-token-1234`)).status, 401);
    assert.is((await fetch(`${url}metrics?token=secret-token-123`)).status, 200);
    assert.is(
      (await fetch(`${url}metrics`, { headers: { authorization: 'Bearer secret-token-123' } })).status,
      200,
    );
    assert.is((await fetch(`${url}?token=secret-token-123`, { method: 'POST', body: 'x' })).status, 405);
    const withBody = await rawGet(port, '/metrics?token=secret-token-123', 'Content-Length: 5\r\n');
    assert.is(withBody.status, 413);
    // Two idle sockets fill the server; a third is dropped.
    const idle = [connect(port, '127.0.0.1'), connect(port, '127.0.0.1')];
    await new Promise((r) => setTimeout(r, 100));
    const third = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1', () =>
        s.write('GET /metrics?token=secret-token-123 HTTP/1.1\r\nHost: x\r\n\r\n'),
      );
      let text = '';
      s.on('data', (d) => (text += d));
      s.on('close', () => resolve(text));
      s.on('error', () => resolve(text));
    });
    assert.is(third, '');
    idle.forEach((s) => s.destroy());
  } finally {
    await sink.close();
  }
});

test('binding beyond loopback warns, and says when there is no token', async () => {
  const warnings: string[] = [];
  const sink = httpSink({ port: 0, host: '0.0.0.0', warn: (m) => warnings.push(m) });
  await sink.listening;
  await sink.close();
  assert.is(warnings.length, 1);
  assert.match(warnings[0]!, /0\.0\.0\.0.*without an access token/);
  const quiet: string[] = [];
  const local = httpSink({ port: 0, warn: (m) => quiet.push(m) });
  await local.listening;
  await local.close();
  assert.equal(quiet, []);
});

test('createSink parses the --metrics forms and names a bad one', async () => {
  assert.throws(() => createSink('ndjson:'), /'ndjson:' has no target/);
  assert.throws(() => createSink('kafka:x'), /unknown kind 'kafka'/);
  assert.throws(() => createSink('http:abc'), /has no port/);
  const http = createSink('http:127.0.0.1:0');
  assert.match(http.description, /^http:127\.0\.0\.1:0$/);
  await http.close();
});

test('ndjson sink writes one JSON line per event and leaves out sample PNG payloads', async () => {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (d) => (text += d));
  const sink = ndjsonSink(stream);
  sink.write(batchEvent(0, 0.5));
  sink.write({ type: 'sample', epoch: 0, globalStep: 1, id: 'a', png: 'AAAA', width: 1, height: 1 });
  await sink.close();
  const lines = text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.is(lines.length, 2);
  assert.is(lines[0].losses.total, 0.5);
  assert.is(lines[1].png, undefined);
  assert.is(lines[1].id, 'a');
});

test.run();
