import { GatewayError } from '../../runtime/errors.js';
import { clip, echo } from '../../runtime/echo.js';
import type { Manifest } from '../../runtime/manifest.js';
import { filterCovers, filterProblem } from './topics.js';
import { ceilingOf, checkLimits, DEFAULT_LIMIT_CEILING, parseLimitCeiling, type LimitCeiling } from './limits-ceiling.js';

/**
 * The ceiling (contract section 2): roles grant capabilities, `components` says which roles each
 * component name may hold. A manifest asking for more is refused with one line per excess; it is
 * never trimmed to fit.
 *
 * Role syntax (gateway config `policy.roles.<role>`):
 *   gpio: { read: [17, 27], write: [22], watch: [4] }   pins or "*"; read also covers watch
 *   serial: ["/dev/ttyUSB0", "/dev/ttyACM*"]           exact, "*" or a trailing-* prefix
 *   telemetry: [temperature, "*"]                       exact, "*" or a trailing-* prefix
 *   messaging: { send: ["thermo/#"], receive: ["cmd/#"] }  MQTT filters
 *   limits: { memory-mb: 64, fuel: 100000000, deadline-ms: 1000 }   a ceiling (limits-ceiling.ts)
 * `config` values are always allowed. `policy.default-limits` is the ceiling of a component whose
 * roles name no limits.
 */

/** A set of pins: `all` for "*". */
export interface PinSet {
  all: boolean;
  pins: Set<number>;
}

export interface Role {
  gpio: { read: PinSet; write: PinSet; watch: PinSet };
  serial: string[];
  telemetry: string[];
  messaging: { send: string[]; receive: string[] };
  /** Resource ceiling; undefined when the role names none. */
  limits?: Partial<LimitCeiling>;
}

