import { clip, echo } from '../../runtime/echo.js';
import type { PolicyErrorFn } from '../interfaces/context.js';
import { filterProblem } from './topics.js';

/** Parsing helpers shared by the interfaces' policy parts (drivers/interfaces/<name>.ts). */

/** A set of pins: `all` for "*". */
export interface PinSet {
  all: boolean;
  pins: Set<number>;
}

type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function keys(o: Obj, path: string, allowed: string[], err: PolicyErrorFn): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw err(`${path}.${clip(k)}`, 'unknown key', `use one of: ${allowed.join(', ')}`);
}

export function arr(v: unknown, path: string, err: PolicyErrorFn): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw err(path, `expected a list, got ${echo(v)}`, 'write it as [a, b]');
  return v;
}

export function pinSet(v: unknown, path: string, err: PolicyErrorFn): PinSet {
  const set: PinSet = { all: false, pins: new Set() };
  arr(v, path, err).forEach((p, i) => {
    if (p === '*') set.all = true;
    else if (typeof p === 'number' && Number.isInteger(p) && p >= 0 && p <= 1023) set.pins.add(p);
    else throw err(`${path}[${i}]`, `expected a pin number or "*", got ${echo(p)}`, 'write BCM line numbers, e.g. [17, 27]');
  });
  return set;
}

export function strings(v: unknown, path: string, err: PolicyErrorFn): string[] {
  return arr(v, path, err).map((s, i) => {
    if (typeof s !== 'string' || s.length === 0) throw err(`${path}[${i}]`, `expected a non-empty string, got ${echo(s)}`, 'quote it');
    return s;
  });
}

export function filters(v: unknown, path: string, err: PolicyErrorFn): string[] {
  return strings(v, path, err).map((f, i) => {
    const p = filterProblem(f);
    if (p) throw err(`${path}[${i}]`, p, 'fix the MQTT filter');
    return f;
  });
}

/** "*" matches everything, "abc*" matches by prefix, anything else exactly. */
export function nameMatches(pattern: string, name: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return name.startsWith(pattern.slice(0, -1));
  return pattern === name;
}

export const hasPin = (s: PinSet, pin: number): boolean => s.all || s.pins.has(pin);
