import { GatewayError } from './errors.js';
import { parseTelemetryChannel, type TelemetryChannel } from './telemetry-channel.js';
import { clip, echo } from './echo.js';
import { isObj, type Obj } from './data.js';
import type { RestartType } from './supervision/types.js';

/**
 * The component manifest (contract section 2), normalised: every optional key filled with its
 * default, names in camelCase for code. `parseManifest` accepts the YAML/JSON shape (kebab-case keys)
 * and reports the first mistake as one line naming the key path and the fix.
 */

export type { TelemetryChannel } from './telemetry-channel.js';

export type Edge = 'rising' | 'falling' | 'both';
export type Framing = { kind: 'line' } | { kind: 'bytes' } | { kind: 'delimiter'; delimiter: Uint8Array };

export interface GpioWatch {
  pin: number;
  edge: Edge;
  debounceMs: number;
}

export interface SerialGrant {
  port: string;
  baud: number;
  framing: Framing;
  /** The framing exactly as written (`line`, `bytes`, `delimiter:0d0a`), for audit and display. */
  framingText: string;
}

export interface Capabilities {
  gpio: { read: number[]; write: number[]; watch: GpioWatch[] };
  serial: SerialGrant[];
  /** Channel names (what grants check), `*` included. */
  telemetry: string[];
  /** The same channels with what the manifest says about them (unit, classes); no `*`. */
  channels: TelemetryChannel[];
  messaging: { send: string[]; receive: string[] };
  config: Record<string, string>;
  /** `storage: { max-bytes, max-keys }` (world 0.2.0): the bucket's quota; absent: no storage. */
  storage?: StorageQuota;
  /** `i2c: [{ bus, address }]` (world 0.2.0). */
  i2c?: I2cGrant[];
  /** `spi: [{ bus, chip-select, speed-hz, mode }]` (world 0.2.0). */
  spi?: SpiGrant[];
}

export interface I2cGrant {
  bus: number;
  /** 7-bit address, 0x03-0x77. */
  address: number;
}

export interface SpiGrant {
  bus: number;
  chipSelect: number;
  speedHz: number;
  /** SPI mode 0-3 (CPOL/CPHA). */
  mode: number;
}

/** An I2C address written as an integer or as a "0x76" string. */
export function parseI2cAddress(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^0x[0-9a-fA-F]{1,2}$/.test(v)) return parseInt(v.slice(2), 16);
  if (typeof v === 'string' && /^\d{1,3}$/.test(v)) return Number(v);
  return undefined;
}

export const hex2 = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;

/** A storage bucket's quota: bytes count every key (UTF-8) plus every value. */
export interface StorageQuota {
  maxBytes: number;
  maxKeys: number;
}

/** Largest quota a manifest may ask for (a role may cap it lower). */
export const MAX_STORAGE_BYTES = 64 * 1024 * 1024;
export const MAX_STORAGE_KEYS = 1_000_000;

export interface Limits {
  memoryMb: number;
  fuel: number;
  mailbox: number;
  /** Wall-clock deadline per event; an overrun is recorded (and ends a worker-isolated event). */
  deadlineMs: number;
}

export interface RestartSpec {
  policy: RestartType;
  intensity: number;
  periodMs: number;
}

export interface Manifest {
  name: string;
  version: string;
  tickMs: number | undefined;
  capabilities: Capabilities;
  limits: Limits;
  restart: RestartSpec;
  isolation: 'inline' | 'worker';
}

export const DEFAULT_LIMITS: Limits = { memoryMb: 16, fuel: 50_000_000, mailbox: 1000, deadlineMs: 1000 };
export const DEFAULT_RESTART: RestartSpec = { policy: 'permanent', intensity: 5, periodMs: 60_000 };

const NAME_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;
const SEMVER_RE = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

export function manifestError(path: string, problem: string, fix: string): GatewayError {
  return new GatewayError('INVALID_MANIFEST', `manifest ${clip(path, 160)}: ${problem}; ${fix}`);
}


function checkKeys(o: Obj, path: string, allowed: string[]): void {
  for (const key of Object.keys(o)) {
    if (!allowed.includes(key)) {
      throw manifestError(`${path}${path ? '.' : ''}${clip(key)}`, 'unknown key', `use one of: ${allowed.join(', ')}`);
    }
  }
}

function int(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw manifestError(path, `expected an integer from ${min} to ${max}, got ${echo(v)}`, 'correct the number');
  }
  return v;
}

function str(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.length === 0) throw manifestError(path, `expected a non-empty string, got ${echo(v)}`, 'write it as text');
  return v;
}

function list<T>(v: unknown, path: string, each: (item: unknown, path: string) => T): T[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw manifestError(path, `expected a list, got ${echo(v)}`, 'write it as [a, b]');
  return v.map((item, i) => each(item, `${path}[${i}]`));
}

const pinOf = (v: unknown, path: string) => int(v, path, 0, 1023);

