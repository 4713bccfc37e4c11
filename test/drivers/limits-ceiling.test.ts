import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../runtime/manifest.js';
import { checkManifestAgainstPolicy, parsePolicy } from '../../drivers/policy/policy.js';
import { DEFAULT_LIMIT_CEILING } from '../../drivers/policy/limits-ceiling.js';
import { ConfigError, loadConfig } from '../../gateway/config/load.js';

/**
 * Contract 7.2: roles carry a `limits` ceiling, `policy.default-limits` covers components whose roles
 * name none, and a manifest asking for more is refused with one line per limit, never trimmed.
 */
const manifest = (limits?: Record<string, number>, name = 'thermo') => parseManifest({ name, version: '1.0.0', ...(limits ? { limits } : {}) });
const limitLines = (lines: string[]) => lines.filter((l) => /limits\./.test(l));

describe('policy limits ceiling', () => {
  it('a manifest without limits, and every example manifest, fits the default ceiling', () => {
    const policy = parsePolicy({});
    expect(policy.defaultLimits).toEqual(DEFAULT_LIMIT_CEILING);
    expect(limitLines(checkManifestAgainstPolicy(manifest(), policy))).toEqual([]);
    const examples = join(import.meta.dirname, '../../examples');
    for (const dir of readdirSync(examples)) {
      const m = parseManifest(YAML.parse(readFileSync(join(examples, dir, `${dir}.yaml`), 'utf8')));
      expect(limitLines(checkManifestAgainstPolicy(m, policy)), dir).toEqual([]);
    }
  });

  it('refuses fuel 1e12 under the defaults with one line naming the limit and where the ceiling came from', () => {
    const lines = limitLines(checkManifestAgainstPolicy(manifest({ fuel: 1e12 }), parsePolicy({})));
    expect(lines).toEqual([`component thermo: limits.fuel 1000000000000 is above its ceiling ${DEFAULT_LIMIT_CEILING.fuel} (from policy.default-limits)`]);
  });

  it('one line per limit asked beyond the ceiling', () => {
    const lines = limitLines(checkManifestAgainstPolicy(manifest({ fuel: 1e12, 'memory-mb': 512, 'deadline-ms': 5000 }), parsePolicy({})));
    expect(lines.map((l) => /limits\.([a-z-]+)/.exec(l)![1])).toEqual(['memory-mb', 'fuel', 'deadline-ms']);
  });

  it('the ceiling is the highest of the roles, key by key; keys no role names come from default-limits', () => {
    const policy = parsePolicy({
      'default-limits': { fuel: 1_000_000, 'memory-mb': 8, 'deadline-ms': 50 },
      roles: { small: { limits: { fuel: 2e9 } }, big: { limits: { fuel: 1e11, 'memory-mb': 32 } }, plain: {} },
      components: { thermo: ['small', 'big', 'plain'], other: ['plain'] },
    });
    const fits = manifest({ fuel: 1e11, 'memory-mb': 32, 'deadline-ms': 50 });
    expect(limitLines(checkManifestAgainstPolicy(fits, policy))).toEqual([]);
    const over = limitLines(checkManifestAgainstPolicy(manifest({ fuel: 1e11 + 1, 'memory-mb': 32, 'deadline-ms': 51 }), policy));
    expect(over).toEqual([
      'component thermo: limits.fuel 100000000001 is above its ceiling 100000000000 (from role big)',
      'component thermo: limits.deadline-ms 51 is above its ceiling 50 (from policy.default-limits)',
    ]);
    // A component whose roles name no limits gets default-limits (and the manifest defaults do not fit this strict one).
    expect(limitLines(checkManifestAgainstPolicy(manifest({ fuel: 1_000_000, 'memory-mb': 8, 'deadline-ms': 50 }, 'other'), policy))).toEqual([]);
    expect(limitLines(checkManifestAgainstPolicy(manifest({ fuel: 1_000_001, 'memory-mb': 8, 'deadline-ms': 50 }, 'other'), policy))).toHaveLength(1);
  });

  it('bad limits in the policy are refused with a line naming the key', () => {
    expect(() => parsePolicy({ roles: { r: { limits: { fuel: 'lots' } } } })).toThrow(/^config policy\.roles\.r\.limits\.fuel: expected a whole number/);
    expect(() => parsePolicy({ roles: { r: { limits: { cpu: 1 } } } })).toThrow(/^config policy\.roles\.r\.limits\.cpu: unknown key; use memory-mb, fuel, deadline-ms/);
    expect(() => parsePolicy({ 'default-limits': { 'deadline-ms': 0 } })).toThrow(/^config policy\.default-limits\.deadline-ms: expected a whole number from 1/);
  });
});

describe('config load validates the policy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airssys-policy-'));
  const load = (policy: unknown) => {
    const f = join(dir, `gw-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(f, YAML.stringify({ gateway: { id: 'gw-1' }, policy }));
    return loadConfig(f, { env: {} });
  };
  const problems = (policy: unknown): string[] => {
    try {
      load(policy);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems;
    }
    throw new Error('expected the config to be rejected');
  };

  it('accepts role limits and default-limits', () => {
    const c = load({ roles: { heavy: { limits: { fuel: 1e11, 'deadline-ms': 200 } } }, components: { spinner: ['heavy'] }, 'default-limits': { fuel: 20_000_000 } });
    expect(c.policy.defaultLimits).toEqual({ ...DEFAULT_LIMIT_CEILING, fuel: 20_000_000 });
  });

  it('a bad role body fails at load with exactly one line (not at gateway start)', () => {
    expect(problems({ roles: { climate: { gpio: { read: ['seventeen'] } } } })).toEqual([
      'config policy.roles.climate.gpio.read[0]: expected a pin number or "*", got "seventeen"; write BCM line numbers, e.g. [17, 27]',
    ]);
    const lines = problems({ roles: { heavy: { limits: { fuel: -1 } } } });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^config policy\.roles\.heavy\.limits\.fuel: .+; .+/);
    expect(problems({ 'default-limits': 'high' })).toEqual([
      'config policy.default-limits: expected a mapping, got "high"; write e.g. { memory-mb: 16, fuel: 50000000, deadline-ms: 100 }',
    ]);
  });
});
