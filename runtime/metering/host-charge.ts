import { chargeClass } from '../interfaces/index.js';
import type { ImportObject } from '../linker.js';

/**
 * Every host call costs the guest fuel, so a component cannot buy unbounded host work with a small
 * budget of its own instructions (a loop calling `log` is ~20 instructions per iteration, the call
 * itself thousands of times that on the host).
 *
 * Cost = base + HOST_CALL_BYTE_FUEL × (bytes of string and byte-list arguments and results). The
 * base is HOST_CALL_BASE_FUEL for calls that only read or flip state (gpio, now-ms, config, i2c,
 * spi, storage) and HOST_CALL_SINK_FUEL for calls whose work goes on after the call (log, telemetry,
 * messaging, serial: formatting, the outbox, the broker, a device). Strings are counted in UTF-16
 * units (what the glue has already decoded; equal to bytes for ASCII). The base is charged before
 * the host function runs, refused or not; result bytes after it returns.
 *
 * Calibration (bench/isolation.bench.ts, docs/limits.md): one fuel unit is ~0.06 ns of optimised
 * guest code on x64 (up to ~0.8 ns before V8 tiers it up), a host call through jco's glue 0.15-0.3 µs
 * and a `log` through the pipeline ~0.5-1 µs: 2k-15k fuel of optimised guest time. So a flood of
 * calls costs about what the same time in guest code would, and a well-behaved sensor does not
 * notice: 100 calls per event cost at most 1M of the default 50M.
 */
export const HOST_CALL_BASE_FUEL = 2_000;
export const HOST_CALL_SINK_FUEL = 10_000;
export const HOST_CALL_BYTE_FUEL = 10;

/** The base fuel of one host function: its descriptor's `charge` class (runtime/interfaces/). */
export function hostCallBase(iface: string, fn: string): number {
  return chargeClass(iface.replace(/@[^@]+$/, ''), fn) === 'sink' ? HOST_CALL_SINK_FUEL : HOST_CALL_BASE_FUEL;
}

function bytesOf(v: unknown): number {
  if (typeof v === 'string') return v.length;
  if (v instanceof Uint8Array) return v.length;
  if (Array.isArray(v)) {
    let n = 0;
    for (const x of v) n += typeof x === 'string' ? x.length : x instanceof Uint8Array ? x.length : 0;
    return n;
  }
  return 0;
}

/** The import object with every host function charging `charge(fuel)` (see the file comment). */
export function chargeHostCalls(imports: ImportObject, charge: (fuel: number) => void): ImportObject {
  const out: ImportObject = {};
  const done = new Map<object, Record<string, (...args: never[]) => unknown>>();
  for (const [iface, fns] of Object.entries(imports)) {
    // The linker offers each interface under two names (with and without @version): wrap once.
    let wrapped = done.get(fns);
    if (!wrapped) {
      wrapped = {};
      for (const [name, fn] of Object.entries(fns)) wrapped[name] = charged(fn as (...a: unknown[]) => unknown, hostCallBase(iface, name), charge);
      done.set(fns, wrapped);
    }
    out[iface] = wrapped;
  }
  return out;
}

function charged(fn: (...a: unknown[]) => unknown, base: number, charge: (fuel: number) => void): (...args: never[]) => unknown {
  // Fixed arity (host functions take at most four arguments): no rest array per call.
  return ((a: unknown, b: unknown, c: unknown, d: unknown) => {
    charge(base + HOST_CALL_BYTE_FUEL * (bytesOf(a) + bytesOf(b) + bytesOf(c) + bytesOf(d)));
    const r = fn(a, b, c, d);
    if (r !== undefined && typeof r !== 'number' && typeof r !== 'boolean' && typeof r !== 'bigint') {
      const n = bytesOf(r);
      if (n > 0) charge(HOST_CALL_BYTE_FUEL * n);
    }
    return r;
  }) as (...args: never[]) => unknown;
}
