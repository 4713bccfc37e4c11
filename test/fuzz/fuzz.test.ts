import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../gateway/config/index.js';
import { parseManifest } from '../../runtime/manifest.js';
import { fuzzConfigs, fuzzEnvelopes, fuzzFramer, MAX_LINE, type FuzzReport } from './harness.js';

/**
 * The seeded fuzzers of harness.ts, scaled down (the full counts: `npm run bench -- fuzz`, results in
 * docs/hardening.md). Same seeds as the bench, so these cases are the first of the full run.
 */

/** Everything but over-long lines: escaped exceptions, stack traces, multi-line refusals, slow cases, broken invariants. */
const hard = (r: FuzzReport) => r.findings.filter((f) => f.kind !== 'too-long');
const tooLong = (r: FuzzReport) => r.findings.filter((f) => f.kind === 'too-long');

const reports = {
  envelopes: () => fuzzEnvelopes(1, 400),
  configs: () => fuzzConfigs(2, 120),
  framer: () => fuzzFramer(3, 250),
};
const cache = new Map<string, FuzzReport[]>();
const run = (k: keyof typeof reports): FuzzReport[] => {
  if (!cache.has(k)) {
    const r = reports[k]();
    cache.set(k, Array.isArray(r) ? r : [r]);
  }
  return cache.get(k)!;
};

describe.each(Object.keys(reports) as Array<keyof typeof reports>)('fuzz: %s', (k) => {
  it('every case is accepted or refused with a coded one-line error: no exception escapes, no stack trace, none slow', () => {
    for (const r of run(k)) {
      expect(r.cases).toBeGreaterThan(0);
      // Both outcomes occur, so the mutations reach past the first check (and the fuzzer is not
      // just producing garbage the parser rejects at byte 0).
      expect(r.accepted, r.target).toBeGreaterThan(0);
      expect(r.refused, r.target).toBeGreaterThan(0);
      expect(hard(r), r.target).toEqual([]);
    }
  });

  // Refusals echo user values cut to 64 characters (runtime/echo.ts), so no line repeats a 70 KB key back.
  it(`every refusal line is at most ${MAX_LINE} characters`, () => {
    for (const r of run(k)) expect(tooLong(r), r.target).toEqual([]);
  });
});

// Found while fuzzing with names that live on Object.prototype: a role `toString` passed the config
// check (`in` walks the prototype chain) only to be refused at start; a role or config key named
// `__proto__` vanished silently (assignment set the object's prototype instead).
describe('names that exist on Object.prototype are ordinary names', () => {
  const base = (policy: unknown, manifest: Record<string, unknown> = {}) => ({
    board: 'sim',
    policy,
    components: [{ source: 'c.wasm', manifest: { name: 'a', version: '1.0.0', capabilities: { telemetry: ['t'] }, ...manifest } }],
  });
  const parse = (raw: unknown) => parseConfig(raw, { baseDir: __dirname, env: {}, hostname: 'fuzz' });

  it('a role that is not defined is refused by the config check, whatever its name', () => {
    expect(() => parse(base({ roles: {}, components: { a: ['toString'] } }))).toThrow(/policy\.components\.a\[0\]: role "toString" is not defined/);
  });

  it('a role and a config key named __proto__ are kept', () => {
    const raw = JSON.parse('{"roles":{"__proto__":{"telemetry":["*"]}},"components":{"a":["__proto__"]}}');
    const manifest = JSON.parse('{"capabilities":{"telemetry":["t"],"config":{"__proto__":"x"}}}');
    let cfg: ReturnType<typeof parse> | undefined;
    try {
      cfg = parse(base(raw, manifest));
    } catch (err) {
      // only the missing component file may be reported
      expect((err as ConfigError).problems.filter((l) => !/c\.wasm/.test(l))).toEqual([]);
    }
    expect([...parsePolicyOf(raw).keys()]).toContain('__proto__');
    expect(Object.keys(parseManifest({ name: 'a', version: '1.0.0', ...manifest }).capabilities.config)).toEqual(['__proto__']);
    if (cfg) expect([...cfg.policy.roles.keys()]).toEqual(['__proto__']);
  });
});

/** The config loader's view of the policy roles (parseConfig with only a policy and no components). */
function parsePolicyOf(policy: unknown): ReadonlyMap<string, unknown> {
  return parseConfig({ board: 'sim', policy }, { baseDir: __dirname, env: {}, hostname: 'fuzz' }).policy.roles;
}
