/**
 * A tiny schema checker that collects every mistake instead of stopping at the first, so one run
 * of `airssys start` shows the operator the whole list. Each problem is one line:
 * `config <key.path>: <what is wrong>; <the fix>`.
 */

import { clip, echo } from '../../runtime/echo.js';
import { isObj, type Obj } from '../../runtime/data.js';
export { isObj, type Obj };


export class Problems {
  readonly lines: string[] = [];
  add(path: string, problem: string, fix: string): void {
    this.lines.push(`config ${path || '(root)'}: ${problem}; ${fix}`);
  }
  get count(): number {
    return this.lines.length;
  }
}

/** A user value in a message: quoted, at most ECHO_MAX characters (runtime/echo.ts). */
export const show = (v: unknown): string => echo(v);

/** A key path; a user-written key is cut like any echoed value. */
export const join = (path: string, key: string | number): string =>
  typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${clip(key)}` : clip(key);

/** User-written names as a bounded "use one of" list: each cut, at most 10 shown. */
export const listed = (names: string[]): string =>
  names.length === 0 ? '(none defined)' : names.slice(0, 10).map((n) => clip(n)).join(', ') + (names.length > 10 ? ` (and ${names.length - 10} more)` : '');

/** Rejects keys outside `allowed`; returns the object (or undefined when it is not a mapping). */
export function mapping(p: Problems, v: unknown, path: string, allowed: string[], fix: string): Obj | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) {
    p.add(path, `expected a mapping, got ${show(v)}`, fix);
    return undefined;
  }
  for (const key of Object.keys(v)) {
    if (!allowed.includes(key)) {
      const near = allowed.find((a) => a.replace(/-/g, '') === key.replace(/[-_]/g, '').toLowerCase());
      p.add(join(path, key), 'unknown key', near ? `did you mean ${near}?` : `use one of: ${allowed.join(', ')}`);
    }
  }
  return v;
}

export function string(p: Problems, v: unknown, path: string, dflt: string, fix?: string): string;
export function string(p: Problems, v: unknown, path: string, dflt: undefined, fix?: string): string | undefined;
export function string(p: Problems, v: unknown, path: string, dflt: string | undefined, fix = 'write it as text'): string | undefined {
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v !== 'string' || v.length === 0) {
    p.add(path, `expected a non-empty string, got ${show(v)}`, fix);
    return dflt;
  }
  return v;
}

export function integer(p: Problems, v: unknown, path: string, dflt: number, min: number, max: number): number {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    p.add(path, `expected a whole number from ${min} to ${max}, got ${show(v)}`, 'correct the number');
    return dflt;
  }
  return v;
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1024 ** 2, g: 1e9, gb: 1e9, gib: 1024 ** 3 };
const TIME_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** A byte count: a whole number or text like `64MiB`, `500kB`. */
export function bytes(p: Problems, v: unknown, path: string, dflt: number, min: number): number {
  if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
    const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
    if (!m || unit === undefined) {
      p.add(path, `${show(v)} is not a size`, 'write a number of bytes or e.g. 64MiB, 500kB, 1GB');
      return dflt;
    }
    v = Math.round(Number(m[1]) * unit);
  }
  return integer(p, v, path, dflt, min, Number.MAX_SAFE_INTEGER);
}

/** A duration in ms: a whole number or text like `30s`, `7d`, `250ms`. */
export function millis(p: Problems, v: unknown, path: string, dflt: number, min: number): number {
  if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/.exec(v);
    const unit = m ? TIME_UNITS[m[2]!] : undefined;
    if (!m || unit === undefined) {
      p.add(path, `${show(v)} is not a duration`, 'write milliseconds or e.g. 250ms, 30s, 5m, 12h, 7d');
      return dflt;
    }
    v = Math.round(Number(m[1]) * unit);
  }
  return integer(p, v, path, dflt, min, Number.MAX_SAFE_INTEGER);
}

export function list(p: Problems, v: unknown, path: string, fix: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    p.add(path, `expected a list, got ${show(v)}`, fix);
    return [];
  }
  return v;
}

export function oneOf<T extends string>(p: Problems, v: unknown, path: string, dflt: T, options: readonly T[]): T {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'string' || !options.includes(v as T)) {
    p.add(path, `unknown value ${show(v)}`, `use one of: ${options.join(', ')}`);
    return dflt;
  }
  return v as T;
}
