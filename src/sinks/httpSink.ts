import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { prometheusText } from './prometheusText.js';
import type { MetricEvent, MetricSink } from './sinkEvents.js';

/** Options of {@link httpSink}. */
export interface HttpSinkOptions {
  /** [port=6006] 0 picks a free port (see `url` after `listening`). */
  port?: number;
  /** [host='127.0.0.1'] Anything but a loopback address exposes the run to the network and logs a warning. */
  host?: string;
  /** Access token: when set, every request must carry `?token=...` or `Authorization: Bearer ...`. */
  token?: string;
  /** [maxConnections=32] Open sockets at once; more are refused. */
  maxConnections?: number;
  /** [maxHistory=20000] Events kept for viewers that connect late (the oldest batch events go first). */
  maxHistory?: number;
  /** Where warnings go. */
  warn?: (message: string) => void;
}

/** The HTTP sink: a MetricSink that is also a server. */
export interface HttpSink extends MetricSink {
  /** Resolves once the server listens, with its base URL (`http://127.0.0.1:6006/`). */
  readonly listening: Promise<string>;
  /** Viewers connected to `/events` now. */
  readonly viewerCount: number;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
/** Sample predictions kept for late viewers (each is a PNG). */
const SAMPLES_KEPT = 4;

const dashboardDir = fileURLToPath(new URL('../../../src/dashboard/', import.meta.url));
const requireFromHere = createRequire(import.meta.url);

/**
 * The only files the server ever sends: a fixed table from URL path to file, read once at start. Requests
 * are looked up in it verbatim, so no URL (`../`, `%2e%2e%2f`, `%252e`, absolute paths) can reach another
 * file.
 */
function loadAssets(): Map<string, { body: Buffer; type: string }> {
  const files: [string, string, string][] = [
    ['/', `${dashboardDir}index.html`, 'text/html; charset=utf-8'],
    ['/dashboard.js', `${dashboardDir}dashboard.js`, 'text/javascript; charset=utf-8'],
    ['/dashboard.css', `${dashboardDir}dashboard.css`, 'text/css; charset=utf-8'],
    [
      '/uPlot.min.js',
      requireFromHere.resolve('uplot/dist/uPlot.iife.min.js'),
      'text/javascript; charset=utf-8',
    ],
    ['/uPlot.min.css', requireFromHere.resolve('uplot/dist/uPlot.min.css'), 'text/css; charset=utf-8'],
  ];
  return new Map(files.map(([path, file, type]) => [path, { body: readFileSync(file), type }]));
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function tokenMatches(expected: string, given: string | null): boolean {
  if (given === null) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Serves a run live over HTTP: the dashboard at `/` (loss and metric curves, per-class IoU, sample
 * predictions, throughput), Server-Sent Events at `/events` (the whole history first, so late viewers catch
 * up, then live), and Prometheus text at `/metrics`. Listens on 127.0.0.1 unless told otherwise; serves only
 * its own assets; takes no request bodies; bounds connections and history.
 *
 * @example
 * ```ts
 * const sink = httpSink({ port: 6006 });
 * console.error(`dashboard: ${await sink.listening}`);
 * trainer$.subscribe((event) => sink.write(event));
 * ```
 * @param options Port, host, token and bounds.
 */
export function httpSink(options: HttpSinkOptions = {}): HttpSink {
  const port = options.port ?? 6006;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new RangeError(`httpSink: port must be an integer 0..65535, got ${String(port)}`);
  const host = options.host ?? '127.0.0.1';
  const maxConnections = options.maxConnections ?? 32;
  const maxHistory = options.maxHistory ?? 20000;
  if (!Number.isInteger(maxConnections) || maxConnections < 1)
    throw new RangeError(`httpSink: maxConnections must be an integer >= 1, got ${String(maxConnections)}`);
  if (options.token !== undefined && options.token.length < 8)
    throw new RangeError('httpSink: token must be at least 8 characters');
  const warn =
    options.warn ?? ((message: string): void => void process.stderr.write(`warning: ${message}\n`));
  if (!LOOPBACK.has(host)) {
    warn(
      `the metrics server listens on ${host}, reachable from other machines${options.token ? '' : ' without an access token (use --metrics-token)'}`,
    );
  }

  const assets = loadAssets();
  const history: MetricEvent[] = [];
  const samples: MetricEvent[] = [];
  const viewers = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  let latest = { batch: undefined as MetricEvent | undefined, epoch: undefined as MetricEvent | undefined };
  let eventCount = 0;

  const send = (res: ServerResponse, event: MetricEvent): void => {
    res.write(`data: ${JSON.stringify(event)}\n\n`);
  };

  function authorized(req: IncomingMessage, url: URL): boolean {
    if (options.token === undefined) return true;
    const bearer = req.headers.authorization?.match(/^Bearer (.+)$/)?.[1] ?? null;
    return tokenMatches(options.token, bearer) || tokenMatches(options.token, url.searchParams.get('token'));
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const refuse = (status: number, text: string): void => {
      res.writeHead(status, {
        'content-type': 'text/plain; charset=utf-8',
        ...SECURITY_HEADERS,
        connection: 'close',
      });
      res.end(`${text}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(405, 'method not allowed');
    // No endpoint takes a body: refuse one instead of reading it.
    if (Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined)
      return refuse(413, 'request bodies are not accepted');
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return refuse(400, 'bad request');
    }
    if (!authorized(req, url)) return refuse(401, 'access token required');

    if (url.pathname === '/events') {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        ...SECURITY_HEADERS,
        connection: 'keep-alive',
      });
      for (const event of history) send(res, event);
      for (const event of samples) send(res, event);
      viewers.add(res);
      req.on('close', () => viewers.delete(res));
      return;
    }
    if (url.pathname === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', ...SECURITY_HEADERS });
      res.end(
        prometheusText({
          batch: latest.batch,
          epoch: latest.epoch,
          events: eventCount,
          viewers: viewers.size,
        }),
      );
      return;
    }
    const asset = assets.get(url.pathname);
    if (!asset) return refuse(404, 'not found');
    res.writeHead(200, {
      'content-type': asset.type,
      'content-length': asset.body.length,
      ...SECURITY_HEADERS,
    });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }

  const server: Server = createServer(
    { maxHeaderSize: 8192, requestTimeout: 10_000, headersTimeout: 5_000 },
    handle,
  );
  server.maxConnections = maxConnections;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const listening = new Promise<string>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port: bound } = server.address() as AddressInfo;
      const shownHost = host.includes(':') ? `[${host}]` : host;
      resolve(`http://${shownHost}:${bound}/`);
    });
  });
  // Callers that never await `listening` still see a failure to bind when they close.
  listening.catch(() => undefined);

  return {
    description: `http:${host}:${port}`,
    listening,
    get viewerCount() {
      return viewers.size;
    },
    write(event) {
      eventCount += 1;
      if (event.type === 'sample') {
        samples.push(event);
        if (samples.length > SAMPLES_KEPT) samples.shift();
      } else {
        if (event.type === 'batch') latest.batch = event;
        if (event.type === 'epoch') latest.epoch = event;
        history.push(event);
        if (history.length > maxHistory)
          history.splice(
            history.findIndex((e) => e.type === 'batch'),
            1,
          );
      }
      for (const viewer of viewers) send(viewer, event);
    },
    async close() {
      for (const viewer of viewers) viewer.end();
      viewers.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      latest = { batch: undefined, epoch: undefined };
    },
  };
}
