import { GatewayError, HostCallError } from '../runtime/errors.js';
import { refusal } from './refusal.js';
import type { HostApi, LogLevel } from '../runtime/host-api.js';
export { refusal } from './refusal.js';
import type { Board } from './board.js';
import type { Audit } from './pipeline/audit.js';
import type { Grant } from './pipeline/grant.js';
import { ComponentMetrics, Metrics } from './pipeline/metrics.js';
import { RateLimiter, type RateLimits } from './pipeline/rate-limit.js';
import { topicProblem } from './pipeline/topics.js';
import type { SerialLink } from './serial/types.js';
import { MAX_SERIAL_WRITE_BYTES } from './serial/types.js';

/**
 * The host functions of one component, as a pipeline: validate arguments → check the grant →
 * take a rate-limit token → count → run the driver. Every refusal is a HostCallError the guest
 * sees as `err(host-error)`; denials are also written to the audit log. The allowed path touches
 * only byte maps, a token counter and a metrics field, never the audit log.
 */

export const MAX_JSON_BYTES = 64 * 1024;
export const MAX_MESSAGE_BYTES = 256 * 1024;
export const MAX_LOG_CHARS = 8 * 1024;
const CHANNEL_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const LEVELS: ReadonlySet<string> = new Set(['trace', 'debug', 'info', 'warn', 'error']);

export type TelemetrySample = { value: number } | { json: unknown };

/** Where allowed calls end up (the MQTT/telemetry layer and the gateway log provide these). */
export interface HostSinks {
  telemetry(channel: string, sample: TelemetrySample): void;
  message(topic: string, payload: Uint8Array): void;
  log(level: LogLevel, message: string): void;
}

export interface ComponentId {
  name: string;
  version: string;
}

export interface HostServicesOptions {
  component: ComponentId;
  grant: Grant;
  board: Board;
  /** Limits (a fresh set of buckets is made for this component) or a shared limiter. */
  rateLimits?: RateLimits | RateLimiter;
  audit?: Audit;
  /** The gateway's Metrics (this component's entry is used) or one component's counters. */
  metrics?: Metrics | ComponentMetrics;
  sinks: HostSinks;
  /** Values `host.config` returns; default the grant's (manifest `capabilities.config`). */
  config?: Record<string, string> | ReadonlyMap<string, string>;
  /** This component's open devices (from acquireDevices); serial writes look here first. */
  devices?: DeviceLease;
  /** Wall clock for now-ms; default Date.now. */
  now?: () => number;
}

function hostError(err: unknown, what: string): HostCallError {
  if (err instanceof HostCallError) return err;
  return refusal('io', `${what}: ${err instanceof Error ? err.message : String(err)}`);
}

