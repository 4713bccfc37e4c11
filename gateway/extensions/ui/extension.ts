import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { GatewayError } from '../../../runtime/errors.js';
import type { TelemetryTap } from '../events.js';
import type { Extension, ExtensionContext } from '../extension.js';
import { UiAuth } from './auth.js';
import type { UiConfig } from './config.js';
import { StatusModel } from './model.js';

/**
 * `ui: { listen, token }`: a local status page (docs/status-page.md). Plain HTML, CSS and JS from
 * ./static plus uPlot from the `uplot` package, served as they are: nothing is built on the Pi.
 *
 * Live data is one Server-Sent Events stream per open page (`GET /api/events`):
 * - `status`: the whole snapshot (model.ts), every second and shortly after a lifecycle or OTA event;
 * - `samples`: telemetry batched every 250 ms as `[component, channel, ts, value|null, json?]`.
 * The telemetry tap is registered only while at least one page is open, so an idle status page
 * costs the data path nothing. A page that does not keep up is disconnected (it reconnects by
 * itself) rather than buffered without bound; at most MAX_STREAMS pages at once.
 */
export const MAX_STREAMS = 16;
const SAMPLE_FLUSH_MS = 250;
const STATUS_MS = 1000;
/** Samples kept for one flush; beyond it they are counted, not queued (a page cannot plot more anyway). */
const MAX_BATCH = 5000;
/** A stream whose socket has this much unsent is dropped. */
const MAX_BACKLOG = 1 << 20;

const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};
const VENDOR: Record<string, { module: string; type: string }> = {
  '/vendor/uPlot.iife.min.js': { module: 'uplot/dist/uPlot.iife.min.js', type: 'text/javascript; charset=utf-8' },
  '/vendor/uPlot.min.css': { module: 'uplot/dist/uPlot.min.css', type: 'text/css; charset=utf-8' },
};

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

type SampleRow = [string, string, number, number | null] | [string, string, number, null, string];

export class UiExtension implements Extension {
  readonly name = 'ui';
  private server: Server | undefined;
  private ctx!: ExtensionContext;
  private model!: StatusModel;
  private auth: UiAuth;
  private readonly assets = new Map<string, { body: Buffer; type: string }>();
  private readonly streams = new Set<ServerResponse>();
  private batch: SampleRow[] = [];
  private droppedSamples = 0;
  private timers: NodeJS.Timeout[] = [];
  private statusSoon: NodeJS.Timeout | undefined;
  private readonly onSample = (component: string, channel: string, s: TelemetryTap, ts: number) => {
    if (this.batch.length >= MAX_BATCH) {
      this.droppedSamples++;
      return;
    }
    this.batch.push('value' in s ? [component, channel, ts, Number.isFinite(s.value) ? s.value : null] : [component, channel, ts, null, s.json]);
  };

  /** The bound port (useful with port 0). */
  port: number | undefined;

  constructor(private readonly config: UiConfig) {
    this.auth = new UiAuth(config.token);
  }

