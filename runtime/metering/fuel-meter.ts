import { FUEL_EXPORT, REFILL_EXPORT } from '../instrument/index.js';

/**
 * Fuel in slices, and the per-event deadline, for one component instance (all its core modules).
 *
 * Instrumented code keeps its fuel in one i64 global per core module and, when a check finds it
 * below zero, calls the host's refill (REFILL_EXPORT, runtime/instrument). The meter hands the
 * event's budget out a slice at a time: the global holds at most FUEL_SLICE, the rest waits in
 * `reserve` on the host. So every FUEL_SLICE units of guest work the guest calls `refill` once,
 * which is where the host
 * - reads the clock and stops the event when it has run past its deadline (Wasmtime's epoch
 *   interruption, done with the metering that already runs: Node 20 has no way to interrupt a Wasm
 *   loop on the same thread, and no shared global an instrumented module could poll);
 * - settles host-call charges (`charge`) that accumulated since the last refill;
 * - tops the global up from the reserve, or leaves it negative, which traps as out of fuel.
 * The hot path (the check that does not fire) is exactly what it was without slices.
 *
 * Host-call charges are summed in a plain number, not written to the global, so a host call pays a
 * add and a compare. Once the sum passes what the guest could still have (or one slice), the global
 * is zeroed so that the guest's next check (within one loop iteration or function entry) refills,
 * which settles the charges and checks the deadline. Host work therefore also reaches the deadline
 * check at least once per slice of charged fuel.
 */

/**
 * Fuel per slice: about 60 µs of a tight loop on a 2020s x64 core, a few ms on a Pi. Small enough
 * that a deadline is noticed within a few ms of passing, large enough that the refill (a call out of
 * Wasm, a clock read, two BigInt conversions: ~0.2 µs) is lost in the noise.
 */
export const FUEL_SLICE = 1_000_000;
// A slice must be larger than any single check's charge (a loop body's instructions; up to 4 x 32
// for an unrolled loop, runtime/instrument/meter.ts): after a refill the guest re-runs the check
// that failed, so a smaller slice would refill forever.

interface CoreFuel {
  global: WebAssembly.Global;
  /** Fuel of this event not yet put in the global. */
  reserve: number;
  /** Host-call charges not yet taken from the reserve (primary module only). */
  pending: number;
  /** `pending` above this forces a settle at the guest's next check. */
  settleAt: number;
}

/** Builds Wasm functions from JS closures: Table.set accepts only Wasm functions. */
let trampoline: WebAssembly.Module | undefined;
function asWasmFunction(fn: () => void): Function {
  // (module (import "h" "f" (func)) (export "f" (func 0)))
  trampoline ??= new WebAssembly.Module(
    Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 2, 7, 1, 1, 104, 1, 102, 0, 0, 7, 5, 1, 1, 102, 0, 0]),
  );
  return new WebAssembly.Instance(trampoline, { h: { f: fn } }).exports.f as Function;
}

export class FuelMeter {
  private readonly cores: CoreFuel[] = [];
  private primary: CoreFuel | undefined;
  private readonly first: number;
  private readonly firstBig: bigint;
  private deadlineAt = Infinity;
  /** Set by a refill that found the event past its deadline; reset by `begin`. */
  deadlineHit = false;

  constructor(
    readonly budget: number,
    private readonly slice = FUEL_SLICE,
  ) {
    this.first = Math.min(budget, slice);
    this.firstBig = BigInt(this.first);
  }

  /**
   * Takes over the fuel global and refill table of one instantiated core module (those without
   * instrumentation are ignored). `primary`: the guest's own module, the one host calls are
   * charged to and whose counter the event's fuel figure comes from.
   */
  attach(exports: WebAssembly.Exports, primary: boolean): boolean {
    const global = exports[FUEL_EXPORT];
    if (!(global instanceof WebAssembly.Global)) return false;
    const core: CoreFuel = { global, reserve: this.budget - this.first, pending: 0, settleAt: this.first };
    global.value = this.firstBig;
    this.cores.push(core);
    if (primary && !this.primary) this.primary = core;
    const table = exports[REFILL_EXPORT];
    if (table instanceof WebAssembly.Table) table.set(0, asWasmFunction(() => this.refill(core)));
    return true;
  }

  /** Resets every counter to a fresh budget for the next event; `deadlineAt` is a performance.now() time. */
  begin(deadlineAt = Infinity): void {
    this.deadlineAt = deadlineAt;
    this.deadlineHit = false;
    const reserve = this.budget - this.first;
    for (const c of this.cores) {
      c.global.value = this.firstBig;
      c.reserve = reserve;
      c.pending = 0;
      c.settleAt = Math.min(reserve + this.first, this.slice);
    }
  }

  /** Charges host work to the guest's module (see host-charge.ts). */
  charge(fuel: number): void {
    const c = this.primary;
    if (c === undefined) return;
    c.pending += fuel;
    if (c.pending > c.settleAt) {
      // Move what is left in the global to the reserve, and zero the global so the guest's next
      // check calls refill, which settles `pending`.
      c.reserve += Number(c.global.value as bigint);
      c.global.value = 0n;
      c.settleAt = Infinity;
    }
  }

  /** Fuel the guest's module used this event (host-call charges included). */
  used(): number {
    const c = this.primary;
    return c ? this.usedBy(c) : 0;
  }

  /** Fuel used across every core module (after a failure, when every counter matters). */
  usedAll(): number {
    let used = 0;
    for (const c of this.cores) used += this.usedBy(c);
    return used;
  }

  /** Whether some module's counter is below zero (a trap then means out of fuel or deadline). */
  exhausted(): boolean {
    return this.cores.some((c) => (c.global.value as bigint) < 0n);
  }

  private usedBy(c: CoreFuel): number {
    return this.budget - (c.reserve - c.pending + Number(c.global.value as bigint));
  }

  /** Called from Wasm with the global at or below zero. Leaves it negative to stop the guest. */
  private refill(c: CoreFuel): void {
    let g = Number(c.global.value as bigint);
    c.reserve -= c.pending;
    c.pending = 0;
    if (this.deadlineAt !== Infinity && performance.now() > this.deadlineAt) {
      this.deadlineHit = true;
      if (g >= 0) c.global.value = -1n;
      return;
    }
    if (c.reserve < 0) {
      g += c.reserve;
      c.reserve = 0;
    }
    const take = Math.max(0, Math.min(c.reserve, this.slice - g));
    c.reserve -= take;
    g += take;
    c.settleAt = Math.min(c.reserve + Math.max(g, 0), this.slice);
    c.global.value = BigInt(g);
  }
}
