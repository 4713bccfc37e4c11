import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../gateway/cli/main.js';
import { artifactTopic } from '../../gateway/ota/chunks.js';
import { sha256Hex } from '../../gateway/ota/envelope.js';
import { OtaStore } from '../../gateway/ota/store.js';
import { OtaUpdater, type UpdaterOptions } from '../../gateway/ota/updater.js';
import { OtaError } from '../../gateway/ota/reasons.js';
import { client, FakeHost, makeRelease, newKey, startMosquitto, tmp, Watcher, type Broker, type ReleaseFixture } from './helpers.js';
import { topics } from '../../gateway/mqtt/topics.js';

let broker: Broker;
let operator: MqttClient;
const key = newKey();
const stranger = newKey();
let n = 0;

beforeAll(async () => {
  broker = await startMosquitto();
  operator = await client(broker.url);
});
afterAll(async () => {
  await operator.endAsync();
  await broker.stop();
});

async function publishRelease(prefix: string, rel: ReleaseFixture, topic: string, opts: { skip?: number[]; mangle?: number } = {}) {
  const m = rel.manifest;
  for (let i = 0; i < m.chunks; i++) {
    if (opts.skip?.includes(i)) continue;
    let b = Buffer.from(rel.bytes.subarray(i * m.chunkSize, Math.min(m.size, (i + 1) * m.chunkSize)));
    if (opts.mangle === i) b = Buffer.from(b.map((x) => x ^ 1));
    await operator.publishAsync(artifactTopic(prefix, m.sha256, i), b, { qos: 1, retain: true });
  }
  await operator.publishAsync(topic, rel.payload, { qos: 1, retain: true });
}

/** One gateway: its own prefix, data dir, MQTT client, fake host (running thermo 1.0.0 from config) and updater. */
async function rig(over: Partial<UpdaterOptions> = {}) {
  const prefix = `t${++n}`;
  const dataDir = tmp('upd');
  const store = await OtaStore.open(dataDir);
  const gw = await client(broker.url);
  const host = new FakeHost({ thermo: '1.0.0' });
  const opts: UpdaterOptions = { mqtt: gw, store, host, gatewayId: 'gw-1', groups: ['lab'], prefix, trustedKeys: [key.pub], probationMs: 300, chunkIdleTimeoutMs: 600, ...over };
  const updater = new OtaUpdater(opts);
  await updater.start();
  const status = await Watcher.on(broker.url, `${prefix}/gw/gw-1/ota/+/status`);
  const topic = topics.ota(prefix, 'gw-1', 'thermo');
  const statuses = (rel: ReleaseFixture) => status.json().map((m) => m.body).filter((b) => b.envelope === sha256Hex(rel.payload));
  const push = async (rel: ReleaseFixture, o: { skip?: number[]; mangle?: number; topic?: string } = {}) => {
    await publishRelease(prefix, rel, o.topic ?? topic, o);
    return status.next((m) => m.body.envelope === sha256Hex(rel.payload) && ['committed', 'rejected', 'rolled-back'].includes(m.body.phase as string));
  };
  const stateFile = () => {
    try {
      return readFileSync(join(dataDir, 'components', 'thermo', 'state.json'), 'utf8');
    } catch {
      return '(none)';
    }
  };
  const close = async () => {
    await updater.stop();
    await status.close();
    await gw.endAsync();
  };
  return { prefix, dataDir, store, gw, host, updater, status, topic, push, statuses, stateFile, close };
}

const rel = (version: string, extra: Partial<Parameters<typeof makeRelease>[0]> = {}) => makeRelease({ version, keys: [key.priv], ...extra });

