import type { ImportObject } from '../linker.js';

/**
 * Every host call costs the guest fuel, so a component cannot buy unbounded host work with a small
 * budget of its own instructions (a loop calling `log` is ~20 instructions per iteration, the call
 * itself hundreds of times that on the host).
 *
 * Cost = HOST_CALL_BASE_FUEL + HOST_CALL_BYTE_FUEL × (bytes of string and byte-list arguments and
 * results). Strings are counted in UTF-16 units (what the glue has already decoded; equal to bytes
 * for ASCII). The base is charged before the host function runs, refused or not; result bytes after
 * it returns.
 *
 * Calibration (docs/limits.md): one fuel unit is about 0.05-0.1 ns of optimised guest code on x64,
 * a host call through jco's glue and the pipeline 0.1-1 µs, and copying or decoding one byte of
 * guest memory ~0.5-1 ns. The base is therefore the low end of a call's real cost in guest
 * instructions, so charging never makes a well-behaved component run out: a sensor doing 100 host
 * calls per event pays 100k of its (default) 50M.
 */
export const HOST_CALL_BASE_FUEL = 2_000;
export const HOST_CALL_BYTE_FUEL = 10;

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
      for (const [name, fn] of Object.entries(fns)) wrapped[name] = charged(fn as (...a: unknown[]) => unknown, charge);
      done.set(fns, wrapped);
    }
    out[iface] = wrapped;
  }
  return out;
}

function charged(fn: (...a: unknown[]) => unknown, charge: (fuel: number) => void): (...args: never[]) => unknown {
  // Fixed arity (host functions take at most four arguments): no rest array per call.
  return ((a: unknown, b: unknown, c: unknown, d: unknown) => {
    charge(HOST_CALL_BASE_FUEL + HOST_CALL_BYTE_FUEL * (bytesOf(a) + bytesOf(b) + bytesOf(c) + bytesOf(d)));
    const r = fn(a, b, c, d);
    if (r !== undefined && typeof r !== 'number' && typeof r !== 'boolean' && typeof r !== 'bigint') {
      const n = bytesOf(r);
      if (n > 0) charge(HOST_CALL_BYTE_FUEL * n);
    }
    return r;
  }) as (...args: never[]) => unknown;
}
