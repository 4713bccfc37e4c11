import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Framer } from '../drivers/serial/framer.js';
import { topicMatches } from '../drivers/pipeline/topics.js';
import { GatewayError, HostCallError } from '../runtime/errors.js';
import type { HostApi, LogLevel } from '../runtime/host-api.js';
import { parseManifest, type Manifest } from '../runtime/manifest.js';
import type { WorldExport } from '../runtime/world.js';

/**
 * Unit-test a component against a simulated board, deterministically:
 *
 *   const c = await loadComponent('thermo.ts', { manifest: 'thermo.yaml' });
 *   c.init();
 *   c.serial('/dev/ttyUSB0', 'T=19.0,H=40\n');
 *   c.tick();
 *   expect(c.pin(22)).toBe(true);
 *   expect(c.last('temperature')).toBeCloseTo(19);
 *
 * Time is virtual (`nowMs` only moves when the test says so), GPIO debounce follows the manifest's
 * watch entries in that virtual time, serial bytes go through the gateway's own Framer with the
 * manifest's framing, and host calls are checked against the manifest's capabilities the way the
 * gateway checks them (a call outside them is `denied`). Components run on the real runtime (the
 * Engine: fuel metering and the memory limit apply), so `fuelUsed` in outcomes is real.
 */

export type Outcome =
  | { ok: true; fuelUsed: number }
  | { ok: false; kind: string; message: string; fuelUsed: number };

export interface TelemetrySample {
  channel: string;
  value?: number;
  json?: unknown;
  ts: number;
}

export interface LoadOptions {
  /** A manifest: path to YAML/JSON, YAML text, or the object. Default: every capability the component uses must be granted, so pass one. */
  manifest: string | Record<string, unknown> | Manifest;
  /** Virtual clock at the start (ms since the epoch). Default 1_700_000_000_000. */
  startMs?: number;
  /** Where the runtime caches prepared components. Default: a folder under the OS temp dir. */
  cacheDir?: string;
  /** Initial input levels, by BCM pin. */
  pins?: Record<number, boolean>;
}

interface Engineish {
  call(event: WorldExport, args: unknown[]): Outcome;
  memoryBytes(): number;
}

/**
 * THE SEAM to the runtime: everything the helper needs from it is "prepare these bytes, instantiate
 * with this HostApi, call one export". Swap this function to run components elsewhere.
 */
async function instantiateForTest(bytes: Uint8Array, api: HostApi, manifest: Manifest, cacheDir: string): Promise<Engineish> {
  const { Engine } = await import('../runtime/engine.js');
  const engine = new Engine({ cacheDir });
  const prepared = await engine.prepare(bytes, { memoryMb: manifest.limits.memoryMb });
  const instance = await prepared.instantiate(api, { fuel: manifest.limits.fuel });
  return {
    call: (event, args) => {
      const o = instance.call(event, args);
      return o.ok ? { ok: true, fuelUsed: o.fuelUsed } : { ok: false, kind: o.kind, message: o.message, fuelUsed: o.fuelUsed };
    },
    memoryBytes: () => instance.memoryBytes(),
  };
}

const builds = new Map<string, Promise<Uint8Array>>();

/** Reads a component from `.wasm`, or builds it from `.ts` (AssemblyScript) or `.wat`. */
export async function componentBytes(source: string | Uint8Array): Promise<Uint8Array> {
  if (typeof source !== 'string') return source;
  if (source.endsWith('.ts')) {
    // Tests load the same component many times: build once per source text in this process.
    const key = `${path.resolve(source)}\0${await readFile(source, 'utf8')}`;
    let built = builds.get(key);
    if (!built) {
      built = import('./build.js').then((b) => b.buildAssemblyScript(source));
      builds.set(key, built);
      built.catch(() => builds.delete(key));
    }
    return built;
  }
  if (source.endsWith('.wat')) return (await import('../runtime/build/wat.js')).buildWat(await readFile(source, 'utf8'));
  return new Uint8Array(await readFile(source));
}

async function manifestFrom(m: LoadOptions['manifest']): Promise<Manifest> {
  if (typeof m === 'string') {
    const text = /\n/.test(m) || !/\.(ya?ml|json)$/.test(m) ? m : await readFile(m, 'utf8');
    return parseManifest(parseYaml(text));
  }
  if ('capabilities' in m && 'limits' in m && 'restart' in m && typeof (m as Manifest).limits.memoryMb === 'number') return m as Manifest;
  return parseManifest(m);
}

/** Builds (if needed) and loads a component on a fresh simulated board. Does not call init. */
export async function loadComponent(source: string | Uint8Array, opts: LoadOptions): Promise<TestComponent> {
  const manifest = await manifestFrom(opts.manifest);
  const bytes = await componentBytes(source);
  const c = new TestComponent(manifest, opts.startMs ?? 1_700_000_000_000, opts.pins ?? {});
  c.attach(await instantiateForTest(bytes, c.hostApi, manifest, opts.cacheDir ?? path.join(tmpdir(), 'airssys-sdk-test-cache')));
  c.size = bytes.length;
  return c;
}