export interface Policy {
  roles: Map<string, Role>;
  components: Map<string, string[]>;
  /** Ceiling for components whose roles name no limits. */
  defaultLimits: LimitCeiling;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function policyError(path: string, problem: string, fix: string): GatewayError {
  return new GatewayError('INVALID_POLICY', `config policy.${clip(path, 160)}: ${problem}; ${fix}`);
}

function keys(o: Obj, path: string, allowed: string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw policyError(`${path}.${clip(k)}`, 'unknown key', `use one of: ${allowed.join(', ')}`);
}

function arr(v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw policyError(path, `expected a list, got ${echo(v)}`, 'write it as [a, b]');
  return v;
}

function pinSet(v: unknown, path: string): PinSet {
  const set: PinSet = { all: false, pins: new Set() };
  arr(v, path).forEach((p, i) => {
    if (p === '*') set.all = true;
    else if (typeof p === 'number' && Number.isInteger(p) && p >= 0 && p <= 1023) set.pins.add(p);
    else throw policyError(`${path}[${i}]`, `expected a pin number or "*", got ${echo(p)}`, 'write BCM line numbers, e.g. [17, 27]');
  });
  return set;
}

function strings(v: unknown, path: string): string[] {
  return arr(v, path).map((s, i) => {
    if (typeof s !== 'string' || s.length === 0) throw policyError(`${path}[${i}]`, `expected a non-empty string, got ${echo(s)}`, 'quote it');
    return s;
  });
}

function filters(v: unknown, path: string): string[] {
  return strings(v, path).map((f, i) => {
    const p = filterProblem(f);
    if (p) throw policyError(`${path}[${i}]`, p, 'fix the MQTT filter');
    return f;
  });
}

function parseRole(v: unknown, path: string): Role {
  if (!isObj(v)) throw policyError(path, 'expected a mapping', 'use keys gpio, serial, telemetry, messaging');
  keys(v, path, ['gpio', 'serial', 'telemetry', 'messaging', 'limits']);
  const role: Role = {
    gpio: { read: pinSet(undefined, ''), write: pinSet(undefined, ''), watch: pinSet(undefined, '') },
    serial: [],
    telemetry: [],
    messaging: { send: [], receive: [] },
  };
  if (v.gpio !== undefined) {
    if (!isObj(v.gpio)) throw policyError(`${path}.gpio`, 'expected a mapping', 'use keys read, write, watch');
    keys(v.gpio, `${path}.gpio`, ['read', 'write', 'watch']);
    role.gpio = { read: pinSet(v.gpio.read, `${path}.gpio.read`), write: pinSet(v.gpio.write, `${path}.gpio.write`), watch: pinSet(v.gpio.watch, `${path}.gpio.watch`) };
  }
  role.serial = strings(v.serial, `${path}.serial`);
  role.telemetry = strings(v.telemetry, `${path}.telemetry`);
  if (v.messaging !== undefined) {
    if (!isObj(v.messaging)) throw policyError(`${path}.messaging`, 'expected a mapping', 'use keys send and receive');
    keys(v.messaging, `${path}.messaging`, ['send', 'receive']);
    role.messaging = { send: filters(v.messaging.send, `${path}.messaging.send`), receive: filters(v.messaging.receive, `${path}.messaging.receive`) };
  }
  if (v.limits !== undefined && v.limits !== null) role.limits = parseLimitCeiling(v.limits, `${path}.limits`, policyError);
  return role;
}

/** Parses the gateway config's `policy` key. Throws GatewayError INVALID_POLICY naming the key. */
export function parsePolicy(raw: unknown): Policy {
  if (!isObj(raw)) throw new GatewayError('INVALID_POLICY', 'config policy: expected a mapping with roles and components; see contract section 3');
  for (const k of Object.keys(raw)) if (k !== 'roles' && k !== 'components' && k !== 'default-limits') throw policyError(k, 'unknown key', 'use roles, components and default-limits');
  const dl = raw['default-limits'];
  const defaultLimits: LimitCeiling = { ...DEFAULT_LIMIT_CEILING, ...(dl === undefined || dl === null ? {} : parseLimitCeiling(dl, 'default-limits', policyError)) };
  const roles = new Map<string, Role>();
  if (raw.roles !== undefined) {
    if (!isObj(raw.roles)) throw policyError('roles', 'expected a mapping of role name to capabilities', 'write e.g. roles: { climate: { telemetry: ["*"] } }');
    for (const [name, r] of Object.entries(raw.roles)) roles.set(name, parseRole(r, `roles.${clip(name)}`));
  }
  const components = new Map<string, string[]>();
  if (raw.components !== undefined) {
    if (!isObj(raw.components)) throw policyError('components', 'expected a mapping of component name to role list', 'write e.g. components: { thermo: [climate] }');
    for (const [name, list] of Object.entries(raw.components)) {
      const names = strings(list, `components.${clip(name)}`);
      names.forEach((r, i) => {
        if (!roles.has(r)) throw policyError(`components.${clip(name)}[${i}]`, `unknown role ${echo(r)}`, `define it under policy.roles or use one of: ${[...roles.keys()].slice(0, 10).map((k) => clip(k)).join(', ') || '(none defined)'}`);
      });
      components.set(name, names);
    }
  }
  return { roles, components, defaultLimits };
}

/** "*" matches everything, "abc*" matches by prefix, anything else exactly. */
export function nameMatches(pattern: string, name: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return name.startsWith(pattern.slice(0, -1));
  return pattern === name;
}

const hasPin = (s: PinSet, pin: number) => s.all || s.pins.has(pin);

/**
 * One line per capability the manifest asks for beyond its roles, naming exactly what is missing.
 * Empty when it fits. Used at startup (config components) and for OTA `capability-denied`.
 */
export function checkManifestAgainstPolicy(manifest: Manifest, policy: Policy): string[] {
  const roleNames = policy.components.get(manifest.name) ?? [];
  const roles = roleNames.map((r) => policy.roles.get(r)!).filter(Boolean);
  const by = roleNames.length ? `roles [${roleNames.join(', ')}]` : `any role (policy.components has no entry for ${manifest.name})`;
  const out: string[] = [];
  const who = `component ${manifest.name}`;
  const caps = manifest.capabilities;
  for (const pin of caps.gpio.read) {
    if (!roles.some((r) => hasPin(r.gpio.read, pin))) out.push(`${who}: gpio.read pin ${pin} is not granted by ${by}`);
  }
  for (const pin of caps.gpio.write) {
    if (!roles.some((r) => hasPin(r.gpio.write, pin))) out.push(`${who}: gpio.write pin ${pin} is not granted by ${by}`);
  }
  for (const w of caps.gpio.watch) {
    if (!roles.some((r) => hasPin(r.gpio.watch, w.pin) || hasPin(r.gpio.read, w.pin))) out.push(`${who}: gpio.watch pin ${w.pin} is not granted by ${by}`);
  }
  for (const s of caps.serial) {
    if (!roles.some((r) => r.serial.some((p) => nameMatches(p, s.port)))) out.push(`${who}: serial port ${s.port} is not granted by ${by}`);
  }
  for (const ch of caps.telemetry) {
    // A manifest asking for "*" needs a role with "*": a prefix role does not cover every channel.
    const ok = roles.some((r) => r.telemetry.some((p) => (ch === '*' ? p === '*' : nameMatches(p, ch))));
    if (!ok) out.push(`${who}: telemetry channel ${echo(ch)} is not granted by ${by}`);
  }
  for (const f of [...caps.messaging.send, ...caps.messaging.receive]) {
    const bad = filterProblem(f);
    if (bad) out.push(`${who}: messaging ${bad}`);
  }
  for (const f of caps.messaging.send) {
    if (!roles.some((r) => r.messaging.send.some((rf) => filterCovers(rf, f)))) out.push(`${who}: messaging.send ${echo(f)} is not covered by ${by}`);
  }
  for (const f of caps.messaging.receive) {
    if (!roles.some((r) => r.messaging.receive.some((rf) => filterCovers(rf, f)))) out.push(`${who}: messaging.receive ${echo(f)} is not covered by ${by}`);
  }
  const held = roleNames.flatMap((name) => {
    const r = policy.roles.get(name);
    return r ? [{ name, limits: r.limits }] : [];
  });
  out.push(...checkLimits(manifest, ceilingOf(held, policy.defaultLimits ?? DEFAULT_LIMIT_CEILING)));
  return out;
}
