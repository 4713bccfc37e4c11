import { timingSafeEqual } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { GatewayError } from '../../runtime/errors.js';
import { isLoopbackHost } from './loopback.js';

/**
 * `mqtt.url: embedded`: an in-process Aedes broker so the gateway runs with no broker installed.
 * Aedes speaks MQTT 3.1.1 only (our connection falls back to it). Retained messages and sessions
 * live in memory: they last as long as the gateway process.
 *
 * It listens on 127.0.0.1 unless told otherwise (contract 7.4); the config refuses a non-loopback
 * host without `mqtt.username`/`mqtt.password`, and with them set that pair is the only account:
 * every other CONNECT, anonymous or not, is refused ("bad username or password").
 *
 * Reachable from the network, a connection costs memory (socket, Aedes client, parser) from the
 * moment it is accepted, long before its CONNECT is checked; a peer that opens thousands and never
 * sends CONNECT would otherwise hold each one for Aedes' 30 s. So connections not yet accepted by
 * Aedes ("pending": no CONNECT yet, or one being checked) are capped per remote address and in all,
 * a socket over a cap is destroyed at once, and CONNECT must arrive within `connectTimeoutMs`.
 * Loopback peers are exempt from the caps: the gateway's own client and local tools use 127.0.0.1,
 * and a flood from the LAN must never lock them out. Accepted clients are not capped.
 */
export interface EmbeddedBrokerOptions {
  port?: number;
  host?: string;
  /** When set, clients must present these credentials. */
  username?: string;
  password?: string;
  /** Pending (not yet accepted) connections per non-loopback remote address (default 16). */
  maxPendingPerAddress?: number;
  /** Pending connections from all non-loopback addresses together (default 256). */
  maxPending?: number;
  /** A connection that has not sent CONNECT by then is closed (default 10 s; Aedes' own is 30 s). */
  connectTimeoutMs?: number;
  /** Told about each connection destroyed over a cap (the gateway counts and logs them, throttled). */
  onRefused?: (refusal: PendingRefusal) => void;
}

export interface PendingRefusal {
  /** Which cap: the remote address's, or the total. */
  kind: 'per-address' | 'total';
  remote: string;
  limit: number;
}

export const EMBEDDED_LIMITS = { maxPendingPerAddress: 16, maxPending: 256, connectTimeoutMs: 10_000 } as const;

type AedesInstance = {
  handle: (stream: Socket) => unknown;
  close: (cb?: () => void) => void;
  on: (event: 'client', listener: (client: { conn: unknown }) => void) => unknown;
};

export class EmbeddedBroker {
  private server: Server | undefined;
  private broker: AedesInstance | undefined;
  private readonly sockets = new Set<Socket>();
  /** Clients accepted after `listen` and before the broker exists. */
  private readonly waiting: Socket[] = [];
  /** Non-loopback connections Aedes has not accepted yet, with their remote address. */
  private readonly pending = new Map<Socket, string>();
  private readonly pendingByAddress = new Map<string, number>();
  private readonly limits: { maxPendingPerAddress: number; maxPending: number; connectTimeoutMs: number };

  constructor(private readonly opts: EmbeddedBrokerOptions = {}) {
    this.limits = {
      maxPendingPerAddress: opts.maxPendingPerAddress ?? EMBEDDED_LIMITS.maxPendingPerAddress,
      maxPending: opts.maxPending ?? EMBEDDED_LIMITS.maxPending,
      connectTimeoutMs: opts.connectTimeoutMs ?? EMBEDDED_LIMITS.connectTimeoutMs,
    };
  }

  /** Connections not yet accepted by the broker (non-loopback peers only); tests read it. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    const a = this.server?.address() as AddressInfo | null | undefined;
    return a?.port ?? this.opts.port ?? 1883;
  }

  /** The URL clients should use to reach it from this machine. */
  get url(): string {
    const host = !this.opts.host || this.opts.host === '0.0.0.0' || this.opts.host === '::' ? '127.0.0.1' : this.opts.host;
    return `mqtt://${host}:${this.port}`;
  }