interface PendingEdge {
  pin: number;
  value: boolean;
  changedAt: number;
}

export class TestComponent {
  /** Virtual clock, ms since the epoch. */
  nowMs: number;
  size = 0;
  readonly telemetry: TelemetrySample[] = [];
  readonly logs: { level: LogLevel; message: string }[] = [];
  readonly sent: { topic: string; payload: Uint8Array }[] = [];
  readonly serialWritten: { port: string; data: Uint8Array }[] = [];
  /** Every host call refused, as `kind: message` (what the gateway writes to its audit log). */
  readonly refused: string[] = [];
  /** Every event delivered and how it ended. */
  readonly events: { event: WorldExport; outcome: Outcome }[] = [];
  readonly hostApi: HostApi;
  private instance: Engineish | undefined;
  private readonly levels = new Map<number, boolean>();
  private readonly settled = new Map<number, boolean>();
  private readonly pending = new Map<number, PendingEdge>();
  private readonly framers = new Map<string, { framer: Framer; queue: Uint8Array[] }>();
  private lastTickAt: number;

  constructor(readonly manifest: Manifest, startMs: number, pins: Record<number, boolean>) {
    this.nowMs = startMs;
    this.lastTickAt = startMs;
    for (const [pin, v] of Object.entries(pins)) {
      this.levels.set(Number(pin), v);
      this.settled.set(Number(pin), v);
    }
    this.hostApi = this.makeHostApi();
  }

  /** @internal */
  attach(instance: Engineish): void {
    this.instance = instance;
  }

  get tickMs(): number {
    return this.manifest.tickMs ?? 1000;
  }

  // ---- events ----------------------------------------------------------------------------------

  init(): Outcome {
    return this.deliver('init', []);
  }

  /** Advances the clock by one tick period (or `stepMs`) per tick and calls on-tick each time. */
  tick(n = 1, stepMs = this.tickMs): Outcome[] {
    const out: Outcome[] = [];
    for (let i = 0; i < n; i++) {
      this.advanceClock(this.nowMs + stepMs);
      this.lastTickAt = this.nowMs;
      out.push(this.deliver('on-tick', [BigInt(this.nowMs)]));
    }
    return out;
  }

  /** Moves virtual time on, delivering debounced GPIO edges and the ticks that fall due on the way. */
  advance(ms: number): Outcome[] {
    const end = this.nowMs + ms;
    const out: Outcome[] = [];
    if (this.manifest.tickMs !== undefined) {
      while (this.lastTickAt + this.tickMs <= end) {
        this.advanceClock(this.lastTickAt + this.tickMs);
        this.lastTickAt = this.nowMs;
        out.push(this.deliver('on-tick', [BigInt(this.nowMs)]));
      }
    }
    out.push(...this.advanceClock(end));
    return out;
  }

  /**
   * Sets an input level as the outside world would. When the manifest watches the pin, the change
   * reaches on-gpio once it has been stable for `debounce-ms` (at once when 0) and matches `edge`.
   */
  setPin(pin: number, value: boolean): Outcome[] {
    const prev = this.levels.get(pin) ?? false;
    this.levels.set(pin, value);
    const watch = this.manifest.capabilities.gpio.watch.find((w) => w.pin === pin);
    if (!watch || prev === value) return [];
    if (watch.debounceMs <= 0) return this.settle(pin, value, this.nowMs);
    this.pending.set(pin, { pin, value, changedAt: this.nowMs });
    return [];
  }

  /** A clean pulse: high for `highMs`, then low for `lowMs` (advancing the clock), `count` times. */
  pulse(pin: number, opts: { highMs?: number; lowMs?: number; count?: number; bounce?: number[] } = {}): Outcome[] {
    const out: Outcome[] = [];
    for (let i = 0; i < (opts.count ?? 1); i++) {
      for (const b of opts.bounce ?? []) {
        // Contact bounce: short flips before the level settles.
        out.push(...this.setPin(pin, true), ...this.advance(b), ...this.setPin(pin, false), ...this.advance(b));
      }
      out.push(...this.setPin(pin, true), ...this.advance(opts.highMs ?? 50));
      out.push(...this.setPin(pin, false), ...this.advance(opts.lowMs ?? 50));
    }
    return out;
  }

  /** Feeds bytes into a serial port: framed per the manifest, one on-serial per frame. */
  serial(port: string, data: string | Uint8Array): Outcome[] {
    const grant = this.manifest.capabilities.serial.find((s) => s.port === port);
    if (!grant) throw new GatewayError('USAGE', `the manifest does not open serial port ${port}; add it under capabilities.serial`);
    let entry = this.framers.get(port);
    if (!entry) {
      const queue: Uint8Array[] = [];
      entry = { framer: new Framer(grant.framing, (f) => queue.push(f.slice())), queue };
      this.framers.set(port, entry);
    }
    // Framer calls back synchronously from push: collect the frames, then deliver them in order.
    entry.framer.push(typeof data === 'string' ? new TextEncoder().encode(data) : data);
    const frames = entry.queue.splice(0);
    return frames.map((f) => this.deliver('on-serial', [port, f]));
  }

