import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { GatewayError } from '../../../runtime/errors.js';
import { isLoopback, type MetricsConfig } from '../config.js';
import type { Extension, ExtensionContext } from '../extension.js';
import { gatewayRegistry } from './registry.js';

/**
 * `metrics: { listen: host:port }`: Prometheus text exposition at `GET /metrics` (anything else is
 * 404). The endpoint has no authentication (the contract gives it no token): it binds loopback by
 * default, and the gateway warns when told to bind beyond it. Scrapes are served from the event
 * loop; each reads the gateway's counters once.
 */
export class MetricsExtension implements Extension {
  readonly name = 'metrics';
  private server: Server | undefined;
  private dispose: (() => void) | undefined;

  constructor(private readonly config: MetricsConfig) {}

  /** The bound port (useful with port 0). */
  port: number | undefined;

  async start(ctx: ExtensionContext): Promise<void> {
    const { registry, dispose } = gatewayRegistry(ctx);
    this.dispose = dispose;
    const { host, port } = this.config.listen;
    const server = createServer((req, res) => void serve(registry, req.method, req.url, res, ctx));
    // A scrape that stalls half-way must not hold a socket forever.
    server.requestTimeout = 10_000;
    server.headersTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        const why = err.code === 'EADDRINUSE' ? 'the port is in use' : err.code === 'EADDRNOTAVAIL' ? 'no such local address' : err.code === 'EACCES' ? 'permission denied' : (err.code ?? err.message);
        reject(new GatewayError('METRICS_LISTEN', `metrics.listen ${host}:${port}: cannot listen (${why}); choose another metrics.listen`));
      });
      server.listen(port, host, () => resolve());
    });
    server.on('error', (err) => ctx.log.warn({ err: err.message }, 'metrics server error'));
    this.server = server;
    const addr = server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : port;
    if (!isLoopback(host)) ctx.log.warn({ listen: `${host}:${this.port}` }, 'metrics are served without authentication beyond loopback; restrict access with a firewall or a reverse proxy');
    ctx.log.info({ listen: `${host}:${this.port}` }, 'Prometheus metrics at GET /metrics');
  }

  async stop(): Promise<void> {
    this.dispose?.();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function serve(registry: Registry, method: string | undefined, url: string | undefined, res: import('node:http').ServerResponse, ctx: ExtensionContext): Promise<void> {
  const path = (url ?? '/').split('?')[0];
  if (path !== '/metrics') {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
    return;
  }
  if (method !== 'GET' && method !== 'HEAD') {
    res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('use GET\n');
    return;
  }
  try {
    const body = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType });
    res.end(method === 'HEAD' ? undefined : body);
  } catch (err) {
    ctx.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'metrics scrape failed');
    res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed; see the gateway log\n');
  }
}
