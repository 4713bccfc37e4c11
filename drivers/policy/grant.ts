import type { GpioWatch, Manifest, SerialGrant, SpiGrant, StorageQuota } from '../../runtime/manifest.js';
import { filterProblem, topicMatches } from './topics.js';

/**
 * A manifest's capabilities compiled for the hot path: pins are byte maps indexed by pin number
 * (one array load per check), channels and ports are Sets, messaging filters are split into exact
 * topics (a Set) and wildcard filters whose verdicts are memoised in a bounded cache.
 */
export interface Grant {
  readonly component: string;
  readonly version: string;
  /** 1 where `gpio.read` is allowed: the read pins plus the write and watch pins (reading back an output or a watched input reveals nothing new). */
  readonly gpioRead: Uint8Array;
  readonly gpioWrite: Uint8Array;
  readonly gpioWatch: Uint8Array;
  /** Output pins, for claiming at device acquisition. */
  readonly outputPins: readonly number[];
  /** Watches as declared, for acquisition. */
  readonly watches: readonly GpioWatch[];
  readonly serial: ReadonlyMap<string, SerialGrant>;
  readonly telemetryAll: boolean;
  readonly telemetry: ReadonlySet<string>;
  readonly send: TopicAcl;
  readonly receive: TopicAcl;
  readonly config: ReadonlyMap<string, string>;
  /** The bucket quota; undefined: no storage. */
  readonly storage: StorageQuota | undefined;
  /** Granted I2C devices, keyed `busKey(bus, address)` (a number: no string per call). */
  readonly i2c: ReadonlySet<number>;
  /** Granted SPI chip selects, keyed `busKey(bus, chip-select)`, with the manifest's speed and mode. */
  readonly spi: ReadonlyMap<number, SpiGrant>;
}

export const MAX_PIN = 1023;

/** A bus number and a device on it (address, chip select) as one number; -1 when out of range. */
export const busKey = (bus: number, device: number): number => (bus >= 0 && bus <= 255 && device >= 0 && device <= 0xffff ? bus * 65536 + device : -1);

/** Filters compiled for repeated checks of concrete topics. */
export class TopicAcl {
  private readonly exact = new Set<string>();
  private readonly wild: string[] = [];
  private readonly cache = new Map<string, boolean>();
  constructor(
    readonly filters: readonly string[],
    private readonly cacheSize = 1024,
  ) {
    for (const f of filters) {
      if (filterProblem(f) !== undefined) continue; // malformed filters grant nothing
      if (f.includes('+') || f.includes('#')) this.wild.push(f);
      else this.exact.add(f);
    }
  }
  allows(topic: string): boolean {
    if (this.exact.has(topic)) return true;
    if (this.wild.length === 0) return false;
    const hit = this.cache.get(topic);
    if (hit !== undefined) return hit;
    const ok = this.wild.some((f) => topicMatches(f, topic));
    // Bounded: a component sending to endless distinct topics cannot grow the cache.
    if (this.cache.size >= this.cacheSize) this.cache.clear();
    this.cache.set(topic, ok);
    return ok;
  }
}

function pinMap(pins: Iterable<number>): Uint8Array {
  const m = new Uint8Array(MAX_PIN + 1);
  for (const p of pins) if (Number.isInteger(p) && p >= 0 && p <= MAX_PIN) m[p] = 1;
  return m;
}

export function compileGrant(manifest: Manifest): Grant {
  const c = manifest.capabilities;
  const watchPins = c.gpio.watch.map((w) => w.pin);
  return {
    component: manifest.name,
    version: manifest.version,
    gpioRead: pinMap([...c.gpio.read, ...c.gpio.write, ...watchPins]),
    gpioWrite: pinMap(c.gpio.write),
    gpioWatch: pinMap(watchPins),
    outputPins: [...new Set(c.gpio.write)],
    watches: c.gpio.watch.map((w) => ({ ...w })),
    serial: new Map(c.serial.map((s) => [s.port, s])),
    telemetryAll: c.telemetry.includes('*'),
    telemetry: new Set(c.telemetry.filter((t) => t !== '*')),
    send: new TopicAcl(c.messaging.send),
    receive: new TopicAcl(c.messaging.receive),
    config: new Map(Object.entries(c.config)),
    storage: c.storage ? { ...c.storage } : undefined,
    i2c: new Set((c.i2c ?? []).map((d) => busKey(d.bus, d.address))),
    spi: new Map((c.spi ?? []).map((d) => [busKey(d.bus, d.chipSelect), { ...d }])),
  };
}