  /** Delivers a command message (topic relative to cmd/<name>/), if messaging.receive allows it. */
  message(topic: string, payload: string | Uint8Array): Outcome | undefined {
    if (!this.manifest.capabilities.messaging.receive.some((f) => topicMatches(f, topic))) return undefined;
    return this.deliver('on-message', [topic, typeof payload === 'string' ? new TextEncoder().encode(payload) : payload]);
  }

  // ---- observations ----------------------------------------------------------------------------

  /** The level of a pin now (an output the component drove, or an input the test set). */
  pin(pin: number): boolean {
    return this.levels.get(pin) ?? false;
  }

  values(channel: string): number[] {
    return this.telemetry.filter((t) => t.channel === channel && t.value !== undefined).map((t) => t.value!);
  }

  last(channel: string): number | undefined {
    return this.values(channel).at(-1);
  }

  json(channel: string): unknown[] {
    return this.telemetry.filter((t) => t.channel === channel && t.json !== undefined).map((t) => t.json);
  }

  errors(): { event: WorldExport; outcome: Outcome }[] {
    return this.events.filter((e) => !e.outcome.ok);
  }

  memoryBytes(): number {
    return this.instance?.memoryBytes() ?? 0;
  }

  // ---- internals -------------------------------------------------------------------------------

  private deliver(event: WorldExport, args: unknown[]): Outcome {
    if (!this.instance) throw new Error('component not loaded');
    const outcome = this.instance.call(event, args);
    this.events.push({ event, outcome });
    return outcome;
  }

  private advanceClock(to: number): Outcome[] {
    const out: Outcome[] = [];
    // Deliver debounced edges whose stability window ends before `to`, in time order.
    for (;;) {
      let next: PendingEdge | undefined;
      for (const p of this.pending.values()) {
        const w = this.manifest.capabilities.gpio.watch.find((x) => x.pin === p.pin)!;
        if (p.changedAt + w.debounceMs <= to && (!next || p.changedAt < next.changedAt)) next = p;
      }
      if (!next) break;
      const w = this.manifest.capabilities.gpio.watch.find((x) => x.pin === next!.pin)!;
      this.pending.delete(next.pin);
      this.nowMs = Math.max(this.nowMs, next.changedAt + w.debounceMs);
      out.push(...this.settle(next.pin, next.value, next.changedAt));
    }
    this.nowMs = Math.max(this.nowMs, to);
    return out;
  }

  private settle(pin: number, value: boolean, atMs: number): Outcome[] {
    const prev = this.settled.get(pin) ?? false;
    this.settled.set(pin, value);
    if (prev === value) return [];
    const watch = this.manifest.capabilities.gpio.watch.find((w) => w.pin === pin)!;
    if (watch.edge === 'rising' && !value) return [];
    if (watch.edge === 'falling' && value) return [];
    return [this.deliver('on-gpio', [pin, value, BigInt(atMs)])];
  }

  private deny(what: string): never {
    this.refused.push(`denied: ${what}`);
    throw new HostCallError('denied', what);
  }

  private makeHostApi(): HostApi {
    const caps = this.manifest.capabilities;
    const telemetryAllowed = (ch: string) => caps.telemetry.some((f) => f === '*' || topicMatches(f, ch));
    return {
      gpioRead: (pin) => {
        const ok = caps.gpio.read.includes(pin) || caps.gpio.write.includes(pin) || caps.gpio.watch.some((w) => w.pin === pin);
        if (!ok) this.deny(`gpio.read pin ${pin} is not granted (capabilities.gpio.read)`);
        return this.levels.get(pin) ?? false;
      },
      gpioWrite: (pin, value) => {
        if (!caps.gpio.write.includes(pin)) this.deny(`gpio.write pin ${pin} is not granted (capabilities.gpio.write)`);
        this.levels.set(pin, value);
      },
      serialWrite: (port, data) => {
        if (!caps.serial.some((s) => s.port === port)) this.deny(`serial port ${port} is not granted`);
        this.serialWritten.push({ port, data: data.slice() });
        return data.length;
      },
      publish: (channel, value) => {
        if (!telemetryAllowed(channel)) this.deny(`telemetry channel ${channel} is not granted`);
        this.telemetry.push({ channel, value, ts: this.nowMs });
      },
      publishJson: (channel, json) => {
        if (!telemetryAllowed(channel)) this.deny(`telemetry channel ${channel} is not granted`);
        let parsed: unknown;
        try {
          parsed = JSON.parse(json);
        } catch {
          this.refused.push(`invalid: publish-json on ${channel} is not JSON`);
          throw new HostCallError('invalid', `publish-json on ${channel}: not valid JSON`);
        }
        this.telemetry.push({ channel, json: parsed, ts: this.nowMs });
      },
      send: (topic, payload) => {
        if (!caps.messaging.send.some((f) => topicMatches(f, topic))) this.deny(`messaging.send to ${topic} is not granted`);
        this.sent.push({ topic, payload: payload.slice() });
      },
      log: (level, message) => {
        this.logs.push({ level, message });
      },
      nowMs: () => BigInt(this.nowMs),
      config: (key) => caps.config[key],
    };
  }
}