export function parseFraming(text: string, path: string): Framing {
  if (text === 'line') return { kind: 'line' };
  if (text === 'bytes') return { kind: 'bytes' };
  const m = /^delimiter:((?:[0-9a-fA-F]{2})+)$/.exec(text);
  if (m) return { kind: 'delimiter', delimiter: Uint8Array.from(Buffer.from(m[1]!, 'hex')) };
  throw manifestError(path, `unknown framing ${echo(text)}`, 'use line, bytes or delimiter:<hex bytes>, e.g. delimiter:0d0a');
}

function parseCapabilities(v: unknown, path: string): Capabilities {
  const caps: Capabilities = {
    gpio: { read: [], write: [], watch: [] },
    serial: [],
    telemetry: [],
    channels: [],
    messaging: { send: [], receive: [] },
    config: {},
  };
  if (v === undefined || v === null) return caps;
  if (!isObj(v)) throw manifestError(path, 'expected a mapping', 'write capabilities as keys gpio, serial, telemetry, messaging, config, storage');
  checkKeys(v, path, ['gpio', 'serial', 'telemetry', 'messaging', 'config', 'storage', 'i2c', 'spi']);
  if (v.i2c !== undefined && v.i2c !== null) {
    caps.i2c = list(v.i2c, `${path}.i2c`, (d, p) => {
      if (!isObj(d)) throw manifestError(p, 'expected { bus, address }', 'write e.g. { bus: 1, address: 0x76 }');
      checkKeys(d, p, ['bus', 'address']);
      const address = parseI2cAddress(d.address);
      if (address === undefined || address < 0x03 || address > 0x77) throw manifestError(`${p}.address`, `expected a 7-bit address from 0x03 to 0x77, got ${echo(d.address)}`, 'write it as 0x76 or "0x76"');
      return { bus: int(d.bus, `${p}.bus`, 0, 255), address };
    });
  }
  if (v.spi !== undefined && v.spi !== null) {
    caps.spi = list(v.spi, `${path}.spi`, (d, p) => {
      if (!isObj(d)) throw manifestError(p, 'expected { bus, chip-select, speed-hz, mode }', 'write e.g. { bus: 0, chip-select: 0, speed-hz: 1000000, mode: 0 }');
      checkKeys(d, p, ['bus', 'chip-select', 'speed-hz', 'mode']);
      return {
        bus: int(d.bus, `${p}.bus`, 0, 255),
        chipSelect: int(d['chip-select'], `${p}.chip-select`, 0, 255),
        speedHz: d['speed-hz'] === undefined ? 1_000_000 : int(d['speed-hz'], `${p}.speed-hz`, 1, 125_000_000),
        mode: d.mode === undefined ? 0 : int(d.mode, `${p}.mode`, 0, 3),
      };
    });
  }
  if (v.storage !== undefined && v.storage !== null) {
    if (!isObj(v.storage)) throw manifestError(`${path}.storage`, 'expected a mapping', 'write e.g. { max-bytes: 65536, max-keys: 256 }');
    checkKeys(v.storage, `${path}.storage`, ['max-bytes', 'max-keys']);
    caps.storage = {
      maxBytes: v.storage['max-bytes'] === undefined ? 65_536 : int(v.storage['max-bytes'], `${path}.storage.max-bytes`, 1, MAX_STORAGE_BYTES),
      maxKeys: v.storage['max-keys'] === undefined ? 256 : int(v.storage['max-keys'], `${path}.storage.max-keys`, 1, MAX_STORAGE_KEYS),
    };
  }
  if (v.gpio !== undefined) {
    if (!isObj(v.gpio)) throw manifestError(`${path}.gpio`, 'expected a mapping', 'use keys read, write, watch');
    checkKeys(v.gpio, `${path}.gpio`, ['read', 'write', 'watch']);
    caps.gpio.read = list(v.gpio.read, `${path}.gpio.read`, pinOf);
    caps.gpio.write = list(v.gpio.write, `${path}.gpio.write`, pinOf);
    caps.gpio.watch = list(v.gpio.watch, `${path}.gpio.watch`, (w, p) => {
      if (typeof w === 'number') return { pin: pinOf(w, p), edge: 'both' as Edge, debounceMs: 0 };
      if (!isObj(w)) throw manifestError(p, 'expected { pin, edge, debounce-ms }', 'write e.g. { pin: 17, edge: both, debounce-ms: 20 }');
      checkKeys(w, p, ['pin', 'edge', 'debounce-ms']);
      const edge = w.edge ?? 'both';
      if (edge !== 'rising' && edge !== 'falling' && edge !== 'both') {
        throw manifestError(`${p}.edge`, `unknown edge ${echo(edge)}`, 'use rising, falling or both');
      }
      return { pin: pinOf(w.pin, `${p}.pin`), edge, debounceMs: w['debounce-ms'] === undefined ? 0 : int(w['debounce-ms'], `${p}.debounce-ms`, 0, 60_000) };
    });
  }
  caps.serial = list(v.serial, `${path}.serial`, (s, p) => {
    if (!isObj(s)) throw manifestError(p, 'expected { port, baud, framing }', 'write e.g. { port: /dev/ttyUSB0, baud: 9600, framing: line }');
    checkKeys(s, p, ['port', 'baud', 'framing']);
    const framingText = s.framing === undefined ? 'line' : str(s.framing, `${p}.framing`);
    return {
      port: str(s.port, `${p}.port`),
      baud: s.baud === undefined ? 9600 : int(s.baud, `${p}.baud`, 50, 4_000_000),
      framing: parseFraming(framingText, `${p}.framing`),
      framingText,
    };
  });
  const channels = list(v.telemetry, `${path}.telemetry`, parseTelemetryChannel);
  caps.telemetry = channels.map((c) => c.name);
  caps.channels = channels.filter((c) => c.name !== '*');
  if (v.messaging !== undefined) {
    if (!isObj(v.messaging)) throw manifestError(`${path}.messaging`, 'expected a mapping', 'use keys send and receive');
    checkKeys(v.messaging, `${path}.messaging`, ['send', 'receive']);
    caps.messaging.send = list(v.messaging.send, `${path}.messaging.send`, str);
    caps.messaging.receive = list(v.messaging.receive, `${path}.messaging.receive`, str);
  }
  if (v.config !== undefined) {
    if (!isObj(v.config)) throw manifestError(`${path}.config`, 'expected a mapping of key: value', 'write e.g. { setpoint: "21.5" }');
    for (const [k, val] of Object.entries(v.config)) {
      if (typeof val !== 'string' && typeof val !== 'number' && typeof val !== 'boolean') {
        throw manifestError(`${path}.config.${clip(k)}`, 'expected a scalar value', 'quote it as a string');
      }
      // defineProperty: a key named __proto__ is a key like any other, not the object's prototype.
      Object.defineProperty(caps.config, k, { value: String(val), enumerable: true, writable: true, configurable: true });
    }
  }
  return caps;
}

