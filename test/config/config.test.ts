import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../gateway/config/index.js';
import { parsePolicy } from '../../drivers/policy/policy.js';

let dir: string;
const noEnv = {};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'airssys-config-'));
  mkdirSync(join(dir, 'components'));
  mkdirSync(join(dir, 'keys'));
  writeFileSync(join(dir, 'components/thermo.wasm'), 'x');
  writeFileSync(join(dir, 'components/other.wasm'), 'x');
  writeFileSync(join(dir, 'keys/ota.pub'), 'pem');
  writeFileSync(join(dir, 'components/thermo.yaml'), 'name: thermo\nversion: 1.0.0\ntick-ms: 1000\ncapabilities: { telemetry: [temperature] }\n');
  writeFileSync(join(dir, 'components/bad.yaml'), 'name: thermo\nversion: one\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(yaml: string): string {
  const f = join(dir, `gw-${Math.random().toString(16).slice(2)}.yaml`);
  writeFileSync(f, yaml);
  return f;
}

function problems(raw: unknown, env: Record<string, string> = noEnv): string[] {
  try {
    parseConfig(raw, { baseDir: dir, env, hostname: 'pi-test' });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected the config to be rejected');
}

describe('gateway config', () => {
  it('loads the contract example with every default and resolves paths against the config file', () => {
    const f = write(`
gateway: { id: gw-1, data-dir: ./var, groups: [lab] }
mqtt:
  url: mqtt://127.0.0.1:1883
  topic-prefix: airssys
board: sim
ota: { trusted-keys: [keys/ota.pub], threshold: 1, max-artifact-bytes: 33554432 }
policy:
  roles: { climate: { gpio: { read: [17], write: [22] }, telemetry: ["*"] } }
  components: { thermo: [climate] }
components:
  - { source: components/thermo.wasm, manifest: components/thermo.yaml }
  - source: components/other.wasm
    manifest: { name: other, version: 0.2.0 }
`);
    const c = loadConfig(f, { env: noEnv });
    expect(c.gateway).toEqual({ id: 'gw-1', dataDir: join(dir, 'var'), groups: ['lab'] });
    expect(c.mqtt).toMatchObject({ url: 'mqtt://127.0.0.1:1883', embedded: false, topicPrefix: 'airssys', protocol: 'auto', username: undefined });
    expect(c.board).toEqual({ kind: 'sim', options: {} });
    expect(c.ota).toMatchObject({ trustedKeys: [join(dir, 'keys/ota.pub')], threshold: 1, maxArtifactBytes: 33554432 });
    expect(c.ota.probationMs).toBeGreaterThan(0);
    // The loader hands out the driver's parsed Policy (roles as parts), not the raw mapping.
    expect([...c.policy.roles.keys()]).toEqual(['climate']);
    expect(c.policy.roles.get('climate')!.parts.get('telemetry')).toBeDefined();
    expect(c.policy.components).toEqual(new Map([['thermo', ['climate']]]));
    expect(c.components).toHaveLength(2);
    expect(c.components[0]!.source).toBe(join(dir, 'components/thermo.wasm'));
    expect(c.components[0]!.manifestPath).toBe(join(dir, 'components/thermo.yaml'));
    expect(c.components[0]!.manifest).toMatchObject({ name: 'thermo', version: '1.0.0', tickMs: 1000 });
    expect(c.components[0]!.manifest.capabilities.telemetry).toEqual(['temperature']);
    expect(c.components[1]!.manifest.name).toBe('other');
    expect(c.components[1]!.manifestPath).toBeUndefined();
    expect(c.telemetry).toEqual({ outboxMaxBytes: 64 * 1024 * 1024, outboxMaxAgeMs: 7 * 86_400_000, inflightWindow: 100, healthIntervalMs: 30_000, commitIntervalMs: 1000, memoryMaxBytes: 4 * 1024 * 1024, synchronous: 'normal' });
  });

  it('an empty file means: embedded broker, hostname as id, ./var next to the config', () => {
    const c = loadConfig(write(''), { env: noEnv, hostname: 'my.pi_host' });
    expect(c.gateway.id).toBe('my.pi_host');
    expect(c.gateway.dataDir).toBe(join(dir, 'var'));
    expect(c.mqtt).toMatchObject({ url: 'embedded', embedded: true, embeddedPort: 1883, topicPrefix: 'airssys' });
    expect(c.components).toEqual([]);
  });

  it('sanitises a hostname that is not a valid topic level', () => {
    const c = parseConfig({}, { baseDir: dir, env: noEnv, hostname: 'my host/with+odd#chars' });
    expect(c.gateway.id).toMatch(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/);
  });

  it('accepts board objects, sizes and durations with units, embedded-port', () => {
    const c = parseConfig({
      board: { kind: 'raspberry-pi', options: { chip: 'gpiochip0' } },
      mqtt: { url: 'embedded', 'embedded-port': 18830 },
      telemetry: { 'outbox-max-bytes': '16MiB', 'outbox-max-age-ms': '2d', 'inflight-window': 50 },
      ota: { 'probation-ms': '30s' },
    }, { baseDir: dir, env: noEnv });
    expect(c.board).toEqual({ kind: 'raspberry-pi', options: { chip: 'gpiochip0' } });
    expect(c.mqtt.embeddedPort).toBe(18830);
    expect(c.telemetry.outboxMaxBytes).toBe(16 * 1024 * 1024);
    expect(c.telemetry.outboxMaxAgeMs).toBe(2 * 86_400_000);
    expect(c.telemetry.inflightWindow).toBe(50);
    expect(c.ota.probationMs).toBe(30_000);
  });

  it('environment variables override the broker URL and credentials', () => {
    const c = parseConfig({ mqtt: { url: 'mqtt://file:1883', username: 'a', password: 'b' } }, {
      baseDir: dir,
      env: { AIRSSYS_MQTT_URL: 'mqtts://env-broker:8883', AIRSSYS_MQTT_USERNAME: 'envuser', AIRSSYS_MQTT_PASSWORD: 'envpass' },
    });
    expect(c.mqtt).toMatchObject({ url: 'mqtts://env-broker:8883', username: 'envuser', password: 'envpass' });
    expect(c.mqtt.fromEnv.sort()).toEqual(['password', 'url', 'username']);
    const lines = problems({}, { AIRSSYS_MQTT_URL: 'mqt://x' });
    expect(lines).toEqual(['config mqtt.url (from AIRSSYS_MQTT_URL): "mqt://x" is not a broker URL; use mqtt://host:1883, mqtts://host:8883, ws://…, wss://…, or "embedded"']);
  });

  // Each bad input → exactly the listed key paths, one line each, each line naming a fix.
  const cases: Array<[string, unknown, string[]]> = [
    ['bad broker URL', { mqtt: { url: 'mqt://x' } }, ['mqtt.url']],
    ['URL without host', { mqtt: { url: 'mqtt://' } }, ['mqtt.url']],
    ['unknown top-level key', { mqqt: { url: 'mqtt://x' } }, ['mqqt']],
    ['unknown nested key', { mqtt: { url: 'mqtt://h:1', usename: 'x' } }, ['mqtt.usename']],
    ['gateway id with a slash', { gateway: { id: 'gw/1' } }, ['gateway.id']],
    ['groups not a list', { gateway: { groups: 'lab' } }, ['gateway.groups']],
    ['group with a wildcard', { gateway: { groups: ['lab', 'a+b'] } }, ['gateway.groups[1]']],
    ['embedded port out of range', { mqtt: { url: 'embedded', 'embedded-port': 70000 } }, ['mqtt.embedded-port']],
    ['topic prefix with wildcard', { mqtt: { 'topic-prefix': 'a/#' } }, ['mqtt.topic-prefix']],
    ['password without username', { mqtt: { password: 'x' } }, ['mqtt.password']],
    ['missing CA file', { mqtt: { url: 'mqtts://h:8883', ca: 'nope.pem' } }, ['mqtt.ca']],
    ['cert without key', { mqtt: { url: 'mqtts://h:8883', cert: 'keys/ota.pub' } }, ['mqtt.key']],
    ['TLS files on a plain URL', { mqtt: { url: 'mqtt://h:1883', ca: 'keys/ota.pub' } }, ['mqtt.url']],
    ['bad protocol', { mqtt: { protocol: 6 } }, ['mqtt.protocol']],
    ['unknown board', { board: 'arduino' }, ['board']],
    ['board object without kind', { board: { options: {} } }, ['board.kind']],
    ['board options not a mapping', { board: { kind: 'sim', options: [1] } }, ['board.options']],
    ['threshold zero', { ota: { threshold: 0 } }, ['ota.threshold']],
    ['threshold above key count', { ota: { 'trusted-keys': ['keys/ota.pub'], threshold: 2 } }, ['ota.threshold']],
    ['missing trusted key', { ota: { 'trusted-keys': ['keys/missing.pub'] } }, ['ota.trusted-keys[0]']],
    ['bad size', { ota: { 'max-artifact-bytes': 'lots' } }, ['ota.max-artifact-bytes']],
    ['bad duration', { ota: { 'probation-ms': '5 fortnights' } }, ['ota.probation-ms']],
    ['role body not a mapping', { policy: { roles: { climate: 'all' } } }, ['policy.roles.climate']],
    ['undefined role', { policy: { roles: { climate: {} }, components: { thermo: ['climat'] } } }, ['policy.components.thermo[0]']],
    ['components not a list', { components: { source: 'x' } }, ['components']],
    ['component without manifest', { components: [{ source: 'components/thermo.wasm' }] }, ['components[0].manifest']],
    ['component source missing', { components: [{ source: 'components/nope.wasm', manifest: 'components/thermo.yaml' }] }, ['components[0].source']],
    ['manifest file missing', { components: [{ source: 'components/thermo.wasm', manifest: 'components/nope.yaml' }] }, ['components[0].manifest']],
    ['manifest file invalid', { components: [{ source: 'components/thermo.wasm', manifest: 'components/bad.yaml' }] }, ['components[0].manifest.version (in components/bad.yaml)']],
    ['inline manifest invalid', { components: [{ source: 'components/thermo.wasm', manifest: { name: 'Thermo', version: '1.0.0' } }] }, ['components[0].manifest.name']],
    ['component entry with unknown key', { components: [{ source: 'components/thermo.wasm', manifest: 'components/thermo.yaml', args: [] }] }, ['components[0].args']],
    ['duplicate component', { components: [{ source: 'components/thermo.wasm', manifest: 'components/thermo.yaml' }, { source: 'components/other.wasm', manifest: 'components/thermo.yaml' }] }, ['components[1].manifest.name']],
    ['window zero', { telemetry: { 'inflight-window': 0 } }, ['telemetry.inflight-window']],
    ['window not a number', { telemetry: { 'inflight-window': 'many' } }, ['telemetry.inflight-window']],
    ['unknown telemetry key', { telemetry: { 'outbox-max-byte': 10 } }, ['telemetry.outbox-max-byte']],
    ['bad synchronous', { telemetry: { synchronous: 'always' } }, ['telemetry.synchronous']],
    ['root not a mapping', ['a'], ['(root)']],
    ['unknown rate class', { 'rate-limits': { gpoi: { rate: 10 } } }, ['rate-limits.gpoi']],
    ['rate not positive', { 'rate-limits': { gpio: { rate: 0 } } }, ['rate-limits.gpio']],
  ];
  for (const [name, raw, paths] of cases) {
    it(`rejects: ${name}`, () => {
      const lines = problems(raw);
      expect(lines.map((l) => l.slice('config '.length, l.indexOf(': ')))).toEqual(paths);
      for (const l of lines) {
        expect(l).not.toContain('\n');
        expect(l).toMatch(/^config \S.*: .+; .+/); // path, problem; fix
      }
    });
  }

  it('a bad role fails config validation with the driver parser\'s own line, once', () => {
    const policy = { roles: { climate: { gpio: { write: ['twenty-two'] } } }, components: { thermo: ['climate'] } };
    const driverLine = (() => {
      try {
        parsePolicy(policy);
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error('expected the driver to refuse the role');
    })();
    expect(problems({ policy })).toEqual([driverLine]);
  });

  it('takes rate-limits (docs/drivers.md) over the defaults, off included', () => {
    const c = parseConfig({ 'rate-limits': { gpio: { rate: 1000, burst: 2000 }, log: 'off' } }, { baseDir: dir, env: noEnv, hostname: 'gw' });
    expect(c.rateLimits).toEqual({ gpio: { rate: 1000, burst: 2000 }, log: null });
    expect(parseConfig({}, { baseDir: dir, env: noEnv, hostname: 'gw' }).rateLimits).toEqual({});
  });

  it('reports every mistake at once, not just the first', () => {
    const lines = problems({ gateway: { id: 'a b' }, mqtt: { url: 'nope' }, board: 'x', telemetry: { 'inflight-window': -1 } });
    expect(lines).toHaveLength(4);
  });

  it('the broker URL message matches the documented wording', () => {
    expect(problems({ mqtt: { url: 'mqt://x' } })[0]).toBe('config mqtt.url: "mqt://x" is not a broker URL; use mqtt://host:1883, mqtts://host:8883, ws://…, wss://…, or "embedded"');
  });

  it('suggests the right key for a near miss', () => {
    expect(problems({ telemetry: { inflight_window: 5 } })[0]).toContain('did you mean inflight-window?');
  });

  it('a missing file and a YAML syntax error are one line each', () => {
    expect(() => loadConfig(join(dir, 'missing.yaml'))).toThrow(/^config .*missing\.yaml: cannot read the file \(ENOENT\); check the path/);
    const f = write('gateway: { id: gw-1\nmqtt: [\n');
    try {
      loadConfig(f, { env: noEnv });
      throw new Error('expected a syntax error');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      for (const l of (err as ConfigError).problems) expect(l).toMatch(/^config .*\.yaml:\d+:\d+: YAML syntax error/);
    }
    expect(() => loadConfig(write('a: 1\na: 2\n'), { env: noEnv })).toThrow(/YAML syntax error/);
  });
});