describe('OTA updater against Mosquitto', () => {
  it('commits a new version through every phase, then ignores replays of it', async () => {
    const r = await rig();
    const v11 = rel('1.1.0');
    const final = await r.push(v11);
    expect(final).toMatchObject({ version: '1.1.0', phase: 'committed', reason: '' });
    const phases = r.statuses(v11).map((s) => s.phase);
    expect(phases.filter((p, i) => p !== phases[i - 1])).toEqual(['received', 'downloading', 'verifying', 'staged', 'activating', 'probation', 'committed']);
    expect(r.host.running.get('thermo')).toBe('1.1.0');
    expect(r.store.floor('thermo')).toBe('1.1.0');
    expect(r.store.state('thermo').current?.envelopeSha256).toBe(sha256Hex(v11.payload));
    expect(typeof final.ts).toBe('number');

    // QoS 1 duplicate and the retained envelope seen again after a reconnect: nothing happens.
    const calls = r.host.calls.length;
    const count = r.status.messages.length;
    const before = r.stateFile();
    await operator.publishAsync(r.topic, v11.payload, { qos: 1, retain: true });
    r.gw.reconnect();
    await new Promise((res) => setTimeout(res, 800));
    await r.updater.idle();
    expect(r.host.calls.length).toBe(calls);
    expect(r.status.messages.length).toBe(count);
    expect(r.stateFile()).toBe(before);

    // Replaying an older release (1.0.5 signed earlier) is a downgrade.
    expect(await r.push(rel('1.0.5'))).toMatchObject({ phase: 'rejected', reason: 'downgrade' });
    expect(r.stateFile()).toBe(before);
    await r.close();
  });

  it('rolls back when init fails, and when the new version crashes or errs in probation', async () => {
    const r = await rig();
    r.host.initFails.add('1.1.0');
    const bad = rel('1.1.0');
    expect(await r.push(bad)).toMatchObject({ phase: 'rolled-back', reason: 'init-failed', detail: expect.stringContaining('no sensor') });
    expect(r.host.running.get('thermo')).toBe('1.0.0');
    expect(r.store.state('thermo').current).toBeUndefined(); // back on the configured version
    expect(r.store.isRolledBack('thermo', sha256Hex(bad.payload))).toBe(true);

    // Crash a moment into probation.
    const crashing = rel('1.2.0');
    const done = r.push(crashing);
    await r.status.next((m) => m.body.envelope === sha256Hex(crashing.payload) && m.body.phase === 'probation');
    r.host.activations.at(-1)!.crash('trap: unreachable in on-tick');
    expect(await done).toMatchObject({ phase: 'rolled-back', reason: 'crashed-in-probation', detail: 'crashed: trap: unreachable in on-tick' });
    expect(r.host.activations.at(-1)!.rolledBack).toBe(true);
    expect(r.host.running.get('thermo')).toBe('1.0.0');
    expect(r.store.floor('thermo')).toBeUndefined();

    // Errors above the threshold.
    const erring = rel('1.3.0');
    const done2 = r.push(erring);
    await r.status.next((m) => m.body.envelope === sha256Hex(erring.payload) && m.body.phase === 'probation');
    r.host.activations.at(-1)!.errors = 11;
    expect(await done2).toMatchObject({ phase: 'rolled-back', reason: 'crashed-in-probation', detail: expect.stringContaining('11 errors') });

    // A rolled-back envelope seen again is not retried; a fixed version commits.
    const calls = r.host.calls.length;
    await operator.publishAsync(r.topic, crashing.payload, { qos: 1, retain: true });
    await new Promise((res) => setTimeout(res, 400));
    await r.updater.idle();
    expect(r.host.calls.length).toBe(calls);
    expect(await r.push(rel('1.3.1'))).toMatchObject({ phase: 'committed' });
    expect(r.store.state('thermo')).toMatchObject({ current: { version: '1.3.1' }, floor: '1.3.1' });
    await r.close();
  });

  it('answers every attack with rejected + reason and leaves the store untouched', async () => {
    const r = await rig({ maxArtifactBytes: 8000, threshold: 1 });
    r.host.violations = (m) => (m.capabilities.gpio.write.length ? [`gpio.write ${JSON.stringify(m.capabilities.gpio.write)} exceeds thermo's roles`] : []);
    r.host.validateFails.set('1.9.0', new OtaError('incompatible-world', 'component imports wasi:cli/environment'));
    r.host.validateFails.set('1.9.1', new OtaError('invalid-component', 'not a component'));
    expect(await r.push(rel('1.0.1'))).toMatchObject({ phase: 'committed' }); // a committed baseline
    const before = r.stateFile();
    const cases: [ReleaseFixture, string, { skip?: number[]; mangle?: number; topic?: string }?][] = [];
    const tamper = rel('2.0.1', { after: (e) => void ((e.manifest as { 'tick-ms'?: number })['tick-ms'] = 1) });
    cases.push(
      [tamper, 'bad-signature'],
      [makeRelease({ version: '2.0.2', keys: [stranger.priv] }), 'untrusted-key'],
      [rel('2.0.3', { edit: (m) => void (m.expires = '2020-01-01T00:00:00Z') }), 'expired'],
      [rel('2.0.4', { edit: (m) => void (m.targets = ['gw-2', 'group:field']) }), 'not-targeted'],
      [rel('1.0.0'), 'downgrade'],
      [rel('2.0.5', { size: 9000 }), 'too-large'],
      [rel('2.0.6'), 'hash-mismatch', { mangle: 1 }],
      [rel('2.0.7'), 'timeout', { skip: [2] }],
      [rel('2.0.8', { capabilities: { gpio: { write: [22] } } }), 'capability-denied'],
      [rel('2.0.9', { edit: (m) => void (m.world = 'airssys:gateway/sensor@9.0.0') }), 'incompatible-world'],
      [rel('1.9.0'), 'incompatible-world'], // envelope says the right world; the host's validation of the bytes says otherwise
      [rel('1.9.1'), 'invalid-component'],
    );
    for (const [release, reason, o] of cases) {
      const got = await r.push(release, o);
      expect(got, reason).toMatchObject({ phase: 'rejected', reason });
      expect(r.stateFile(), reason).toBe(before);
      expect(r.host.running.get('thermo')).toBe('1.0.1');
    }
    // Garbage and oversized JSON still get a status (bad-envelope) — found by their envelope hash.
    for (const junk of [Buffer.from('{"manifest": nope'), Buffer.from(JSON.stringify({ pad: 'x'.repeat(70_000) }))]) {
      await operator.publishAsync(r.topic, junk, { qos: 1 });
      const got = await r.status.next((m) => m.body.envelope === sha256Hex(junk) && m.body.phase === 'rejected');
      expect(got).toMatchObject({ reason: 'bad-envelope' });
    }
    // Only releases that passed every cheap check and the hash reached the validator.
    expect(r.host.calls.filter((c) => c.startsWith('validate')).map((c) => c.split(' ')[2])).toEqual(['1.0.1', '1.9.0', '1.9.1']);
    expect(r.stateFile()).toBe(before);
    await r.close();
  });

  it('accepts releases for its group and ignores other groups', async () => {
    const r = await rig();
    const v = rel('1.1.0', { edit: (m) => void (m.targets = ['group:lab']) });
    expect(await r.push(v, { topic: topics.groupOta(r.prefix, 'lab', 'thermo') })).toMatchObject({ phase: 'committed' });
    // Same envelope on the gateway topic too (a push to both): one update only.
    await operator.publishAsync(r.topic, v.payload, { qos: 1 });
    await new Promise((res) => setTimeout(res, 300));
    expect(r.host.calls.filter((c) => c.startsWith('activate'))).toHaveLength(1);
    // A group this gateway is not in: never even received.
    const other = rel('1.2.0');
    await publishRelease(r.prefix, other, topics.groupOta(r.prefix, 'field', 'thermo'));
    await new Promise((res) => setTimeout(res, 300));
    expect(r.statuses(other)).toEqual([]);
    await r.close();
  });

  it('after a stop at probation (as a kill would), a restart reverts to the committed version and says so', async () => {
    const r = await rig({ pauseAt: 'probation' });
    const v = rel('1.1.0');
    void publishRelease(r.prefix, v, r.topic);
    await r.status.next((m) => m.body.envelope === sha256Hex(v.payload) && m.body.phase === 'probation');
    await r.updater.stop();
    expect(r.store.state('thermo').pending).toEqual({ phase: 'probation' });
    const store2 = await OtaStore.open(r.dataDir);
    const up2 = new OtaUpdater({ mqtt: r.gw, store: store2, host: new FakeHost({ thermo: '1.0.0' }), gatewayId: 'gw-1', prefix: r.prefix, trustedKeys: [key.pub], probationMs: 300 });
    const report = await up2.start();
    expect(report.recovered).toMatchObject([{ component: 'thermo', phase: 'probation', reverted: { version: '1.1.0' } }]);
    expect(await r.status.next((m) => m.body.envelope === sha256Hex(v.payload) && m.body.phase === 'rolled-back')).toMatchObject({ reason: 'crashed-in-probation' });
    expect(store2.state('thermo').current).toBeUndefined();
    await up2.stop();
    await r.status.close();
    await r.gw.endAsync();
  });

  it('push/sign/artifacts CLI: exits 0 on committed, non-zero with the reason otherwise, recognises a decided release', async () => {
    const r = await rig();
    const dir = tmp('cli');
    writeFileSync(join(dir, 'thermo.yaml'), 'name: thermo\nversion: 1.1.0\ntick-ms: 1000\ncapabilities:\n  telemetry: [temp]\n');
    const v = rel('1.1.0');
    writeFileSync(join(dir, 'thermo.wasm'), v.bytes);
    writeFileSync(join(dir, 'ota.key'), key.priv.export({ format: 'pem', type: 'pkcs8' }));
    // push sends only to a gateway that has reported; this rig runs the updater alone, so say it is online.
    await operator.publishAsync(`${r.prefix}/gw/gw-1/state`, JSON.stringify({ state: 'online', version: '0.1.0', groups: ['lab'], ts: Date.now() }), { qos: 1, retain: true });
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    const base = ['--broker', broker.url, '--gateway', 'gw-1', '--prefix', r.prefix, '--timeout', '20'];
    expect(await main(['sign', join(dir, 'thermo.wasm'), '--manifest', join(dir, 'thermo.yaml'), '--key', join(dir, 'ota.key'), '-o', join(dir, 'release.json'), '--chunk-size', '700', '--expires', '30d'], io)).toBe(0);
    const env = JSON.parse(readFileSync(join(dir, 'release.json'), 'utf8'));
    expect(env.manifest).toMatchObject({ component: 'thermo', version: '1.1.0', size: 3000, chunkSize: 700, chunks: 5, world: 'airssys:gateway/sensor@0.1.0' });
    expect(await main(['push', join(dir, 'release.json'), ...base], io)).toBe(0);
    expect(out.at(-1)).toBe('gw-1: committed');
    expect(err.join('\n')).toMatch(/chunks 5\/5/);
    // Pushing the same release again: the gateway ignores it, push sees it was already committed.
    expect(await main(['push', join(dir, 'release.json'), ...base], io)).toBe(0);
    expect(err.join('\n')).toMatch(/already decided earlier/);
    // A .wasm with --key/--manifest, same version: downgrade, non-zero, reason on stderr.
    expect(await main(['push', join(dir, 'thermo.wasm'), '--key', join(dir, 'ota.key'), '--manifest', join(dir, 'thermo.yaml'), ...base], io)).toBe(1);
    expect(err.at(-1)).toMatch(/^error: 1 of 1 gateway\(s\) did not commit thermo 1.1.0: rejected downgrade/);
    // Unreachable broker: one line naming the fix.
    expect(await main(['push', join(dir, 'release.json'), '--broker', 'mqtt://127.0.0.1:1', '--gateway', 'gw-1'], io)).toBe(1);
    expect(err.at(-1)).toMatch(/^error: cannot reach the broker at mqtt:\/\/127.0.0.1:1 .*check --broker/);
    // Clearing the retained chunks.
    expect(await main(['artifacts', 'rm', '--broker', broker.url, '--prefix', r.prefix, env.manifest.sha256], io)).toBe(0);
    expect(out.at(-1)).toBe(`removed 5 retained chunk(s) of ${env.manifest.sha256}`);
    const check = await Watcher.on(broker.url, artifactTopic(r.prefix, env.manifest.sha256, '+'));
    await new Promise((res) => setTimeout(res, 300));
    expect(check.messages).toEqual([]);
    await check.close();
    await r.close();
  });
});