/** Validates a manifest object (parsed from YAML or JSON). Throws GatewayError INVALID_MANIFEST. */
export function parseManifest(raw: unknown): Manifest {
  if (!isObj(raw)) throw manifestError('(root)', 'expected a mapping', 'start the file with `name:` and `version:`');
  checkKeys(raw, '', ['name', 'version', 'tick-ms', 'capabilities', 'limits', 'restart', 'isolation']);
  const name = str(raw.name, 'name');
  if (!NAME_RE.test(name)) throw manifestError('name', `${echo(name)} is not a valid component name`, 'use lowercase letters, digits and -, starting with a letter or digit, at most 64 characters');
  const version = str(typeof raw.version === 'number' ? String(raw.version) : raw.version, 'version');
  if (!SEMVER_RE.test(version)) throw manifestError('version', `${echo(version)} is not semver`, 'write it as MAJOR.MINOR.PATCH, e.g. 1.0.0');
  const tickMs = raw['tick-ms'] === undefined || raw['tick-ms'] === null ? undefined : int(raw['tick-ms'], 'tick-ms', 1, 86_400_000);
  const limits = { ...DEFAULT_LIMITS };
  if (raw.limits !== undefined) {
    if (!isObj(raw.limits)) throw manifestError('limits', 'expected a mapping', 'use keys memory-mb, fuel, mailbox, deadline-ms');
    checkKeys(raw.limits, 'limits', ['memory-mb', 'fuel', 'mailbox', 'deadline-ms']);
    if (raw.limits['memory-mb'] !== undefined) limits.memoryMb = int(raw.limits['memory-mb'], 'limits.memory-mb', 1, 4096);
    if (raw.limits.fuel !== undefined) limits.fuel = int(raw.limits.fuel, 'limits.fuel', 1000, Number.MAX_SAFE_INTEGER);
    if (raw.limits.mailbox !== undefined) limits.mailbox = int(raw.limits.mailbox, 'limits.mailbox', 1, 1_000_000);
    if (raw.limits['deadline-ms'] !== undefined) limits.deadlineMs = int(raw.limits['deadline-ms'], 'limits.deadline-ms', 1, 600_000);
  }
  const restart = { ...DEFAULT_RESTART };
  if (raw.restart !== undefined) {
    if (!isObj(raw.restart)) throw manifestError('restart', 'expected a mapping', 'use keys policy, intensity, period-ms');
    checkKeys(raw.restart, 'restart', ['policy', 'intensity', 'period-ms']);
    const policy = raw.restart.policy ?? 'permanent';
    if (policy !== 'permanent' && policy !== 'transient' && policy !== 'temporary') {
      throw manifestError('restart.policy', `unknown policy ${echo(policy)}`, 'use permanent, transient or temporary');
    }
    restart.policy = policy;
    if (raw.restart.intensity !== undefined) restart.intensity = int(raw.restart.intensity, 'restart.intensity', 0, 1_000_000);
    if (raw.restart['period-ms'] !== undefined) restart.periodMs = int(raw.restart['period-ms'], 'restart.period-ms', 1, 86_400_000);
  }
  const isolation = raw.isolation ?? 'inline';
  if (isolation !== 'inline' && isolation !== 'worker') throw manifestError('isolation', `unknown isolation ${echo(isolation)}`, 'use inline or worker');
  return { name, version, tickMs, capabilities: parseCapabilities(raw.capabilities, 'capabilities'), limits, restart, isolation };
}
