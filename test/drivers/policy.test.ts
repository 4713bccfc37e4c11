import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../runtime/errors.js';
import { parseManifest } from '../../runtime/manifest.js';
import { checkManifestAgainstPolicy, parsePolicy } from '../../drivers/policy/policy.js';
import { filterCovers, filterProblem, topicMatches, topicProblem } from '../../drivers/policy/topics.js';

const contractPolicy = { roles: { climate: { gpio: { read: [17], write: [22] }, telemetry: ['*'] } }, components: { thermo: ['climate'] } };
const manifest = (caps: unknown, name = 'thermo') => parseManifest({ name, version: '1.0.0', capabilities: caps });

describe('parsePolicy', () => {
  it('accepts the contract example', () => {
    const p = parsePolicy(contractPolicy);
    expect([...p.roles.keys()]).toEqual(['climate']);
    expect(p.components.get('thermo')).toEqual(['climate']);
  });

  it('bad input is one line naming the key', () => {
    const cases: Array<[unknown, RegExp]> = [
      [[], /expected a mapping/],
      [{ rolez: {} }, /policy.rolez: unknown key/],
      [{ roles: { a: { gpio: { read: ['x'] } } } }, /policy.roles.a.gpio.read\[0\]: expected a pin/],
      [{ roles: { a: { gpio: { read: [2000] } } } }, /expected a pin/],
      [{ roles: { a: { usb: [] } } }, /policy.roles.a.usb: unknown key/],
      [{ roles: { a: { messaging: { send: ['a/#/b'] } } } }, /# must be the whole last level/],
      [{ roles: { a: { messaging: { send: ['a+/b'] } } } }, /\+ must be a whole level/],
      [{ roles: {}, components: { thermo: ['ghost'] } }, /unknown role "ghost"/],
      [{ roles: { a: { serial: [''] } } }, /non-empty string/],
    ];
    for (const [raw, re] of cases) {
      let err: unknown;
      try {
        parsePolicy(raw);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(raw)).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).code).toBe('INVALID_POLICY');
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).not.toContain('\n');
    }
  });
});

