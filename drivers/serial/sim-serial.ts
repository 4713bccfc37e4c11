import { EventEmitter } from 'node:events';
import { GatewayError } from '../../runtime/errors.js';
import { refusal } from '../../runtime/errors.js';
import { Framer } from './framer.js';
import { busyError } from './errors.js';
import type { SerialDriver, SerialEvent, SerialLink, SerialLinkStats, SerialOpenOptions, SerialState } from './types.js';

export interface SimSerialDeviceSpec {
  /** Baud rates the device accepts; omitted: any. */
  bauds?: number[];
}

export interface SimSerialOptions {
  /**
   * The devices present. Omitted: any path under /dev/ is created on first open (handy for
   * `airssys run`); given: opening anything else fails with SERIAL_PORT_NOT_FOUND.
   */
  ports?: Record<string, SimSerialDeviceSpec>;
  /** Send queue per link; a write beyond it is partly accepted. Default 64 KiB. */
  maxQueuedBytes?: number;
}

interface Device {
  path: string;
  bauds: number[] | undefined;
  plugged: boolean;
  writes: Uint8Array[];
  link: SimLink | undefined;
}

class SimLink implements SerialLink {
  state: SerialState = 'open';
  readonly stats: SerialLinkStats;
  readonly framer: Framer;
  /** Bytes the simulated device has not "transmitted" yet; `drain` empties it. */
  queued = 0;
  constructor(
    private readonly owner: SimSerial,
    private readonly device: Device,
    readonly baud: number,
    onFrame: (f: Uint8Array) => void,
    opts: SerialOpenOptions,
    private readonly maxQueued: number,
  ) {
    this.framer = new Framer(opts.framing, onFrame, opts);
    this.stats = Object.assign(this.framer.stats, { bytesIn: 0, bytesOut: 0, reopens: 0, refusedBytes: 0 });
  }
  get port(): string {
    return this.device.path;
  }
  write(data: Uint8Array): number {
    if (this.state === 'closed') throw refusal('invalid', `serial port ${this.port} is not open`);
    if (this.state === 'reconnecting') throw refusal('io', `serial port ${this.port} is disconnected; the gateway is reopening it`);
    const n = Math.max(0, Math.min(data.length, this.maxQueued - this.queued));
    this.stats.refusedBytes += data.length - n;
    if (n === 0) return 0;
    this.device.writes.push(data.slice(0, n));
    this.queued += n;
    this.stats.bytesOut += n;
    return n;
  }
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.device.link === this) this.device.link = undefined;
    this.owner.emitEvent({ type: 'closed', port: this.port });
  }
}

/**
 * Simulated serial devices: a test pushes bytes "from the device" with `push` and reads what the
 * component wrote with `writes`/`written`; `unplug`/`plug` act like pulling a USB adapter.
 * Events (`SerialEvent`) come out as `event`.
 */
export class SimSerial extends EventEmitter implements SerialDriver {
  private readonly devices = new Map<string, Device>();
  private readonly strict: boolean;
  private readonly maxQueued: number;

  constructor(opts: SimSerialOptions = {}) {
    super();
    this.strict = opts.ports !== undefined;
    this.maxQueued = opts.maxQueuedBytes ?? 64 * 1024;
    for (const [path, spec] of Object.entries(opts.ports ?? {})) this.addDevice(path, spec);
  }

  addDevice(path: string, spec: SimSerialDeviceSpec = {}): void {
    if (this.devices.has(path)) return;
    this.devices.set(path, { path, bauds: spec.bauds, plugged: true, writes: [], link: undefined });
  }

  /** True if `open(path)` would find a device (now or, in lenient mode, on demand). */
  knows(path: string): boolean {
    return this.devices.has(path) || (!this.strict && path.startsWith('/dev/'));
  }

  emitEvent(e: SerialEvent): void {
    this.emit('event', e);
  }

  async open(opts: SerialOpenOptions, onFrame: (frame: Uint8Array) => void): Promise<SerialLink> {
    if (!this.devices.has(opts.port) && this.knows(opts.port)) this.addDevice(opts.port);
    const dev = this.devices.get(opts.port);
    if (!dev || !dev.plugged) {
      throw new GatewayError('SERIAL_PORT_NOT_FOUND', `serial port ${opts.port} does not exist on the simulated board; add it under board.options.serial.ports or correct the manifest`);
    }
    if (dev.bauds && !dev.bauds.includes(opts.baud)) {
      throw new GatewayError('SERIAL_BAUD_REFUSED', `serial port ${opts.port} refused baud ${opts.baud}; use one of ${dev.bauds.join(', ')}`);
    }
    if (dev.link) throw busyError(opts.port);
    const link = new SimLink(this, dev, opts.baud, onFrame, opts, this.maxQueued);
    dev.link = link;
    this.emitEvent({ type: 'open', port: opts.port });
    return link;
  }

  get(port: string): SerialLink | undefined {
    return this.devices.get(port)?.link;
  }

  private device(path: string): Device {
    const dev = this.devices.get(path);
    if (!dev) throw new Error(`no simulated serial device ${path}`);
    return dev;
  }

  /** The device sends bytes. Returns false when no one has the port open (bytes are lost, as on a wire). */
  push(path: string, data: Uint8Array | string): boolean {
    const dev = this.device(path);
    const link = dev.link;
    if (!dev.plugged || !link || link.state !== 'open') return false;
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    link.stats.bytesIn += bytes.length;
    link.framer.push(bytes);
    return true;
  }

  /** Each accepted write, in order. */
  writes(path: string): Uint8Array[] {
    return this.device(path).writes;
  }

  /** All accepted writes concatenated. */
  written(path: string): Buffer {
    return Buffer.concat(this.device(path).writes);
  }

  /** Lets the device "transmit" everything queued, freeing the send queue. */
  drain(path: string): void {
    const link = this.device(path).link;
    if (link) link.queued = 0;
  }

  unplug(path: string): void {
    const dev = this.device(path);
    dev.plugged = false;
    const link = dev.link;
    if (link && link.state === 'open') {
      link.state = 'reconnecting';
      link.framer.reset();
      link.queued = 0;
      this.emitEvent({ type: 'disconnected', port: path, reason: 'unplugged' });
    }
  }

  plug(path: string): void {
    const dev = this.device(path);
    dev.plugged = true;
    const link = dev.link;
    if (link && link.state === 'reconnecting') {
      link.state = 'open';
      link.stats.reopens++;
      this.emitEvent({ type: 'reopened', port: path, attempt: 1 });
    }
  }

  async close(): Promise<void> {
    for (const dev of this.devices.values()) await dev.link?.close();
    this.removeAllListeners();
  }
}
