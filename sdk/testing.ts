import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { wireComponent, type WiredComponent } from '../drivers/component-wiring.js';
import { compileGrant, type Grant } from '../drivers/policy/grant.js';
import { RateLimiter, type RateLimits } from '../drivers/pipeline/rate-limit.js';
import { createSimBoard, type SimBoard, type SimBoardOptions } from '../drivers/sim-board.js';
import { parseScenario } from '../drivers/sim-scenario.js';
import { MemoryStore, type BucketStore } from '../drivers/storage/store.js';
import type { ComponentHost } from '../runtime/component/component-host.js';
import { exportFor, type ComponentEvent } from '../runtime/component/events.js';

/** A bucket store in memory: pass one to two loadComponent calls to test what survives a restart. */
export { MemoryStore, type BucketStore };
import { Engine, type PreparedComponent } from '../runtime/engine.js';
import { GatewayError } from '../runtime/errors.js';
import { VirtualTimers } from '../drivers/gpio/virtual-timers.js';
import type { HostApi, LogLevel } from '../runtime/host-api.js';
import type { CallOutcome } from '../runtime/instance.js';
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
 * The component runs through the gateway's own parts, not a model of them: the simulated board
 * (drivers/sim-board.ts), wired by the gateway's own wireComponent (drivers/component-wiring.ts):
 * devices acquired from the manifest's grant (serial ports framed by the drivers' Framer, GPIO
 * watches debounced by their EdgeWatcher), the host-call pipeline (validation, grant checks, rate
 * limits) and the ComponentHost on the fuel-metered Engine. Only time is the helper's own: `nowMs`
 * moves when the test says so, and debounce windows and rate-limit buckets run on that virtual clock.
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
  /** Host-call rate limits (per virtual second); default the gateway's (DEFAULT_RATE_LIMITS), `null` turns a class off. */
  rateLimits?: RateLimits;
  /**
   * Simulated I2C/SPI devices (contract 7.3): a scenario YAML file, YAML text, or the object with
   * `i2c` and `spi` lists, as in the config's `board.options.scenario`. Its gpio and serial signals
   * are not run here (drive them with setPin, pulse and serial).
   */
  scenario?: string | Record<string, unknown>;
  /**
   * Where the component's storage bucket lives; default a fresh one in memory. Pass the same store
   * to a second loadComponent to see what survives a restart.
   */
  storage?: BucketStore;
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

async function yamlFrom(s: string | Record<string, unknown>): Promise<unknown> {
  if (typeof s !== 'string') return s;
  return parseYaml(/\n/.test(s) || !/\.(ya?ml|json)$/.test(s) ? s : await readFile(s, 'utf8'));
}

/** Builds (if needed) and loads a component on a fresh simulated board. Does not call init. */
export async function loadComponent(source: string | Uint8Array, opts: LoadOptions): Promise<TestComponent> {
  const manifest = await manifestFrom(opts.manifest);
  const bytes = await componentBytes(source);
  const engine = new Engine({ cacheDir: opts.cacheDir ?? path.join(tmpdir(), 'airssys-sdk-test-cache') });
  const prepared = await engine.prepare(bytes, { memoryMb: manifest.limits.memoryMb });
  const devices = opts.scenario === undefined ? undefined : parseScenario(await yamlFrom(opts.scenario));
  const c = new TestComponent(manifest, opts.startMs ?? 1_700_000_000_000, opts.rateLimits ?? {}, devices, opts.storage ?? new MemoryStore());
  await c.attach(prepared, opts.pins ?? {});
  c.size = bytes.length;
  return c;
}

function toOutcome(o: CallOutcome): Outcome {
  return o.ok ? { ok: true, fuelUsed: o.fuelUsed } : { ok: false, kind: o.kind, message: o.message, fuelUsed: o.fuelUsed };
}

export class TestComponent {
  /** Virtual clock, ms since the epoch. */
  nowMs: number;
  size = 0;
  readonly telemetry: TelemetrySample[] = [];
  readonly logs: { level: LogLevel; message: string }[] = [];
  readonly sent: { topic: string; payload: Uint8Array }[] = [];
  /** Every host call refused, as `kind: op: message` (kind is denied, invalid, io or limited). */
  readonly refused: string[] = [];
  /** Every event delivered and how it ended. */
  readonly events: { event: WorldExport; outcome: Outcome }[] = [];
  /** The simulated board the component runs on (its `gpio` and `serial` can be driven directly; call `flush()` after). */
  readonly board: SimBoard;
  private readonly grant: Grant;
  private readonly timers: VirtualTimers;
  private readonly rateLimiter: RateLimiter;
  // Device callbacks queue events here; they are delivered in order once the driver call returns.
  private readonly pending: ComponentEvent[] = [];
  private api: HostApi | undefined;
  private host: ComponentHost | undefined;
  private wired: WiredComponent | undefined;
  private lastTickAt: number;

  /** @internal Use loadComponent. */
  constructor(
    readonly manifest: Manifest,
    startMs: number,
    rateLimits: RateLimits,
    devices: SimBoardOptions['devices'],
    /** The store holding the component's bucket (`storage.bucket(manifest.name)`). */
    readonly storage: BucketStore,
  ) {
    this.nowMs = startMs;
    this.lastTickAt = startMs;
    this.timers = new VirtualTimers(() => this.nowMs);
    this.board = createSimBoard({ now: () => this.nowMs, timers: this.timers, devices });
    this.grant = compileGrant(manifest);
    this.rateLimiter = new RateLimiter(rateLimits, () => this.nowMs);
  }

