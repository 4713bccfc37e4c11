import { EventEmitter } from 'node:events';
import type { IClientOptions, MqttClient } from 'mqtt';
import { GatewayError } from '../../runtime/errors.js';
import { Backoff, type BackoffOptions } from '../../runtime/backoff.js';
import { RetainedCache } from './retained.js';
import { openClient } from './open-client.js';

/**
 * One MQTT session to the broker that keeps itself up.
 *
 * - MQTT 5 first; a broker that answers "unacceptable protocol version" (Aedes) gets 3.1.1, and
 *   the answer is remembered for later reconnects.
 * - MQTT.js's own reconnect is a fixed interval; we set `reconnectPeriod: 0` and reconnect with
 *   exponential backoff + jitter, using a fresh client each time so no publish callback from a dead
 *   session can fire into the new one.
 * - A retained birth message is published on every connect and the LWT covers a crash; `stop()`
 *   publishes the farewell itself because a clean DISCONNECT suppresses the LWT.
 * - With `fallbackUrls`, each close moves on to the next broker of the list (a cluster node that
 *   died is not retried first); a full round of failures backs off like a single broker.
 * - Errors a user can fix come out as one-line GatewayErrors on the `error` event, once per distinct
 *   cause (a broker refusing credentials every 30 s is one line, not a log flood).
 *
 * Events: `session` (CONNACK: publishing works; subscriptions not renewed yet), `connect`
 * ({ protocolVersion }: the session is set up, subscriptions renewed and the birth sent),
 * `disconnect` (reason), `reconnecting` ({ attempt, delayMs }), `error` (GatewayError),
 * `message` (topic, payload: Buffer, retained: boolean).
 */

export interface Message {
  topic: string;
  payload: string | Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
}

export interface MqttConnectionOptions {
  url: string;
  /**
   * Other nodes of the same broker cluster. A lost or failed connection moves on to the next URL
   * at once; only after every URL failed in a row does the backoff delay apply.
   */
  fallbackUrls?: string[];
  clientId?: string;
  username?: string;
  password?: string;
  /** PEM contents (not paths): the config layer reads the files. */
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  rejectUnauthorized?: boolean;
  /** 'auto': MQTT 5, falling back to 3.1.1 when the broker refuses 5. */
  protocol?: 'auto' | 5 | 4;
  keepaliveS?: number;
  connectTimeoutMs?: number;
  will?: Message;
  /** Published (awaited) after every connect, e.g. the retained `online` state. */
  birth?: () => Message;
  /** Published by `stop()` before disconnecting, e.g. the retained `offline` state. */
  farewell?: () => Message;
  backoff?: BackoffOptions;
  /** false: no reconnects; `start()` rejects with the first error (for CLI verbs). */
  retry?: boolean;
  /** How fixes name the settings: the gateway says mqtt.url, the CLI says --broker. */
  names?: { url: string; credentials: string };
}

/**
 * The longest pause between two requests for a refused subscription. NATS refuses for as long as
 * JetStream takes to re-elect after a node died (20–60 s here), and a filter granted late delays
 * the gateway's retained OTA envelope by up to this much; one SUBSCRIBE per 10 s is nothing for a
 * broker whose ACL refuses it for good.
 */
const SUBSCRIBE_RETRY_MAX_MS = 10_000;

export class NotConnectedError extends Error {
  constructor() {
    super('not connected to the broker');
    this.name = 'NotConnectedError';
  }
}

export interface PublishOptions {
  qos?: 0 | 1 | 2;
  retain?: boolean;
}

export interface ConnectionLiveness {
  connected: boolean;
  /** false once stopped, or after an error retrying cannot fix (a bad URL). */
  retrying: boolean;
  lastPacketAt: number;
  lastProgressAt: number;
  keepaliveMs: number;
  /** Longest a connect attempt plus the backoff before the next one may take. */
  connectBoundMs: number;
}

interface Pending {
  reject(err: Error): void;
}

export class MqttConnection extends EventEmitter {
  private client: MqttClient | undefined;
  private generation = 0;
  private readonly backoff: Backoff;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private fallbackTo4 = false;
  private lastErrorLine: string | undefined;
  private readonly subs = new Map<string, 0 | 1 | 2>();
  private pending = new Set<Pending>();
  private firstConnect: { resolve(): void; reject(e: Error): void } | undefined;
  private _connected = false;
  private _protocolVersion: 4 | 5 | undefined;
  private _attempts = 0;
  private _sessions = 0;
  private lastPacketAt = 0;
  private lastProgressAt = 0;
  private readonly urls: string[];
  private urlIndex = 0;
  /** Attempts that failed since the last session, for "back off only after a full round". */
  private failedInRound = 0;

