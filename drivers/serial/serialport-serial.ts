import { existsSync } from 'node:fs';
import { backoffDelay, type BackoffShape } from '../../runtime/backoff.js';
import { refusal } from '../../runtime/errors.js';
import { Framer } from './framer.js';
import { busyError, openError } from './errors.js';
import type { SerialDriver, SerialEvent, SerialLink, SerialLinkStats, SerialOpenOptions, SerialState } from './types.js';

/**
 * Serial through the `serialport` package. Never calls SerialPort.list(): on Linux it spawns
 * udevadm, which is missing on slim images and takes the process down; ports are opened by path.
 */

/** Reopen delays spread both ways around the exponential curve (runtime/backoff.ts). */
export type Backoff = Required<BackoffShape>;
export const DEFAULT_BACKOFF: Backoff = { initialMs: 250, maxMs: 10_000, factor: 2, jitter: 0.2, spread: 'around' };

/** The slice of serialport's stream we use (so a test can hand in any binding). */
interface PortStream {
  readonly isOpen: boolean;
  readonly writableLength: number;
  open(cb: (err: Error | null) => void): void;
  write(data: Buffer, cb?: (err: Error | null | undefined) => void): boolean;
  close(cb?: (err: Error | null) => void): void;
  on(event: 'data', cb: (d: Buffer) => void): unknown;
  on(event: 'close', cb: (err?: Error & { disconnected?: boolean }) => void): unknown;
  on(event: 'error', cb: (err: Error) => void): unknown;
  removeAllListeners(): unknown;
}
type PortFactory = (path: string, baud: number) => PortStream;

export interface SerialportSerialOptions {
  /** A serialport binding (e.g. @serialport/binding-mock's MockBinding); default: the native one. */
  binding?: unknown;
  backoff?: Partial<Backoff>;
  random?: () => number;
  /** Send queue per port; default 64 KiB. */
  maxQueuedBytes?: number;
  /** Keep retrying a port that is missing at open instead of failing (adapter plugged in later). */
  waitForPort?: boolean;
  /**
   * How often an open port's device node is checked for existence; 0 = never. The read poller
   * does not always report a hang-up (a pty whose other end closes right after open stays "open"
   * forever), but a pulled USB adapter always removes its node. Default 1000, or 0 with a custom
   * binding (mock ports have no node).
   */
  healthCheckMs?: number;
  onEvent?: (e: SerialEvent) => void;
}