  /** @internal Sets the initial levels, acquires the manifest's devices and links the host calls. */
  async attach(prepared: PreparedComponent, pins: Record<number, boolean>): Promise<void> {
    for (const [pin, v] of Object.entries(pins)) this.board.gpio.setInput(Number(pin), v, this.nowMs);
    this.wired = await wireComponent(this.manifest, prepared, {
      board: this.board,
      rateLimits: this.rateLimiter,
      now: () => this.nowMs,
      storage: this.storage,
      sinks: {
        telemetry: (channel, sample) => this.telemetry.push({ channel, ...sample, ts: this.nowMs }),
        message: (topic, payload) => this.sent.push({ topic, payload }),
        log: (level, message) => this.logs.push({ level, message }),
      },
      deliver: (event) => this.pending.push(event),
      onRefusal: (tag, message, op) => this.refused.push(`${tag}: ${op}: ${message}`),
    });
    this.api = this.wired.api;
    this.host = this.wired.host;
  }

  /** The HostApi the component is linked with (the gateway's pipeline, refusals recorded). */
  get hostApi(): HostApi {
    if (!this.api) throw new Error('component not loaded');
    return this.api;
  }

  get tickMs(): number {
    return this.manifest.tickMs ?? 1000;
  }

  // ---- events ----------------------------------------------------------------------------------

  /**
   * Starts a fresh instance and calls init, as the gateway does at start and on a restart. A failed
   * init (or a later crash) leaves no instance: events then fail with `component is not running`.
   */
  init(): Outcome {
    if (!this.host) throw new Error('component not loaded');
    const outcome = toOutcome(this.host.start());
    this.events.push({ event: 'init', outcome });
    return outcome;
  }

  /**
   * Advances the clock by one tick period (or `stepMs`) per tick and calls on-tick each time.
   * Returns one outcome per tick; GPIO edges that fall due on the way are in `events`.
   */
  tick(n = 1, stepMs = this.tickMs): Outcome[] {
    const out: Outcome[] = [];
    for (let i = 0; i < n; i++) {
      this.advanceClock(this.nowMs + stepMs);
      this.lastTickAt = this.nowMs;
      out.push(this.deliver({ kind: 'tick', nowMs: this.nowMs }));
    }
    return out;
  }

  /** Moves virtual time on, delivering debounced GPIO edges and the ticks that fall due on the way. */
  advance(ms: number): Outcome[] {
    const end = this.nowMs + ms;
    const out: Outcome[] = [];
    if (this.manifest.tickMs !== undefined) {
      while (this.lastTickAt + this.tickMs <= end) {
        out.push(...this.advanceClock(this.lastTickAt + this.tickMs));
        this.lastTickAt = this.nowMs;
        out.push(this.deliver({ kind: 'tick', nowMs: this.nowMs }));
      }
    }
    out.push(...this.advanceClock(end));
    return out;
  }

  /**
   * Sets an input level as the outside world would (SimGpio.setInput). When the manifest watches
   * the pin, the change reaches on-gpio once it has been stable for `debounce-ms` (at once when 0)
   * and matches `edge`.
   */
  setPin(pin: number, value: boolean): Outcome[] {
    this.board.gpio.setInput(pin, value, this.nowMs);
    return this.flush();
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

  /** The device on `port` sends bytes (SimSerial.push): framed per the manifest, one on-serial per frame. */
  serial(port: string, data: string | Uint8Array): Outcome[] {
    if (!this.grant.serial.has(port)) throw new GatewayError('USAGE', `the manifest does not open serial port ${port}; add it under capabilities.serial`);
    this.board.serial.push(port, data);
    return this.flush();
  }

  /** Delivers a command message (topic relative to cmd/<name>/), if messaging.receive allows it. */
  message(topic: string, payload: string | Uint8Array): Outcome | undefined {
    if (!this.grant.receive.allows(topic)) return undefined;
    return this.deliver({ kind: 'message', topic, payload: typeof payload === 'string' ? new TextEncoder().encode(payload) : payload });
  }

  /** Delivers the events that device callbacks queued (after driving `board` directly). */
  flush(): Outcome[] {
    const out: Outcome[] = [];
    while (this.pending.length > 0) out.push(this.deliver(this.pending.shift()!));
    return out;
  }

  /** Releases the devices and closes the board (optional: nothing runs on real timers). */
  async close(): Promise<void> {
    this.host?.stop();
    await this.wired?.release();
    await this.board.close();
  }

  // ---- observations ----------------------------------------------------------------------------

  /** The level of a pin now (an output the component drove, or an input the test set). */
  pin(pin: number): boolean {
    return this.board.gpio.read(pin);
  }

  /** What the component wrote to its serial ports and the device accepted, port by port in manifest order. */
  get serialWritten(): { port: string; data: Uint8Array }[] {
    return [...this.grant.serial.keys()].flatMap((port) => this.board.serial.writes(port).map((data) => ({ port, data })));
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
    return this.host?.memoryBytes() ?? 0;
  }

  // ---- internals -------------------------------------------------------------------------------

  private deliver(ev: ComponentEvent): Outcome {
    if (!this.host) throw new Error('component not loaded');
    const outcome = toOutcome(this.host.deliver(ev));
    this.events.push({ event: exportFor(ev).name, outcome });
    return outcome;
  }

  /** Runs the debounce timers due up to `to` (each at its own virtual time), then sets the clock to `to`. */
  private advanceClock(to: number): Outcome[] {
    const out: Outcome[] = [];
    for (let t = this.timers.takeDue(to); t; t = this.timers.takeDue(to)) {
      this.nowMs = Math.max(this.nowMs, t.at);
      t.fn();
      out.push(...this.flush());
    }
    this.nowMs = Math.max(this.nowMs, to);
    // Time passing lets the simulated devices transmit what the component queued for them.
    for (const port of this.grant.serial.keys()) this.board.serial.drain(port);
    return out;
  }
}