  constructor(private readonly opts: MqttConnectionOptions) {
    super();
    this.backoff = new Backoff(opts.backoff);
    this.urls = [opts.url, ...(opts.fallbackUrls ?? []).filter((u) => u !== opts.url)];
  }

  private _retained: RetainedCache | undefined;

  /**
   * This session's one retained cache (gateway/mqtt/retained.ts): what must reach a retained topic
   * despite an outage goes through it. Made on first use, so a CLI connection that never needs it
   * pays nothing.
   */
  get retained(): RetainedCache {
    return (this._retained ??= new RetainedCache(this));
  }

  /** The broker URL in use (or being tried): mqtt.url or one of mqtt.fallback-urls. */
  get url(): string {
    return this.urls[this.urlIndex]!;
  }

  get connected(): boolean {
    return this._connected;
  }
  /** 5 or 4 (3.1.1) once connected. */
  get protocolVersion(): 4 | 5 | undefined {
    return this._protocolVersion;
  }
  /**
   * For the service watchdog (gateway/service/watchdog.ts), which tells a wedged session from a
   * broker that is merely down: when a packet last came in, when the connect/backoff cycle last moved
   * (an attempt began or a session closed), and the limits that bound both.
   */
  liveness(): ConnectionLiveness {
    return {
      connected: this._connected,
      retrying: !this.stopped,
      lastPacketAt: this.lastPacketAt,
      lastProgressAt: this.lastProgressAt,
      keepaliveMs: (this.opts.keepaliveS ?? 30) * 1000,
      connectBoundMs: (this.opts.connectTimeoutMs ?? 10_000) + this.backoff.ceilingMs,
    };
  }

  /** Connection attempts so far (for tests and health). */
  get attempts(): number {
    return this._attempts;
  }
  /** Sessions established after the first (metrics: how often the link came back). */
  get reconnects(): number {
    return Math.max(0, this._sessions - 1);
  }

  /**
   * Starts connecting. With `retry: false` resolves on CONNACK or rejects with a GatewayError;
   * otherwise resolves at once and keeps trying in the background (see `waitConnected`).
   */
  start(): Promise<void> {
    if (!this.stopped) return Promise.resolve();
    this.stopped = false;
    const p = this.opts.retry === false
      ? new Promise<void>((resolve, reject) => (this.firstConnect = { resolve, reject }))
      : Promise.resolve();
    this.attempt();
    return p;
  }