  async start(ctx: ExtensionContext): Promise<void> {
    this.ctx = ctx;
    this.loadAssets();
    this.model = new StatusModel(ctx);
    ctx.events.on('lifecycle', () => this.statusSoonish());
    ctx.events.on('ota', () => this.statusSoonish());
    ctx.events.on('removed', () => this.statusSoonish());

    const { host, port } = this.config.listen;
    const server = createServer((req, res) => this.serve(req, res));
    server.requestTimeout = 10_000;
    server.headersTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const why = err.code === 'EADDRINUSE' ? 'the port is in use' : err.code === 'EADDRNOTAVAIL' ? 'no such local address' : err.code === 'EACCES' ? 'permission denied' : (err.code ?? err.message);
        reject(new GatewayError('UI_LISTEN', `ui.listen ${host}:${port}: cannot listen (${why}); choose another ui.listen`));
      });
      server.listen(port, host, () => resolve());
    });
    server.on('error', (err) => ctx.log.warn({ err: err.message }, 'status page server error'));
    this.server = server;
    const addr = server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : port;
    const shown = host.includes(':') ? `[${host}]` : host;
    ctx.log.info({ listen: `${shown}:${this.port}`, token: this.config.token !== undefined }, `status page at http://${shown}:${this.port}/`);
  }

  async stop(): Promise<void> {
    for (const t of this.timers.splice(0)) clearInterval(t);
    if (this.statusSoon) clearTimeout(this.statusSoon);
    for (const s of this.streams) s.end();
    this.setTap(false);
    this.streams.clear();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Reads every asset once at start: a missing file is a broken install, said at start, not per request. */
  private loadAssets(): void {
    const dir = fileURLToPath(new URL('./static/', import.meta.url));
    for (const [path, a] of Object.entries(STATIC)) this.assets.set(path, { body: readAsset(dir + a.file, 'the status page'), type: a.type });
    const require = createRequire(import.meta.url);
    for (const [path, v] of Object.entries(VENDOR)) {
      let file: string;
      try {
        file = require.resolve(v.module);
      } catch {
        throw new GatewayError('UI_ASSET', `status page: ${v.module} not found; reinstall the gateway (npm ci) so the uplot package is present`);
      }
      this.assets.set(path, { body: readAsset(file, 'uPlot'), type: v.type });
    }
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://ui.invalid');
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request\n');
      return;
    }
    const verdict = this.auth.check(req, url);
    if (verdict.ok === 'redirect') {
      res.writeHead(303, { location: verdict.location, 'set-cookie': verdict.cookie, 'cache-control': 'no-store', ...SECURITY_HEADERS }).end();
      return;
    }
    if (verdict.ok !== true) {
      res.writeHead(verdict.status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...SECURITY_HEADERS }).end(verdict.message + '\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('use GET\n');
      return;
    }
    const path = url.pathname;
    if (path === '/api/events') return this.openStream(req, res);
    if (path === '/api/status') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', ...SECURITY_HEADERS });
      res.end(req.method === 'HEAD' ? undefined : JSON.stringify(this.model.snapshot()));
      return;
    }
    const asset = this.assets.get(path);
    if (!asset) {
      res.writeHead(404, { 'content-type': 'text/plain', ...SECURITY_HEADERS }).end('not found: the status page is at /\n');
      return;
    }
    res.writeHead(200, { 'content-type': asset.type, 'content-length': asset.body.length, 'cache-control': 'no-cache', ...SECURITY_HEADERS });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }

  private openStream(req: IncomingMessage, res: ServerResponse): void {
    if (this.streams.size >= MAX_STREAMS) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '10' }).end(`at most ${MAX_STREAMS} status pages may be open at once; close one\n`);
      return;
    }
    req.socket.setTimeout(0);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', ...SECURITY_HEADERS });
    this.streams.add(res);
    res.on('close', () => {
      this.streams.delete(res);
      if (this.streams.size === 0) this.setTap(false);
    });
    this.setTap(true);
    this.send(res, 'status', this.model.snapshot());
  }

  /** The telemetry tap and the timers run only while a page is open. */
  private setTap(on: boolean): void {
    if (on === this.timers.length > 0) return;
    if (on) {
      this.ctx.events.on('sample', this.onSample);
      this.timers.push(setInterval(() => this.flushSamples(), SAMPLE_FLUSH_MS), setInterval(() => this.broadcast('status', this.model.snapshot()), STATUS_MS));
      for (const t of this.timers) t.unref();
    } else {
      this.ctx.events.off('sample', this.onSample);
      for (const t of this.timers.splice(0)) clearInterval(t);
      this.batch = [];
    }
  }

  private statusSoonish(): void {
    if (this.statusSoon || this.streams.size === 0) return;
    this.statusSoon = setTimeout(() => {
      this.statusSoon = undefined;
      this.broadcast('status', this.model.snapshot());
    }, 100);
    this.statusSoon.unref();
  }

  private flushSamples(): void {
    if (this.batch.length === 0 && this.droppedSamples === 0) return;
    const rows = this.batch;
    const dropped = this.droppedSamples;
    this.batch = [];
    this.droppedSamples = 0;
    this.broadcast('samples', dropped ? { rows, dropped } : { rows });
  }

  private broadcast(event: string, data: unknown): void {
    if (this.streams.size === 0) return;
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const s of this.streams) this.write(s, frame);
  }

  private send(res: ServerResponse, event: string, data: unknown): void {
    this.write(res, `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private write(res: ServerResponse, frame: string): void {
    if (res.writableLength > MAX_BACKLOG) {
      // A stalled page: dropping it bounds memory; EventSource reconnects when it can keep up.
      this.ctx.log.debug('status page stream not keeping up; closed');
      res.destroy();
      return;
    }
    res.write(frame);
  }
}

function readAsset(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch {
    throw new GatewayError('UI_ASSET', `status page: ${what} file ${file} is missing; reinstall the gateway (for a build: npm run build copies the static files)`);
  }
}
