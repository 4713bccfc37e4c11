import { describe, expect, it } from 'vitest';
import { checkEnvelope, type EnvelopeCheckOptions } from '../../gateway/ota/envelope.js';
import { trustStore } from '../../gateway/ota/keys.js';
import { compareSemver } from '../../gateway/ota/semver.js';
import { makeRelease, newKey } from './helpers.js';

const k1 = newKey();
const k2 = newKey();
const stranger = newKey();
const NOW = Date.parse('2026-06-01T00:00:00Z');

function opts(over: Partial<EnvelopeCheckOptions> = {}): EnvelopeCheckOptions {
  return {
    gatewayId: 'gw-1',
    groups: ['lab'],
    trustedKeys: trustStore([k1.pub, k2.pub]),
    threshold: 1,
    maxArtifactBytes: 1 << 20,
    component: 'thermo',
    floor: () => '1.0.0',
    checkCapabilities: () => [],
    now: () => NOW,
    ...over,
  };
}

const reasonOf = (payload: Uint8Array, o = opts()) => {
  const r = checkEnvelope(payload, o);
  return r.ok ? 'ok' : `${r.reason}: ${r.detail}`;
};

describe('release envelope checks', () => {
  it('accepts a well-formed, signed, targeted, newer release and maps it to a runtime manifest', () => {
    const rel = makeRelease({ version: '1.1.0', keys: [k1.priv] });
    const r = checkEnvelope(rel.payload, opts());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.release.runtime).toMatchObject({ name: 'thermo', version: '1.1.0', tickMs: 1000 });
    expect(r.release.runtime.capabilities.telemetry).toEqual(['temp']);
    expect(r.release.signedBy).toEqual([k1.keyid]);
    expect(r.release.envelopeSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('bad-signature: a trusted key whose signature does not match the manifest', () => {
    const rel = makeRelease({ version: '1.1.0', keys: [k1.priv], after: (e) => void (e.manifest.size += 0, (e.manifest as { 'tick-ms'?: number })['tick-ms'] = 5) });
    expect(reasonOf(rel.payload)).toMatch(/^bad-signature: signature by trusted key/);
    const garbled = makeRelease({ version: '1.1.0', keys: [k1.priv], after: (e) => void (e.signatures[0]!.sig = 'AAAA') });
    expect(reasonOf(garbled.payload)).toMatch(/^bad-signature/);
  });

  it('untrusted-key: only signatures by unknown keys (or none)', () => {
    expect(reasonOf(makeRelease({ version: '1.1.0', keys: [stranger.priv] }).payload)).toMatch(/^untrusted-key: no signature from a trusted key/);
    expect(reasonOf(makeRelease({ version: '1.1.0', keys: [] }).payload)).toMatch(/^untrusted-key: the envelope has no signatures/);
  });

  it('threshold 2: one trusted key, the same key twice, or a stranger as second signer is bad-signature; two distinct pass', () => {
    const two = opts({ threshold: 2 });
    expect(reasonOf(makeRelease({ version: '1.1.0', keys: [k1.priv] }).payload, two)).toMatch(/^bad-signature: 1 distinct trusted key\(s\) signed; threshold is 2/);
    expect(reasonOf(makeRelease({ version: '1.1.0', keys: [k1.priv, k1.priv] }).payload, two)).toMatch(/^bad-signature: 1 distinct/);
    expect(reasonOf(makeRelease({ version: '1.1.0', keys: [k1.priv, stranger.priv] }).payload, two)).toMatch(/^bad-signature: 1 distinct/);
    expect(reasonOf(makeRelease({ version: '1.1.0', keys: [k2.priv, k1.priv] }).payload, two)).toBe('ok');
  });

  it('expired: by the injected clock', () => {
    const rel = makeRelease({ version: '1.1.0', keys: [k1.priv], edit: (m) => void (m.expires = '2026-05-31T23:59:59Z') });
    expect(reasonOf(rel.payload)).toMatch(/^expired: release expired at 2026-05-31T23:59:59Z/);
    expect(reasonOf(rel.payload, opts({ now: () => Date.parse('2026-05-01T00:00:00Z') }))).toBe('ok');
  });

  it('targets: gateway id, group:<g>, omitted = everyone; otherwise not-targeted', () => {
    const to = (targets: string[] | undefined) => makeRelease({ version: '1.1.0', keys: [k1.priv], edit: (m) => void (targets && (m.targets = targets)) }).payload;
    expect(reasonOf(to(undefined))).toBe('ok');
    expect(reasonOf(to(['gw-1']))).toBe('ok');
    expect(reasonOf(to(['gw-9', 'group:lab']))).toBe('ok');
    expect(reasonOf(to(['gw-9', 'group:field']))).toMatch(/^not-targeted/);
    expect(reasonOf(to(['lab']))).toMatch(/^not-targeted/); // a bare name is a gateway id, not a group
  });

  it('downgrade: not above the floor (equal, lower, and a prerelease of the floor)', () => {
    for (const v of ['1.0.0', '0.9.9', '1.0.0-rc.1']) expect(reasonOf(makeRelease({ version: v, keys: [k1.priv] }).payload)).toMatch(/^downgrade: version/);
    expect(reasonOf(makeRelease({ version: '1.0.1-alpha', keys: [k1.priv] }).payload)).toBe('ok');
    expect(reasonOf(makeRelease({ version: '1.0.0', keys: [k1.priv] }).payload, opts({ floor: () => undefined }))).toBe('ok');
  });

  it('semver precedence follows section 11', () => {
    const ordered = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.10.0', '2.0.0'];
    for (let i = 1; i < ordered.length; i++) expect(compareSemver(ordered[i - 1]!, ordered[i]!), `${ordered[i - 1]} < ${ordered[i]}`).toBe(-1);
    expect(compareSemver('1.0.0+build.1', '1.0.0+build.2')).toBe(0);
  });

  it('too-large: size above max-artifact-bytes, before any chunk is fetched', () => {
    expect(reasonOf(makeRelease({ version: '1.1.0', keys: [k1.priv], size: 5000 }).payload, opts({ maxArtifactBytes: 4096 }))).toMatch(/^too-large: component is 5000 bytes/);
  });

  it('capability-denied: the injected policy check sees the mapped manifest', () => {
    const seen: string[][] = [];
    const o = opts({ checkCapabilities: (m) => (seen.push(m.capabilities.gpio.write.map(String)), m.capabilities.gpio.write.length ? ['gpio.write [22] is not granted to thermo'] : []) });
    expect(reasonOf(makeRelease({ version: '1.1.0', keys: [k1.priv], capabilities: { gpio: { write: [22] } } }).payload, o)).toBe('capability-denied: gpio.write [22] is not granted to thermo');
    expect(seen).toEqual([['22']]);
  });

  it('incompatible-world: any world this gateway does not load (it loads 0.1.0 and 0.2.0)', () => {
    const rel = makeRelease({ version: '1.1.0', keys: [k1.priv], edit: (m) => void (m.world = 'airssys:gateway/sensor@0.3.0') });
    expect(reasonOf(rel.payload)).toMatch(/^incompatible-world: release is for world airssys:gateway\/sensor@0.3.0/);
    const v2 = makeRelease({ version: '1.1.0', keys: [k1.priv], edit: (m) => void (m.world = 'airssys:gateway/sensor@0.2.0') });
    expect(reasonOf(v2.payload) ?? '').not.toMatch(/^incompatible-world/);
  });

  it('bad-envelope: garbage, oversized, wrong shapes, inconsistent chunks, wrong topic', () => {
    expect(reasonOf(Buffer.from('\x00\x01garbage'))).toMatch(/^bad-envelope: envelope is not JSON/);
    expect(reasonOf(Buffer.from('[1,2]'))).toMatch(/^bad-envelope/);
    expect(reasonOf(Buffer.from(JSON.stringify({ manifest: {}, signatures: [], pad: 'x'.repeat(70_000) })))).toMatch(/^bad-envelope: envelope is \d+ bytes; the limit is 65536/);
    const bad = (edit: (m: Record<string, unknown>) => void) => reasonOf(makeRelease({ version: '1.1.0', keys: [k1.priv], edit: (m) => edit(m as unknown as Record<string, unknown>) }).payload);
    expect(bad((m) => (m.chunks = 99))).toMatch(/^bad-envelope: manifest.chunks is 99 but size 3000 in chunks of 1024 needs 3/);
    expect(bad((m) => (m.size = '3000'))).toMatch(/^bad-envelope: manifest.size/);
    expect(bad((m) => (m.sha256 = 'ABC'))).toMatch(/^bad-envelope: manifest.sha256/);
    expect(bad((m) => (m.version = 'one'))).toMatch(/^bad-envelope: manifest.version/);
    expect(bad((m) => (m.expires = 'tomorrow'))).toMatch(/^bad-envelope: manifest.expires/);
    expect(bad((m) => (m.targets = 'gw-1'))).toMatch(/^bad-envelope: manifest.targets/);
    expect(bad((m) => (m.extra = 1))).toMatch(/^bad-envelope: unknown manifest key "extra"/);
    expect(bad((m) => delete m.world)).toMatch(/^bad-envelope: manifest.world/);
    expect(bad((m) => (m.capabilities = { gpio: { write: ['x'] } }))).toMatch(/^bad-envelope: manifest capabilities.gpio.write\[0\]/);
    expect(reasonOf(makeRelease({ version: '1.1.0', keys: [k1.priv], component: 'other' }).payload)).toMatch(/^bad-envelope: envelope for component other arrived on the topic of thermo/);
    const r = checkEnvelope(makeRelease({ version: '1.1.0', keys: [k1.priv], edit: (m) => void (m.chunks = 9) }).payload, opts());
    expect(r.ok ? undefined : r.version).toBe('1.1.0');
  });
});
