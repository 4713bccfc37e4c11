import type { FailureKind } from './errors.js';
import { GROW_FAILED_EXPORT } from './instrument/index.js';
import { FuelMeter } from './metering/fuel-meter.js';
import type { WorldExport } from './world.js';

/**
 * One live instance of a component: its own memories, globals and fuel. `call` delivers one event
 * (an export call) under the fuel budget and the wall-clock deadline, and classifies how it ended.
 * Fuel is handed out in slices (runtime/metering/fuel-meter.ts); between slices the deadline is
 * checked, so an endless loop with any fuel budget stops within a few ms of its deadline, on the
 * gateway's own thread, as kind `deadline`. Host calls are charged fuel (metering/host-charge.ts). After a crash (trap,
 * out-of-fuel, memory-limit, stack overflow) the instance is discarded: its state may be corrupt,
 * so every later call fails fast and the supervisor starts a new one.
 */
export interface InstanceOptions {
  /** Fuel per event (limits.fuel). */
  fuel: number;
  /**
   * Wall-clock limit per event (limits.deadline-ms): the event is stopped at the first fuel slice
   * that ends past it and the outcome is `deadline` (a crash). Omitted: no deadline.
   */
  deadlineMs?: number;
  /**
   * Measure each event's wall-clock duration (two clock reads, ~100 ns). The gateway keeps it on
   * to record deadline overruns; benchmarks of the bare call path turn it off.
   */
  timed?: boolean;
}

export type CallOutcome =
  | { ok: true; fuelUsed: number; durationMs: number }
  | { ok: false; kind: FailureKind; message: string; fuelUsed: number; durationMs: number };

type Exports = Record<string, (...args: unknown[]) => unknown>;

const EXPORT_NAMES: Record<WorldExport, string> = {
  init: 'init',
  'on-tick': 'onTick',
  'on-gpio': 'onGpio',
  'on-serial': 'onSerial',
  'on-message': 'onMessage',
};

export class ComponentInstance {
  /**
   * The fuel counters of every core module. The guest's own module (the one that exports its
   * memory) is the primary: host calls are charged to it and its counter is read after every event
   * for metrics; the counters of jco's small shim modules are reset every event but read only to
   * classify a trap, which keeps the common path to one BigInt read.
   */
  private readonly meter: FuelMeter;
  private readonly deadlineMs: number | undefined;
  private readonly timed: boolean;
  private readonly growFlags: WebAssembly.Global[] = [];
  private readonly memories: WebAssembly.Memory[] = [];
  private readonly exports: Exports;
  private readonly fuelBudget: number;
  private crashed: { kind: FailureKind; message: string } | undefined;

  /**
   * `instantiate` runs the glue: it gets the hook that instantiates each core module and `charge`,
   * which the host functions it links must call with each call's cost (wrap the linker's import
   * object with `chargeHostCalls(imports, charge)`, runtime/metering/host-charge.ts).
   */
  constructor(
    instantiate: (core: (module: WebAssembly.Module, imports?: WebAssembly.Imports) => WebAssembly.Instance, charge: (fuel: number) => void) => Exports,
    opts: InstanceOptions,
  ) {
    this.fuelBudget = opts.fuel;
    this.meter = new FuelMeter(opts.fuel);
    this.deadlineMs = opts.deadlineMs;
    // The clock must be read to know the deadline.
    this.timed = (opts.timed ?? true) || opts.deadlineMs !== undefined;
    const meter = this.meter;
    // The glue instantiates each core module through this hook: it is where the instance learns
    // the fuel counters, refill tables and memory-grow flags that instrumentation exported.
    this.exports = instantiate(
      (module, imports) => {
        const inst = new WebAssembly.Instance(module, imports);
        const hasMemory = Object.values(inst.exports).some((v) => v instanceof WebAssembly.Memory);
        meter.attach(inst.exports, hasMemory);
        const grow = inst.exports[GROW_FAILED_EXPORT];
        if (grow instanceof WebAssembly.Global) this.growFlags.push(grow);
        for (const value of Object.values(inst.exports)) if (value instanceof WebAssembly.Memory) this.memories.push(value);
        return inst;
      },
      (fuel) => meter.charge(fuel),
    );
  }

  get isCrashed(): boolean {
    return this.crashed !== undefined;
  }

  /** Bytes of linear memory the instance holds now. */
  memoryBytes(): number {
    let total = 0;
    for (const m of this.memories) total += m.buffer.byteLength;
    return total;
  }

  /** Delivers one event. Never throws: every failure comes back as an outcome. */
  call(event: WorldExport, args: unknown[] = []): CallOutcome {
    const started = this.timed ? performance.now() : 0;
    if (this.crashed) {
      return { ok: false, kind: this.crashed.kind, message: `instance was discarded after ${this.crashed.kind}: ${this.crashed.message}`, fuelUsed: 0, durationMs: 0 };
    }
    const fn = this.exports[EXPORT_NAMES[event]];
    if (!fn) return { ok: false, kind: 'trap', message: `component has no export ${event}`, fuelUsed: 0, durationMs: 0 };
    // Grow flags are not reset here: a flag left set by a grow the guest handled only matters if
    // the instance later traps, and then its memory is at the cap, where memory-limit is the truth.
    this.meter.begin(this.deadlineMs === undefined ? Infinity : started + this.deadlineMs);
    try {
      fn(...args);
      return { ok: true, fuelUsed: this.meter.used(), durationMs: this.timed ? performance.now() - started : 0 };
    } catch (err) {
      const fuelUsed = this.meter.usedAll();
      const durationMs = this.timed ? performance.now() - started : 0;
      if (isReturnedErr(err)) return { ok: false, kind: 'returned-err', message: err.payload, fuelUsed, durationMs };
      const failure = this.classify(err, event, durationMs);
      this.crashed = failure;
      return { ok: false, ...failure, fuelUsed, durationMs };
    }
  }

  private classify(err: unknown, event: WorldExport, durationMs: number): { kind: FailureKind; message: string } {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof WebAssembly.RuntimeError) {
      if (this.meter.deadlineHit) {
        return { kind: 'deadline', message: `event ${event} ran past its deadline of ${this.deadlineMs} ms; stopped after ${Math.round(durationMs)} ms` };
      }
      if (this.meter.exhausted()) {
        return { kind: 'out-of-fuel', message: `ran out of fuel (budget ${this.fuelBudget} per event)` };
      }
      if (this.growFlags.some((g) => g.value === 1)) {
        return { kind: 'memory-limit', message: `trapped after memory.grow was refused at the memory limit (${message})` };
      }
      return { kind: 'trap', message };
    }
    if (err instanceof RangeError && /call stack/i.test(message)) return { kind: 'stack-overflow', message: 'stack overflow (recursion too deep)' };
    if (err instanceof RangeError) return { kind: 'trap', message: `guest passed an out-of-range pointer or length (${message})` };
    return { kind: 'trap', message: `host call failed: ${message}` };
  }
}

function isReturnedErr(err: unknown): err is { payload: string } {
  return typeof err === 'object' && err !== null && Object.prototype.hasOwnProperty.call(err, 'payload') && typeof (err as { payload: unknown }).payload === 'string';
}