  /**
   * Binds the port, the step that can fail (a port in use), without the broker itself: the gateway
   * does this before it touches a device, and creates the broker (`start`) after its components
   * started, while their first samples are coming in (docs/memory.md, "Start time"). A client that
   * connects in between waits, its bytes buffered in its socket, until the broker takes it.
   */
  async listen(): Promise<void> {
    if (this.server) return;
    const server = createServer((socket) => {
      if (!this.admit(socket)) return;
      this.sockets.add(socket);
      socket.on('close', () => {
        this.sockets.delete(socket);
        this.settle(socket);
      });
      if (this.broker) {
        this.broker.handle(socket);
        return;
      }
      // Until the broker takes it nothing else listens for its errors, and a client that resets
      // the connection meanwhile (ECONNRESET) would be an uncaught 'error' that ends the gateway.
      socket.on('error', ignoreWaitingError);
      this.waiting.push(socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(err.code === 'EADDRINUSE'
          ? new GatewayError('EMBEDDED_BROKER', `port ${this.opts.port ?? 1883} is in use, so the embedded broker cannot start; set mqtt.embedded-port to a free port or point mqtt.url at the broker already running`)
          : new GatewayError('EMBEDDED_BROKER', `the embedded broker cannot listen on ${this.opts.host ?? '127.0.0.1'}:${this.opts.port ?? 1883} (${err.code ?? err.message}); set mqtt.embedded-host/embedded-port`));
      });
      server.listen(this.opts.port ?? 1883, this.opts.host ?? '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /** Listens (if not yet) and creates the broker; clients that connected meanwhile are handed to it. */
  async start(): Promise<void> {
    await this.listen();
    if (this.broker) return;
    const { username, password } = this.opts;
    const authenticate = username === undefined ? undefined
      : (_c: unknown, u: string | undefined, p: Buffer | undefined, done: (e: (Error & { returnCode: number }) | null, ok: boolean | null) => void) => {
        const ok = u === username && p !== undefined && safeEqual(p, Buffer.from(password ?? ''));
        if (ok) return done(null, true);
        const e = Object.assign(new Error('bad username or password'), { returnCode: 4 });
        done(e, false);
      };
    // Imported here, not at the top: a gateway on an external broker never loads aedes (~55 ms of
    // CPU at start, docs/memory.md "Start time").
    // aedes 0.51 exports a factory (`createBroker`/default, sync); 1.x has `await Aedes.createBroker()`.
    const mod = (await import('aedes')) as unknown as Record<string, unknown> & { default?: unknown };
    const def = mod.default as (Record<string, unknown> & ((o?: object) => unknown)) | undefined;
    const factory = (mod.createBroker ?? def?.createBroker ?? def) as ((o?: object) => AedesInstance | Promise<AedesInstance>) | undefined;
    if (typeof factory !== 'function') throw new GatewayError('EMBEDDED_BROKER', 'the aedes package has an unexpected API; set mqtt.url to an external broker');
    const broker = await factory({ connectTimeout: this.limits.connectTimeoutMs, ...(authenticate ? { authenticate } : {}) });
    // Stopped while the broker was being created: it never serves.
    if (!this.server) {
      broker.close();
      return;
    }
    // 'client': CONNECT accepted (authenticated, registered); the connection stops counting as pending.
    broker.on('client', (client) => this.settle(client.conn as Socket));
    this.broker = broker;
    for (const socket of this.waiting.splice(0)) {
      socket.off('error', ignoreWaitingError);
      if (!socket.destroyed) broker.handle(socket);
    }
  }

  async stop(): Promise<void> {
    const server = this.server;
    const broker = this.broker;
    this.server = undefined;
    this.broker = undefined;
    this.waiting.length = 0;
    this.pending.clear();
    this.pendingByAddress.clear();
    for (const s of this.sockets) s.destroy();
    if (broker) await new Promise<void>((resolve) => broker.close(() => resolve()));
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Counts a new connection as pending, or destroys it when over a cap (false). Loopback passes. */
  private admit(socket: Socket): boolean {
    const remote = socket.remoteAddress;
    // Already gone (reset before we got to it): nothing to serve.
    if (remote === undefined) {
      socket.destroy();
      return false;
    }
    if (isLoopbackHost(remote)) return true;
    const { maxPendingPerAddress, maxPending } = this.limits;
    const fromHere = this.pendingByAddress.get(remote) ?? 0;
    const over = fromHere >= maxPendingPerAddress ? { kind: 'per-address' as const, limit: maxPendingPerAddress }
      : this.pending.size >= maxPending ? { kind: 'total' as const, limit: maxPending }
      : undefined;
    if (over) {
      socket.destroy();
      this.opts.onRefused?.({ ...over, remote });
      return false;
    }
    this.pending.set(socket, remote);
    this.pendingByAddress.set(remote, fromHere + 1);
    return true;
  }

  /** The connection was accepted by Aedes, or closed: it no longer counts as pending. */
  private settle(socket: Socket): void {
    const remote = this.pending.get(socket);
    if (remote === undefined) return;
    this.pending.delete(socket);
    const n = (this.pendingByAddress.get(remote) ?? 1) - 1;
    if (n > 0) this.pendingByAddress.set(remote, n);
    else this.pendingByAddress.delete(remote);
  }
}

function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A waiting client's socket error: the socket is destroyed by it, and nothing was served yet. */
function ignoreWaitingError(): void {}