describe('checkManifestAgainstPolicy', () => {
  const policy = parsePolicy({
    roles: {
      climate: { gpio: { read: [17], write: [22] }, telemetry: ['*'] },
      buttons: { gpio: { watch: [4] } },
      uart: { serial: ['/dev/ttyUSB*'], telemetry: ['uart-'.concat('*')] },
      chat: { messaging: { send: ['thermo/#'], receive: ['cmd/+/set'] } },
    },
    components: { thermo: ['climate', 'buttons', 'chat'], logger: ['uart'] },
  });

  it('a manifest within its roles has no violations; config is always allowed', () => {
    const m = manifest({ gpio: { read: [17], write: [22], watch: [{ pin: 4, edge: 'rising' }, 17] }, telemetry: ['temperature', '*'], messaging: { send: ['thermo/status', 'thermo/+/x', 'thermo/#'], receive: ['cmd/a/set', 'cmd/+/set'] }, config: { setpoint: '21.5' } });
    expect(checkManifestAgainstPolicy(m, policy)).toEqual([]);
  });

  it('names exactly what exceeds the roles, one line each, nothing trimmed', () => {
    const m = manifest({ gpio: { read: [17, 27], write: [22, 23], watch: [5] }, serial: [{ port: '/dev/ttyAMA0', baud: 9600 }], messaging: { send: ['other/x', '#'], receive: ['cmd/#'] } });
    expect(checkManifestAgainstPolicy(m, policy)).toEqual([
      'component thermo: gpio.read pin 27 is not granted by roles [climate, buttons, chat]',
      'component thermo: gpio.write pin 23 is not granted by roles [climate, buttons, chat]',
      'component thermo: gpio.watch pin 5 is not granted by roles [climate, buttons, chat]',
      'component thermo: serial port /dev/ttyAMA0 is not granted by roles [climate, buttons, chat]',
      'component thermo: messaging.send "other/x" is not covered by roles [climate, buttons, chat]',
      'component thermo: messaging.send "#" is not covered by roles [climate, buttons, chat]',
      'component thermo: messaging.receive "cmd/#" is not covered by roles [climate, buttons, chat]',
    ]);
  });

  it('prefix patterns for ports and channels; "*" in a manifest needs "*" in a role', () => {
    const ok = manifest({ serial: [{ port: '/dev/ttyUSB1' }], telemetry: ['uart-rx'] }, 'logger');
    expect(checkManifestAgainstPolicy(ok, policy)).toEqual([]);
    const bad = manifest({ telemetry: ['*', 'rx'] }, 'logger');
    expect(checkManifestAgainstPolicy(bad, policy)).toEqual([
      'component logger: telemetry channel "*" is not granted by roles [uart]',
      'component logger: telemetry channel "rx" is not granted by roles [uart]',
    ]);
  });

  it('a component without roles gets nothing but config', () => {
    expect(checkManifestAgainstPolicy(manifest({ config: { a: '1' } }, 'stranger'), policy)).toEqual([]);
    expect(checkManifestAgainstPolicy(manifest({ gpio: { read: [1] } }, 'stranger'), policy)).toEqual([
      'component stranger: gpio.read pin 1 is not granted by any role (policy.components has no entry for stranger)',
    ]);
  });

  it('malformed manifest filters are violations too', () => {
    const errs = checkManifestAgainstPolicy(manifest({ messaging: { send: ['thermo/#/x'] } }), policy);
    expect(errs[0]).toMatch(/# must be the whole last level/);
  });

  it('the contract example: thermo reading 27 exceeds climate', () => {
    const p = parsePolicy(contractPolicy);
    expect(checkManifestAgainstPolicy(manifest({ gpio: { read: [17], write: [22] }, telemetry: ['temperature', 'humidity'] }), p)).toEqual([]);
    expect(checkManifestAgainstPolicy(manifest({ gpio: { read: [17, 27] } }), p)).toHaveLength(1);
  });
});

describe('MQTT topics', () => {
  it('topicMatches', () => {
    expect(topicMatches('a/#', 'a')).toBe(true);
    expect(topicMatches('a/#', 'a/b/c')).toBe(true);
    expect(topicMatches('a/+', 'a/b')).toBe(true);
    expect(topicMatches('a/+', 'a/b/c')).toBe(false);
    expect(topicMatches('a/+', 'a')).toBe(false);
    expect(topicMatches('+/+', '/x')).toBe(true);
    expect(topicMatches('#', '$SYS/x')).toBe(false);
    expect(topicMatches('a/b', 'a/b')).toBe(true);
    expect(topicMatches('a/b', 'a/b/c')).toBe(false);
  });

  it('filterCovers: every topic the inner filter matches is matched by the outer', () => {
    const yes: Array<[string, string]> = [
      ['#', 'a/b'], ['#', '#'], ['a/#', 'a'], ['a/#', 'a/#'], ['a/#', 'a/+/c'], ['+/b', 'x/b'], ['+/+', '+/b'], ['a/+', 'a/+'], ['+/#', 'a'],
    ];
    const no: Array<[string, string]> = [
      ['a/+', 'a/#'], ['a/+', 'a'], ['a', 'a/#'], ['a/+/#', 'a/#'], ['a/b', 'a/+'], ['+', '+/b'], ['#', '$SYS/#'], ['+/x', '$SYS/x'], ['a/b/c', 'a/b'],
    ];
    for (const [o, i] of yes) expect(filterCovers(o, i), `${o} covers ${i}`).toBe(true);
    for (const [o, i] of no) expect(filterCovers(o, i), `${o} does not cover ${i}`).toBe(false);
  });

  it('topicProblem / filterProblem', () => {
    expect(topicProblem('thermo/status')).toBeUndefined();
    expect(topicProblem('a/+')).toMatch(/wildcard/);
    expect(topicProblem('a/#')).toMatch(/wildcard/);
    expect(topicProblem('')).toMatch(/empty/);
    expect(topicProblem('x'.repeat(300))).toMatch(/max 256/);
    expect(topicProblem('a\u0000b')).toMatch(/NUL/);
    expect(topicProblem('$SYS/x')).toMatch(/reserved/);
    expect(topicProblem(42)).toMatch(/empty/);
    expect(filterProblem('a/#')).toBeUndefined();
    expect(filterProblem('#/a')).toBeDefined();
    expect(filterProblem('')).toBeDefined();
  });
});
