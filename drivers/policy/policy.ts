import { GatewayError } from '../../runtime/errors.js';
import { clip, echo } from '../../runtime/echo.js';
import type { Manifest } from '../../runtime/manifest.js';
import { DRIVERS } from '../interfaces/index.js';
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
 * Each interface's key is parsed and checked by its driver (drivers/interfaces/<name>.ts).
 * `config` values are always allowed. `policy.default-limits` is the ceiling of a component whose
 * roles name no limits.
 */

export type { PinSet } from './policy-parts.js';
export { nameMatches } from './policy-parts.js';

/**
 * A role: each interface's part (parsed by its driver's policy part, drivers/interfaces/<name>.ts,
 * keyed by the interface's role key) plus a resource ceiling.
 */
export interface Role {
  parts: ReadonlyMap<string, unknown>;
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

const PARTS = DRIVERS.flatMap((d) => (d.policy ? [d.policy] : []));

function strings(v: unknown, path: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw policyError(path, `expected a list, got ${echo(v)}`, 'write it as [a, b]');
  return v.map((s, i) => {
    if (typeof s !== 'string' || s.length === 0) throw policyError(`${path}[${i}]`, `expected a non-empty string, got ${echo(s)}`, 'quote it');
    return s;
  });
}

function parseRole(v: unknown, path: string): Role {
  const allowed = [...PARTS.map((p) => p.key), 'limits'];
  if (!isObj(v)) throw policyError(path, 'expected a mapping', `use keys ${PARTS.map((p) => p.key).join(', ')}`);
  for (const k of Object.keys(v)) if (!allowed.includes(k)) throw policyError(`${path}.${clip(k)}`, 'unknown key', `use one of: ${allowed.join(', ')}`);
  const parts = new Map<string, unknown>();
  for (const p of PARTS) parts.set(p.key, p.parse(v[p.key], `${path}.${p.key}`, policyError));
  const role: Role = { parts };
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
  for (const p of PARTS) out.push(...p.check(manifest, roles.map((r) => r.parts.get(p.key)), who, by));
  const held = roleNames.flatMap((name) => {
    const r = policy.roles.get(name);
    return r ? [{ name, limits: r.limits }] : [];
  });
  out.push(...checkLimits(manifest, ceilingOf(held, policy.defaultLimits ?? DEFAULT_LIMIT_CEILING)));
  return out;
}