  /** Resolves on the next (or current) connection; rejects after timeoutMs. */
  waitConnected(timeoutMs = 30_000): Promise<void> {
    if (this._connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.off('connect', on);
        reject(new GatewayError('MQTT_TIMEOUT', `not connected to ${redact(this.url)} after ${timeoutMs} ms; check ${this.names.url} and that the broker is running`));
      }, timeoutMs);
      const on = () => {
        clearTimeout(t);
        resolve();
      };
      this.once('connect', on);
    });
  }

  /** Resolves on PUBACK (QoS 1), PUBCOMP (QoS 2) or once written (QoS 0). Rejects with NotConnectedError when the session is down or drops first. */
  publish(topic: string, payload: string | Buffer, options: PublishOptions = {}): Promise<void> {
    return new Promise((resolve, reject) => this.send(topic, payload, options, (err) => (err ? reject(err) : resolve())));
  }

  /**
   * `publish` without a Promise per message, for the telemetry hot path: `done(err)` is called
   * exactly once (NotConnectedError if the session drops first).
   */
  send(topic: string, payload: string | Buffer, options: PublishOptions, done: (err?: Error) => void): void {
    const client = this.client;
    if (!this._connected || !client) return done(new NotConnectedError());
    let settled = false;
    const entry: Pending = {
      reject: (err) => {
        if (!settled) {
          settled = true;
          done(err);
        }
      },
    };
    this.pending.add(entry);
    client.publish(topic, payload, { qos: options.qos ?? 0, retain: options.retain ?? false }, (err) => {
      this.pending.delete(entry);
      if (settled) return;
      settled = true;
      done(err ?? undefined);
    });
  }

  /**
   * Subscribes now (resolves on SUBACK) and again after every reconnect. With reconnects on, a
   * session that drops before its SUBACK is no failure: the filter stays registered and the next
   * session subscribes it (a gateway whose broker node died mid-download must not give up the
   * download for that; the caller's own timeout bounds the wait). Without reconnects (the CLI) the
   * error is the caller's.
   *
   * A filter the broker refuses (SUBACK 0x80): `refused: 'retry'` (the default with reconnects on)
   * resolves and asks for it again in the background (retrySubscriptions); `'reject'` (the default
   * for the CLI, whose verbs report an ACL refusal and exit) rejects with an MQTT_SUBSCRIBE GatewayError.
   */
  async subscribe(filter: string, options: { qos?: 0 | 1 | 2; refused?: 'retry' | 'reject' } = {}): Promise<void> {
    const qos = options.qos ?? 0;
    this.subs.set(filter, qos);
    const client = this.client;
    if (!this._connected || !client) return;
    const gen = this.generation;
    if ((options.refused ?? (this.opts.retry === false ? 'reject' : 'retry')) === 'reject') {
      // One line with the fix for the verb to print, not MQTT.js's "Subscribe error: Unspecified error".
      if (!(await subscribeGranted(client, filter, qos))) throw new GatewayError('MQTT_SUBSCRIBE', `the broker at ${redact(this.url)} refused the subscription to ${filter}; check the broker's ACL for this user`);
      return;
    }
    let granted: boolean;
    try {
      granted = await subscribeGranted(client, filter, qos);
    } catch (err) {
      const sessionGone = !this._connected || this.client !== client || gen !== this.generation;
      if (sessionGone && this.opts.retry !== false && !this.stopped && this.subs.has(filter)) return;
      throw err;
    }
    if (!granted) this.retrySubscriptions(client, gen, [filter], 1000);
  }

  async unsubscribe(filter: string): Promise<void> {
    this.subs.delete(filter);
    if (this._connected && this.client) await this.client.unsubscribeAsync(filter);
  }

  /** Publishes the farewell (if connected and configured) and disconnects cleanly. */
  async stop(options: { farewell?: boolean; timeoutMs?: number } = {}): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const client = this.client;
    if (!client) return;
    if (this._connected && this.opts.farewell && options.farewell !== false) {
      const m = this.opts.farewell();
      await withTimeout(this.publish(m.topic, m.payload, { qos: m.qos, retain: m.retain }), options.timeoutMs ?? 2000).catch(() => {});
    }
    this.generation++;
    this.dropSession(client);
    await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
    this.client = undefined;
  }

  /** Cuts the socket without DISCONNECT so the broker publishes the LWT (tests, crash simulation). */
  destroy(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    this.generation++;
    if (client) {
      this.dropSession(client);
      client.stream?.destroy();
      client.end(true);
    }
  }

  private get names(): { url: string; credentials: string } {
    return this.opts.names ?? { url: 'mqtt.url', credentials: 'mqtt.username/password' };
  }

  private attempt(): void {
    if (this.stopped) return;
    const gen = ++this.generation;
    this._attempts++;
    this.lastProgressAt = Date.now();
    const protocolVersion: 4 | 5 = this.opts.protocol === 4 || (this.opts.protocol !== 5 && this.fallbackTo4) ? 4 : 5;
    const o = this.opts;
    const options: IClientOptions = {
      protocolVersion,
      reconnectPeriod: 0,
      clean: true,
      clientId: o.clientId ?? `airssys-${Math.random().toString(16).slice(2, 10)}`,
      keepalive: o.keepaliveS ?? 30,
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      resubscribe: false,
      queueQoSZero: false,
      // MQTT.js otherwise has mqtt-packet pre-build 65,536 two-byte Buffers for packet ids on the
      // first write: 6 MB of V8 heap for the life of the process (docs/memory.md). The setting is
      // module-wide, so the embedded broker (aedes, same mqtt-packet) stops caching too.
      writeCache: false,
    };
    if (o.username !== undefined) options.username = o.username;
    if (o.password !== undefined) options.password = o.password;
    if (o.ca !== undefined) options.ca = o.ca;
    if (o.cert !== undefined) options.cert = o.cert;
    if (o.key !== undefined) options.key = o.key;
    if (o.rejectUnauthorized !== undefined) options.rejectUnauthorized = o.rejectUnauthorized;
    if (o.will) options.will = { topic: o.will.topic, payload: Buffer.from(o.will.payload), qos: o.will.qos, retain: o.will.retain };

    let client: MqttClient;
    try {
      client = openClient(this.url, options);
    } catch (err) {
      this.fail(new GatewayError('MQTT_URL', `cannot use broker URL ${redact(this.url)} (${(err as Error).message}); check ${this.names.url}`), false);
      return;
    }
    this.client = client;
    let refusedProtocol = false;
    let closed = false;

    client.on('packetreceive', () => {
      if (gen === this.generation) this.lastPacketAt = Date.now();
    });
    client.on('connect', () => {
      if (gen !== this.generation) return;
      this._connected = true;
      this._protocolVersion = protocolVersion;
      this.failedInRound = 0;
      this.backoff.reset();
      this.lastErrorLine = undefined;
      // Before the session's subscriptions: what waited for a broker (the retained cache) goes out
      // ahead of anything this session receives and causes. A component state held while offline
      // is then on the broker before, say, a retained OTA envelope can swap the version it names.
      this.emit('session');
      void this.afterConnect(client, gen);
    });
    client.on('message', (topic, payload, packet) => {
      if (gen === this.generation) this.emit('message', topic, payload, packet.retain === true);
    });
    client.on('error', (err: Error & { code?: string | number }) => {
      if (gen !== this.generation) return;
      if ((err.code === 1 || err.code === 132) && protocolVersion === 5 && o.protocol !== 5) {
        // Aedes and other 3.1.1-only brokers: retry at once with 3.1.1.
        refusedProtocol = true;
        this.fallbackTo4 = true;
        return;
      }
      this.report(this.classify(err));
    });
    client.on('close', () => {
      if (closed || gen !== this.generation) return;
      closed = true;
      this.lastProgressAt = Date.now();
      const wasConnected = this._connected;
      this._connected = false;
      this.dropSession(client);
      client.end(true);
      if (wasConnected) this.emit('disconnect', 'connection closed');
      if (this.stopped) return;
      if (this.opts.retry === false && this.firstConnect) {
        this.fail(this.lastError ?? new GatewayError('MQTT_UNREACHABLE', `the broker at ${redact(this.url)} closed the connection; check ${this.names.url}`), refusedProtocol);
        return;
      }
      if (refusedProtocol) return this.attempt();
      if (this.urls.length > 1) {
        this.urlIndex = (this.urlIndex + 1) % this.urls.length;
        // Another node of the cluster is worth trying at once (a little jitter spreads a fleet);
        // once every node failed in a row, back off as with one broker.
        if (++this.failedInRound < this.urls.length) {
          const delayMs = Math.round(Math.random() * 200);
          this.emit('reconnecting', { attempt: this.backoff.attempts, delayMs, url: redact(this.url) });
          this.timer = setTimeout(() => this.attempt(), delayMs);
          return;
        }
        this.failedInRound = 0;
      }
      const delayMs = this.backoff.next();
      this.emit('reconnecting', { attempt: this.backoff.attempts, delayMs });
      this.timer = setTimeout(() => this.attempt(), delayMs);
    });
  }

  private lastError: GatewayError | undefined;

  private report(err: GatewayError): void {
    this.lastError = err;
    if (err.message === this.lastErrorLine) return;
    this.lastErrorLine = err.message;
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  private fail(err: GatewayError, retryNow: boolean): void {
    if (retryNow) {
      this.attempt();
      return;
    }
    this.stopped = true;
    const f = this.firstConnect;
    this.firstConnect = undefined;
    if (f) f.reject(err);
    else this.report(err);
  }

  private async afterConnect(client: MqttClient, gen: number): Promise<void> {
    try {
      const refused: string[] = [];
      // A snapshot: a filter added meanwhile is subscribed by subscribe() itself (once, not twice,
      // which would also make the broker deliver its retained messages again).
      for (const [filter, qos] of [...this.subs]) {
        if (!(await subscribeGranted(client, filter, qos))) refused.push(filter);
      }
      if (refused.length) this.retrySubscriptions(client, gen, refused, 1000);
      if (this.opts.birth) {
        const m = this.opts.birth();
        await this.publish(m.topic, m.payload, { qos: m.qos, retain: m.retain });
      }
    } catch {
      // The session died while we set it up; the close handler reconnects.
      return;
    }
    if (gen !== this.generation) return;
    const f = this.firstConnect;
    this.firstConnect = undefined;
    f?.resolve();
    this._sessions++;
    this.emit('connect', { protocolVersion: this._protocolVersion });
  }

  /**
   * A SUBACK that refuses a filter (0x80): NATS does so while its JetStream re-elects after a node
   * died, and an ACL may do so for good. Running on without the subscription would leave the gateway
   * deaf to commands or OTA on a live session, so it is asked for again, with growing pauses (1 s
   * doubling up to SUBSCRIBE_RETRY_MAX_MS), for as long as the session lasts; the refusal is reported
   * once as an error.
   */
  private retrySubscriptions(client: MqttClient, gen: number, filters: string[], delayMs: number): void {
    this.report(new GatewayError('MQTT_SUBSCRIBE', `the broker at ${redact(this.url)} refused the subscription to ${filters.join(', ')}; retrying (check the broker's ACL for this user if it persists)`));
    const timer = setTimeout(() => {
      if (gen !== this.generation || this.stopped || this.client !== client) return;
      void (async () => {
        const still: string[] = [];
        for (const f of filters) {
          const qos = this.subs.get(f);
          if (qos === undefined) continue;
          try {
            if (!(await subscribeGranted(client, f, qos))) still.push(f);
          } catch {
            return; // the session died; the reconnect subscribes everything again
          }
        }
        if (still.length && gen === this.generation) this.retrySubscriptions(client, gen, still, Math.min(delayMs * 2, SUBSCRIBE_RETRY_MAX_MS));
      })();
    }, delayMs);
    timer.unref?.();
  }

  private dropSession(_client: MqttClient): void {
    const pending = this.pending;
    this.pending = new Set();
    const err = new NotConnectedError();
    for (const p of pending) p.reject(err);
  }

  private classify(err: Error & { code?: string | number }): GatewayError {
    const url = redact(this.url);
    const { url: urlName, credentials } = this.names;
    const code = err.code;
    if (code === 4 || code === 134 || ((code === 5 || code === 135) && this.opts.username !== undefined)) {
      return new GatewayError('MQTT_AUTH', `broker refused the credentials for user ${this.opts.username ?? '(none)'}; check ${credentials}`);
    }
    if (code === 5 || code === 135) {
      return new GatewayError('MQTT_AUTH', `broker at ${url} requires credentials; set ${credentials}`);
    }
    if (code === 'ECONNREFUSED') return new GatewayError('MQTT_UNREACHABLE', `cannot reach the broker at ${url} (connection refused); check ${urlName} and that the broker is running`);
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new GatewayError('MQTT_UNREACHABLE', `cannot resolve the broker host in ${url}; check ${urlName}`);
    if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || /timeout/i.test(err.message)) {
      return new GatewayError('MQTT_UNREACHABLE', `the broker at ${url} did not answer (${code ?? 'timeout'}); check ${urlName} and the network`);
    }
    if (typeof code === 'string' && /CERT|SSL|TLS|SIGNATURE|SELF_SIGNED|ALTNAME/.test(code)) {
      return new GatewayError('MQTT_TLS', `TLS with the broker at ${url} failed (${code}); check mqtt.ca / mqtt.cert / mqtt.key and the broker's certificate`);
    }
    if (code === 'ECONNRESET' || code === 'EPIPE') return new GatewayError('MQTT_UNREACHABLE', `the broker at ${url} dropped the connection (${code}); check ${urlName} (plain vs TLS port?)`);
    return new GatewayError('MQTT_ERROR', `MQTT connection to ${url} failed (${err.message.split('\n')[0]}); check the broker settings`);
  }
}

/**
 * SUBSCRIBE one filter: true when granted, false when the broker refused it (SUBACK 0x80 or an
 * MQTT 5 reason >= 0x80). MQTT.js (5.x) rejects `subscribeAsync` for a refusal ("Subscribe error",
 * the SUBACK as `packet`) instead of resolving with the granted codes, and a refusal is not a dead
 * session: told apart here, so a refused filter is asked for again and the session's setup (the
 * other filters, the birth, the `connect` event) goes on. Other errors (the session dropped, no
 * SUBACK) are thrown.
 */
async function subscribeGranted(client: MqttClient, filter: string, qos: 0 | 1 | 2): Promise<boolean> {
  try {
    const granted = await client.subscribeAsync(filter, { qos });
    return !granted.some((g) => g.qos >= 128);
  } catch (err) {
    const suback = (err as { packet?: { cmd?: string; granted?: unknown[] } }).packet;
    if (suback?.cmd === 'suback' && suback.granted?.some((g) => typeof g === 'number' && g >= 128)) return false;
    throw err;
  }
}

/** The URL without a password, for messages. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), ms);
    p.then((v) => (clearTimeout(t), resolve(v)), (e) => (clearTimeout(t), reject(e)));
  });
}