class PortLink implements SerialLink {
  state: SerialState = 'reconnecting';
  readonly stats: SerialLinkStats;
  private readonly framer: Framer;
  private stream: PortStream | undefined;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private health: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly driver: SerialportSerial,
    readonly port: string,
    readonly baud: number,
    opts: SerialOpenOptions,
    onFrame: (f: Uint8Array) => void,
  ) {
    this.framer = new Framer(opts.framing, onFrame, opts);
    this.stats = Object.assign(this.framer.stats, { bytesIn: 0, bytesOut: 0, reopens: 0, refusedBytes: 0 });
  }

  /** One open attempt; resolves with the error instead of throwing. */
  tryOpen(): Promise<Error | undefined> {
    let s: PortStream;
    try {
      s = this.driver.factory(this.port, this.baud);
    } catch (err) {
      // serialport throws synchronously for options it rejects (e.g. a baud that is not a number).
      return Promise.resolve(err instanceof Error ? err : new Error(String(err)));
    }
    return new Promise((resolve) => {
      s.open((err) => {
        if (err) {
          s.removeAllListeners();
          resolve(err);
          return;
        }
        if (this.state === 'closed') {
          s.close();
          resolve(undefined);
          return;
        }
        this.attach(s);
        resolve(undefined);
      });
    });
  }

  private attach(s: PortStream): void {
    this.stream = s;
    this.state = 'open';
    this.framer.reset();
    s.on('data', (d) => {
      this.stats.bytesIn += d.length;
      this.framer.push(d);
    });
    s.on('error', () => {
      // Write/read errors are followed by 'close' when the device is gone; nothing else to do.
    });
    s.on('close', (err) => {
      if (this.stream === s) this.lost(err?.message ?? 'closed');
    });
    const every = this.driver.healthCheckMs;
    if (every > 0) {
      this.health = setInterval(() => {
        if (this.stream === s && !existsSync(this.port)) this.lost('device node disappeared');
      }, every);
      this.health.unref?.();
    }
  }

  /** The device went away: drop the stream, make writes fail with io, start reopening. */
  private lost(reason: string): void {
    const s = this.stream;
    this.stream = undefined;
    if (this.health) clearInterval(this.health);
    this.health = undefined;
    if (s) {
      s.removeAllListeners();
      s.on('error', () => {});
      if (s.isOpen) s.close(() => {});
    }
    if (this.state === 'closed') return;
    this.state = 'reconnecting';
    this.framer.reset();
    this.driver.emitEvent({ type: 'disconnected', port: this.port, reason });
    this.scheduleReopen();
  }

  scheduleReopen(): void {
    if (this.state === 'closed' || this.timer) return;
    const delay = backoffDelay(this.driver.backoff, this.attempt, this.driver.random);
    this.timer = setTimeout(async () => {
      this.timer = undefined;
      if (this.state === 'closed') return;
      this.attempt++;
      const err = await this.tryOpen();
      if ((this.state as SerialState) === 'closed') return; // closed while the open was in flight
      if (err) {
        this.driver.emitEvent({ type: 'reopen-failed', port: this.port, attempt: this.attempt, reason: err.message, retryInMs: backoffDelay(this.driver.backoff, this.attempt, this.driver.random) });
        this.scheduleReopen();
      } else {
        this.stats.reopens++;
        this.driver.emitEvent({ type: 'reopened', port: this.port, attempt: this.attempt });
        this.attempt = 0;
      }
    }, delay);
    // A port waiting to come back must not keep the process alive on its own.
    this.timer.unref?.();
  }

  write(data: Uint8Array): number {
    const s = this.stream;
    if (this.state === 'closed') throw refusal('invalid', `serial port ${this.port} is not open`);
    if (this.state !== 'open' || !s || !s.isOpen) throw refusal('io', `serial port ${this.port} is disconnected; the gateway is reopening it (attempt ${this.attempt + 1})`);
    const room = this.driver.maxQueued - s.writableLength;
    const n = Math.max(0, Math.min(data.length, room));
    this.stats.refusedBytes += data.length - n;
    if (n === 0) return 0;
    // Copy: the guest's memory view may change as soon as the host call returns.
    s.write(Buffer.from(data.subarray(0, n)), () => {});
    this.stats.bytesOut += n;
    return n;
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.health) clearInterval(this.health);
    this.health = undefined;
    const s = this.stream;
    this.stream = undefined;
    this.driver.forget(this);
    if (s && s.isOpen) await new Promise<void>((r) => s.close(() => r()));
    s?.removeAllListeners();
    this.driver.emitEvent({ type: 'closed', port: this.port });
  }
}

export class SerialportSerial implements SerialDriver {
  readonly backoff: Backoff;
  readonly random: () => number;
  readonly maxQueued: number;
  readonly healthCheckMs: number;
  private readonly links = new Map<string, PortLink>();

  constructor(
    readonly factory: PortFactory,
    private readonly opts: SerialportSerialOptions = {},
  ) {
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.random = opts.random ?? Math.random;
    this.maxQueued = opts.maxQueuedBytes ?? 64 * 1024;
    this.healthCheckMs = opts.healthCheckMs ?? (opts.binding === undefined ? 1000 : 0);
  }

  emitEvent(e: SerialEvent): void {
    this.opts.onEvent?.(e);
  }

  forget(link: PortLink): void {
    if (this.links.get(link.port) === link) this.links.delete(link.port);
  }

  async open(opts: SerialOpenOptions, onFrame: (frame: Uint8Array) => void): Promise<SerialLink> {
    if (this.links.has(opts.port)) throw busyError(opts.port);
    const link = new PortLink(this, opts.port, opts.baud, opts, onFrame);
    this.links.set(opts.port, link);
    const err = await link.tryOpen();
    if (err) {
      const gerr = openError(opts.port, opts.baud, err);
      if (this.opts.waitForPort && gerr.code === 'SERIAL_PORT_NOT_FOUND') {
        link.scheduleReopen();
        return link;
      }
      this.links.delete(opts.port);
      throw gerr;
    }
    this.emitEvent({ type: 'open', port: opts.port });
    return link;
  }

  get(port: string): SerialLink | undefined {
    return this.links.get(port);
  }

  async close(): Promise<void> {
    await Promise.all([...this.links.values()].map((l) => l.close()));
  }
}

/** Loads serialport (and its native binding) only when a real board needs it. */
export async function createSerialportSerial(opts: SerialportSerialOptions = {}): Promise<SerialportSerial> {
  const { SerialPort } = await import('serialport');
  const binding = opts.binding;
  const factory: PortFactory = (path, baudRate) => {
    const o: Record<string, unknown> = { path, baudRate, autoOpen: false };
    if (binding !== undefined) o.binding = binding;
    return new SerialPort(o as unknown as ConstructorParameters<typeof SerialPort>[0]) as unknown as PortStream;
  };
  return new SerialportSerial(factory, opts);
}
