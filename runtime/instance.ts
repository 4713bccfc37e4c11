import type { FailureKind } from './errors.js';
import { FUEL_EXPORT, GROW_FAILED_EXPORT } from './instrument/index.js';
import type { WorldExport } from './world.js';

/**
 * One live instance of a component: its own memories, globals and fuel. `call` delivers one event
 * (an export call) under the fuel budget and classifies how it ended. After a crash (trap,
 * out-of-fuel, memory-limit, stack overflow) the instance is discarded: its state may be corrupt,
 * so every later call fails fast and the supervisor starts a new one.
 */
export interface InstanceOptions {
  /** Fuel per event (limits.fuel). */
  fuel: number;
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
  private readonly fuelGlobals: WebAssembly.Global[] = [];
  /**
   * The fuel counter of the guest's own module (the one that exports its memory). It is read after
   * every event for metrics; the counters of jco's small shim modules are reset every event but
   * read only to classify a trap, which keeps the common path to one BigInt read.
   */
  private primaryFuel: WebAssembly.Global | undefined;
  private readonly timed: boolean;
  private readonly growFlags: WebAssembly.Global[] = [];
  private readonly memories: WebAssembly.Memory[] = [];
  private readonly exports: Exports;
  private readonly budget: bigint;
  private readonly fuelBudget: number;
  private crashed: { kind: FailureKind; message: string } | undefined;

  constructor(
    instantiate: (core: (module: WebAssembly.Module, imports?: WebAssembly.Imports) => WebAssembly.Instance) => Exports,
    opts: InstanceOptions,
  ) {
    this.fuelBudget = opts.fuel;
    this.budget = BigInt(opts.fuel);
    this.timed = opts.timed ?? true;
    // The glue instantiates each core module through this hook: it is where the instance learns
    // the fuel counters and memory-grow flags that instrumentation exported.
    this.exports = instantiate((module, imports) => {
      const inst = new WebAssembly.Instance(module, imports);
      const fuel = inst.exports[FUEL_EXPORT];
      if (fuel instanceof WebAssembly.Global) {
        fuel.value = this.budget;
        this.fuelGlobals.push(fuel);
      }
      const grow = inst.exports[GROW_FAILED_EXPORT];
      if (grow instanceof WebAssembly.Global) this.growFlags.push(grow);
      for (const value of Object.values(inst.exports)) {
        if (value instanceof WebAssembly.Memory) {
          this.memories.push(value);
          if (fuel instanceof WebAssembly.Global && !this.primaryFuel) this.primaryFuel = fuel;
        }
      }
      return inst;
    });
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
    for (const g of this.fuelGlobals) g.value = this.budget;
    try {
      fn(...args);
      const fuelUsed = this.primaryFuel ? this.fuelBudget - Number(this.primaryFuel.value as bigint) : 0;
      return { ok: true, fuelUsed, durationMs: this.timed ? performance.now() - started : 0 };
    } catch (err) {
      const fuelUsed = this.fuelSpent();
      const durationMs = this.timed ? performance.now() - started : 0;
      if (isReturnedErr(err)) return { ok: false, kind: 'returned-err', message: err.payload, fuelUsed, durationMs };
      const failure = this.classify(err);
      this.crashed = failure;
      return { ok: false, ...failure, fuelUsed, durationMs };
    }
  }

  /** Fuel spent across all core modules (after a failure, when every counter matters). */
  private fuelSpent(): number {
    let used = 0;
    for (const g of this.fuelGlobals) used += this.fuelBudget - Number(g.value as bigint);
    return used;
  }

  private classify(err: unknown): { kind: FailureKind; message: string } {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof WebAssembly.RuntimeError) {
      if (this.fuelGlobals.some((g) => (g.value as bigint) < 0n)) {
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