describe('fault injection: SIGKILL the gateway process at each phase', () => {
  const phases = ['received', 'downloading', 'verifying', 'staged', 'activating', 'probation'] as const;
  for (const phase of phases) {
    it(`killed at ${phase}: back on the old or the new version, and says where it stands`, async () => {
      const prefix = `kill-${phase}-${++n}`;
      const dataDir = tmp('kill');
      const cfg = { url: broker.url, prefix, dataDir, pub: key.pub.export({ format: 'pem', type: 'spki' }).toString(), gatewayId: 'gw-1', configVersion: '1.0.0' };
      const status = await Watcher.on(broker.url, `${prefix}/gw/gw-1/ota/thermo/status`);
      const launch = (pauseAt?: string) => {
        const env: NodeJS.ProcessEnv = { ...process.env, AIRSSYS_TEST_OTA: JSON.stringify(cfg) };
        if (pauseAt) env.AIRSSYS_OTA_PAUSE_AT = pauseAt;
        else delete env.AIRSSYS_OTA_PAUSE_AT;
        const child = spawn(process.execPath, ['--import', 'tsx', 'test/ota/fixtures/ota-gateway.ts'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
        const lines: Record<string, unknown>[] = [];
        let buf = '';
        child.stdout!.on('data', (d: Buffer) => {
          buf += d.toString();
          const parts = buf.split('\n');
          buf = parts.pop()!;
          for (const p of parts) lines.push(JSON.parse(p) as Record<string, unknown>);
        });
        return { child, lines };
      };
      const g1 = launch(phase);
      while (!g1.lines.length) await new Promise((res) => setTimeout(res, 50));
      const v = rel('1.1.0', { size: 5000 });
      await publishRelease(prefix, v, topics.ota(prefix, 'gw-1', 'thermo'));
      await status.next((m) => m.body.phase === phase, 30_000);
      g1.child.kill('SIGKILL');
      await new Promise((res) => g1.child.once('exit', res));

      const g2 = launch();
      const expectNew = !['activating', 'probation'].includes(phase);
      const final = await status.next((m) => ['committed', 'rolled-back'].includes(m.body.phase as string), 30_000);
      while (!g2.lines.some((l) => l.running !== undefined && 'started' in l)) await new Promise((res) => setTimeout(res, 50));
      await new Promise((res) => setTimeout(res, 200));
      const running = g2.lines.at(-1)!.running;
      g2.child.kill('SIGKILL');
      await new Promise((res) => g2.child.once('exit', res));
      await status.close();
      const store = await OtaStore.open(dataDir);
      if (expectNew) {
        // Nothing on disk had changed yet: the retained envelope came again and the update resumed.
        expect(final).toMatchObject({ phase: 'committed', version: '1.1.0' });
        expect(running).toBe('1.1.0');
        expect(store.state('thermo')).toMatchObject({ current: { version: '1.1.0' }, floor: '1.1.0' });
      } else {
        // Interrupted between activation and commit: reverted to the last committed version, reported.
        expect(final).toMatchObject({ phase: 'rolled-back', version: '1.1.0', reason: phase === 'activating' ? 'init-failed' : 'crashed-in-probation' });
        expect(final.detail).toMatch(new RegExp(`gateway restarted during ${phase} of 1.1.0; back on the configured version`));
        expect(running).toBe('1.0.0');
        expect(store.state('thermo').current).toBeUndefined();
        expect(store.state('thermo').pending).toBeUndefined();
      }
    });
  }
});
