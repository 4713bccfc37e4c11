import type { Manifest } from '../../runtime/manifest.js';

/**
 * The resource ceiling of the policy (contract 7.2): `policy.roles.<role>.limits` and
 * `policy.default-limits`, each `{ memory-mb, fuel, deadline-ms }`.
 *
 * A component's ceiling, key by key: the highest value among its roles that name that key; when
 * none of its roles does, `policy.default-limits` (itself defaulting, key by key, to
 * DEFAULT_LIMIT_CEILING). A manifest asking for more than its ceiling is refused with one line per
 * limit (config components at startup, OTA as `capability-denied`); it is never trimmed.
 */
export interface LimitCeiling {
  memoryMb: number;
  fuel: number;
  deadlineMs: number;
}

/**
 * Chosen so that every manifest that leaves `limits` out (16 MiB, 50M fuel, 1000 ms) fits, with room
 * for a real workload: the FFT example needs ~0.9M fuel per event; 100M fuel is ~10 ms of tight
 * Wasm loop on x64 and ~0.1-0.3 s on a Pi. The deadline stops anything that fuel would let run longer.
 */
export const DEFAULT_LIMIT_CEILING: Readonly<LimitCeiling> = { memoryMb: 64, fuel: 100_000_000, deadlineMs: 1000 };

const KEYS = [
  { key: 'memory-mb', field: 'memoryMb', min: 1, max: 4096 },
  { key: 'fuel', field: 'fuel', min: 1000, max: Number.MAX_SAFE_INTEGER },
  { key: 'deadline-ms', field: 'deadlineMs', min: 1, max: 600_000 },
] as const;

export type LimitsProblem = (path: string, problem: string, fix: string) => Error;

/** Parses `{ memory-mb, fuel, deadline-ms }` (every key optional). Throws `fail(...)` naming the key. */
export function parseLimitCeiling(v: unknown, path: string, fail: LimitsProblem): Partial<LimitCeiling> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail(path, `expected a mapping, got ${JSON.stringify(v)}`, 'write e.g. { memory-mb: 16, fuel: 50000000, deadline-ms: 100 }');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KEYS.some((d) => d.key === k)) throw fail(`${path}.${k}`, 'unknown key', 'use memory-mb, fuel, deadline-ms');
  }
  const out: Partial<LimitCeiling> = {};
  for (const d of KEYS) {
    const x = o[d.key];
    if (x === undefined || x === null) continue;
    if (typeof x !== 'number' || !Number.isInteger(x) || x < d.min || x > d.max) {
      throw fail(`${path}.${d.key}`, `expected a whole number from ${d.min} to ${d.max}, got ${JSON.stringify(x)}`, 'correct the number');
    }
    out[d.field] = x;
  }
  return out;
}

/** The ceiling of a component holding these roles, and where each key of it came from. */
export function ceilingOf(roles: { name: string; limits?: Partial<LimitCeiling> }[], defaults: LimitCeiling): { ceiling: LimitCeiling; from: Record<keyof LimitCeiling, string> } {
  const ceiling = { ...defaults };
  const from = { memoryMb: 'policy.default-limits', fuel: 'policy.default-limits', deadlineMs: 'policy.default-limits' };
  for (const d of KEYS) {
    let best: number | undefined;
    for (const r of roles) {
      const x = r.limits?.[d.field];
      if (x !== undefined && (best === undefined || x > best)) {
        best = x;
        from[d.field] = `role ${r.name}`;
      }
    }
    if (best !== undefined) ceiling[d.field] = best;
  }
  return { ceiling, from };
}

/** One line per limit the manifest asks beyond its ceiling. */
export function checkLimits(manifest: Manifest, { ceiling, from }: ReturnType<typeof ceilingOf>): string[] {
  const out: string[] = [];
  for (const d of KEYS) {
    const asked = manifest.limits[d.field];
    if (asked > ceiling[d.field]) {
      out.push(`component ${manifest.name}: limits.${d.key} ${asked} is above its ceiling ${ceiling[d.field]} (from ${from[d.field]})`);
    }
  }
  return out;
}