export function createHostApi(opts: HostServicesOptions): HostApi {
  const { component, grant, board, audit, sinks } = opts;
  const m = opts.metrics instanceof ComponentMetrics ? opts.metrics : (opts.metrics ?? new Metrics()).for(component.name);
  const limiter = opts.rateLimits instanceof RateLimiter ? opts.rateLimits : new RateLimiter(opts.rateLimits);
  const gpioBucket = limiter.gpio;
  const serialBucket = limiter.serial;
  const telemetryBucket = limiter.telemetry;
  const messagingBucket = limiter.messaging;
  const logBucket = limiter.log;
  const gpio = board.gpio;
  const pinMin = gpio.pins.min;
  const pinMax = gpio.pins.max;
  const readable = grant.gpioRead;
  const writable = grant.gpioWrite;
  const config: ReadonlyMap<string, string> = opts.config === undefined ? grant.config : opts.config instanceof Map ? opts.config : new Map(Object.entries(opts.config as Record<string, string>));
  const now = opts.now ?? Date.now;

  const invalid = (msg: string): never => {
    m.invalid++;
    throw refusal('invalid', msg);
  };
  const deny = (op: string, target: string, missing: string): never => {
    m.denied++;
    audit?.denied({ component: component.name, version: component.version, op, target, reason: `missing capability ${missing}` });
    throw refusal('denied', `missing capability ${missing}`);
  };
  const limited = (cls: 'gpio' | 'serial' | 'telemetry' | 'messaging'): never => {
    m.limited++;
    throw refusal('limited', limiter.limitText(cls));
  };
  const failed = (err: unknown, what: string): never => {
    const e = hostError(err, what);
    if (e.tag === 'io') m.errors++;
    throw e;
  };
  const checkPin = (pin: number): void => {
    // `pin` comes from a u32; still guard NaN/fractions in case a caller bypasses the WIT glue.
    if (!(pin >= pinMin && pin <= pinMax) || Math.floor(pin) !== pin) invalid(`pin ${pin} is outside the ${board.kind} board (${pinMin}-${pinMax})`);
  };
  const checkChannel = (channel: string): void => {
    if (typeof channel !== 'string' || !CHANNEL_RE.test(channel)) invalid(`channel ${JSON.stringify(channel)} is not a valid name (letters, digits, _ . -, at most 64)`);
    if (!grant.telemetryAll && !grant.telemetry.has(channel)) deny('telemetry.publish', channel, `telemetry channel ${channel}`);
  };

  return {
    gpioRead(pin: number): boolean {
      if (!(pin >= pinMin && pin <= pinMax) || Math.floor(pin) !== pin) checkPin(pin);
      if (readable[pin] !== 1) deny('gpio.read', `pin ${pin}`, `gpio.read pin ${pin}`);
      if (gpioBucket !== undefined && !gpioBucket.take()) limited('gpio');
      m.gpio++;
      try {
        return gpio.read(pin);
      } catch (err) {
        return failed(err, `gpio.read pin ${pin}`);
      }
    },

    gpioWrite(pin: number, value: boolean): void {
      checkPin(pin);
      if (writable[pin] !== 1) deny('gpio.write', `pin ${pin}`, `gpio.write pin ${pin}`);
      if (typeof value !== 'boolean') invalid(`gpio value must be a boolean, got ${typeof value}`);
      if (gpioBucket !== undefined && !gpioBucket.take()) limited('gpio');
      m.gpio++;
      try {
        gpio.write(pin, value);
      } catch (err) {
        failed(err, `gpio.write pin ${pin}`);
      }
    },

    serialWrite(port: string, data: Uint8Array): number {
      if (typeof port !== 'string' || port.length === 0 || port.length > 256) invalid(`serial port ${JSON.stringify(port)} is not a port path`);
      if (!(data instanceof Uint8Array)) invalid('serial data must be bytes');
      if (!grant.serial.has(port)) deny('serial.write', port, `serial port ${port}`);
      if (data.length > MAX_SERIAL_WRITE_BYTES) invalid(`serial write of ${data.length} bytes exceeds ${MAX_SERIAL_WRITE_BYTES}; split it`);
      if (serialBucket !== undefined && !serialBucket.take()) limited('serial');
      m.serial++;
      const link: SerialLink | undefined = opts.devices?.serial.get(port) ?? board.serial.get(port);
      if (!link) return invalid(`serial port ${port} is not open`);
      if (data.length === 0) return 0;
      try {
        return link.write(data);
      } catch (err) {
        return failed(err, `serial.write ${port}`);
      }
    },

    publish(channel: string, value: number): void {
      checkChannel(channel);
      if (typeof value !== 'number' || !Number.isFinite(value)) invalid(`telemetry value must be a finite number, got ${String(value)}`);
      if (telemetryBucket !== undefined && !telemetryBucket.take()) limited('telemetry');
      m.telemetry++;
      try {
        sinks.telemetry(channel, { value });
      } catch (err) {
        failed(err, `telemetry.publish ${channel}`);
      }
    },

    publishJson(channel: string, json: string): void {
      checkChannel(channel);
      if (typeof json !== 'string') invalid('publish-json needs a JSON string');
      // Cheap bound first: UTF-8 is never shorter than the UTF-16 length / 1... so check chars, then bytes.
      if (json.length > MAX_JSON_BYTES || Buffer.byteLength(json, 'utf8') > MAX_JSON_BYTES) invalid(`JSON is larger than ${MAX_JSON_BYTES} bytes`);
      let parsed: unknown;
      try {
        parsed = JSON.parse(json);
      } catch (err) {
        invalid(`JSON does not parse: ${(err as Error).message}`);
      }
      if (telemetryBucket !== undefined && !telemetryBucket.take()) limited('telemetry');
      m.telemetry++;
      try {
        sinks.telemetry(channel, { json: parsed });
      } catch (err) {
        failed(err, `telemetry.publish-json ${channel}`);
      }
    },

    send(topic: string, payload: Uint8Array): void {
      const problem = topicProblem(topic);
      if (problem) invalid(problem);
      if (!(payload instanceof Uint8Array)) invalid('message payload must be bytes');
      if (payload.length > MAX_MESSAGE_BYTES) invalid(`message payload of ${payload.length} bytes exceeds ${MAX_MESSAGE_BYTES}`);
      if (!grant.send.allows(topic)) deny('messaging.send', topic, `messaging.send ${topic}`);
      if (messagingBucket !== undefined && !messagingBucket.take()) limited('messaging');
      m.messaging++;
      try {
        // Copy: guest memory may change once the call returns, and the sink may queue the payload.
        sinks.message(topic, payload.slice());
      } catch (err) {
        failed(err, `messaging.send ${topic}`);
      }
    },

    log(level: LogLevel, message: string): void {
      // `log` has no result in WIT: a throw would trap the guest, so every refusal is a silent drop.
      if (logBucket !== undefined && !logBucket.take()) {
        m.limited++;
        return;
      }
      m.log++;
      const lvl: LogLevel = LEVELS.has(level) ? level : 'info';
      let msg = typeof message === 'string' ? message : String(message);
      if (msg.length > MAX_LOG_CHARS) msg = `${msg.slice(0, MAX_LOG_CHARS)}… (${msg.length - MAX_LOG_CHARS} more characters dropped)`;
      try {
        sinks.log(lvl, msg);
      } catch {
        m.errors++;
      }
    },

    nowMs(): bigint {
      return BigInt(Math.floor(now()));
    },

    config(key: string): string | undefined {
      return typeof key === 'string' ? config.get(key) : undefined;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Devices: the serial ports and GPIO watches a component holds while it runs.

export interface DeviceCallbacks {
  /** A frame from one of the component's ports (becomes an on-serial event). */
  onSerial(port: string, frame: Uint8Array): void;
  /** A debounced edge on a watched pin (becomes an on-gpio event). */
  onGpio(pin: number, value: boolean, atMs: number): void;
  /** A callback threw; the device keeps running. Default: ignored. */
  onError?(err: unknown): void;
}

export interface DeviceLease {
  readonly component: ComponentId;
  readonly serial: ReadonlyMap<string, SerialLink>;
  readonly outputs: readonly number[];
  readonly watches: readonly number[];
  readonly released: boolean;
}

interface LeaseState extends DeviceLease {
  serial: Map<string, SerialLink>;
  unwatch: Array<() => void>;
  outputs: number[];
  watches: number[];
  released: boolean;
  board: Board;
  audit: Audit | undefined;
}

export interface AcquireOptions {
  component: ComponentId;
  grant: Grant;
  board: Board;
  callbacks: DeviceCallbacks;
  audit?: Audit;
  /** Frame buffer bound per port; default 4096. */
  maxFrameBytes?: number;
}

/**
 * Claims the component's output pins, opens its serial ports and starts its GPIO watches, each
 * audited as `granted`. On any failure everything taken so far is released and a GatewayError
 * (one line: unknown port, refused baud, pin outside the board, output owned by another) is thrown.
 */
export async function acquireDevices(opts: AcquireOptions): Promise<DeviceLease> {
  const { component, grant, board, callbacks, audit } = opts;
  const lease: LeaseState = { component, serial: new Map(), unwatch: [], outputs: [], watches: [], released: false, board, audit };
  const who = { component: component.name, version: component.version };
  const guard = <A extends unknown[]>(fn: (...a: A) => void) => (...a: A) => {
    try {
      fn(...a);
    } catch (err) {
      callbacks.onError?.(err);
    }
  };
  const { min, max } = board.gpio.pins;
  const inRange = (pin: number, what: string) => {
    if (pin < min || pin > max) throw new GatewayError('GPIO_PIN_OUT_OF_RANGE', `component ${component.name}: ${what} pin ${pin} is outside the ${board.kind} board (${min}-${max}); correct the manifest`);
  };
  try {
    for (const pin of grant.outputPins) inRange(pin, 'gpio.write');
    for (const w of grant.watches) inRange(w.pin, 'gpio.watch');
    board.claims.claim(component.name, grant.outputPins);
    for (const pin of grant.outputPins) {
      lease.outputs.push(pin);
      audit?.granted({ ...who, op: 'gpio.output', target: `pin ${pin}` });
    }
    for (const s of grant.serial.values()) {
      const onFrame = guard((frame: Uint8Array) => callbacks.onSerial(s.port, frame));
      const link = await board.serial.open({ port: s.port, baud: s.baud, framing: s.framing, ...(opts.maxFrameBytes ? { maxFrameBytes: opts.maxFrameBytes } : {}) }, onFrame);
      lease.serial.set(s.port, link);
      audit?.granted({ ...who, op: 'serial.open', target: s.port, reason: `baud ${s.baud}, framing ${s.framingText}` });
    }
    for (const w of grant.watches) {
      let unwatch: () => void;
      try {
        unwatch = board.gpio.watch(w.pin, w.edge, w.debounceMs, guard((value: boolean, atMs: number) => callbacks.onGpio(w.pin, value, atMs)));
      } catch (err) {
        throw new GatewayError('GPIO_WATCH_FAILED', `component ${component.name}: cannot watch pin ${w.pin}: ${err instanceof HostCallError ? err.payload.val : (err as Error).message}`, { cause: err });
      }
      lease.unwatch.push(unwatch);
      lease.watches.push(w.pin);
      audit?.granted({ ...who, op: 'gpio.watch', target: `pin ${w.pin}`, reason: `edge ${w.edge}, debounce ${w.debounceMs} ms` });
    }
  } catch (err) {
    await releaseDevices(lease);
    throw err;
  }
  return lease;
}

/** Stops watches, closes ports and frees output pins, each audited as `released`. Idempotent. */
export async function releaseDevices(lease: DeviceLease): Promise<void> {
  const l = lease as LeaseState;
  if (l.released) return;
  l.released = true;
  const who = { component: l.component.name, version: l.component.version };
  for (const u of l.unwatch) u();
  for (const pin of l.watches) l.audit?.released({ ...who, op: 'gpio.watch', target: `pin ${pin}` });
  for (const [port, link] of l.serial) {
    await link.close();
    l.audit?.released({ ...who, op: 'serial.open', target: port });
  }
  l.board.claims.release(l.component.name, l.outputs);
  for (const pin of l.outputs) l.audit?.released({ ...who, op: 'gpio.output', target: `pin ${pin}` });
}
