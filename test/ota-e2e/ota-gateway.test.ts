import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../gateway/config/index.js';
import { Gateway } from '../../gateway/gateway.js';
import { main } from '../../gateway/cli/main.js';
import { sha256Hex, type ReleaseManifest } from '../../gateway/ota/envelope.js';
import { readPrivateKeyFile, signManifest } from '../../gateway/ota/keys.js';
import { buildReleaseManifest } from '../../gateway/ota/release.js';
import { otherWorld, importsOutsideWorld } from '../helpers/components.js';
import { Mosquitto } from '../helpers/mosquitto.js';
import {
  buildMeter,
  cliPush,
  COMPONENT,
  GATEWAY_ID,
  gatewayConfig,
  GatewayWatch,
  meterManifest,
  publishRaw,
  seqProblems,
  until,
  writeKeys,
  writeRelease,
  type Sample,
} from './helpers.js';

/**
 * OTA end to end: the real Gateway (supervised components, SQLite outbox, real jco runtime) on a
 * real Mosquitto, releases pushed with the operator's `push` verb or published by hand. The
 * component "meter" publishes its version marker every 20 ms, so the telemetry stream itself shows
 * which version served each tick, and `seq` shows whether a tick was lost or doubled by a swap.
 */
let dir: string;
let broker: Mosquitto;
let gateway: Gateway;
let watch: GatewayWatch;
let operator: MqttClient;
let keys: { key: string; pub: string };
let stranger: { key: string; pub: string };
const files: Record<string, { wasm: string; yaml: string; bytes: Uint8Array }> = {};
const releases: Record<string, string> = {};

async function release(name: string, version: string, marker: Parameters<typeof buildMeter>[0], extra: Record<string, unknown> = {}) {
  const bytes = await buildMeter(marker);
  const paths = await writeRelease(dir, name, bytes, meterManifest(version, extra));
  files[name] = { ...paths, bytes };
}

/** `airssys sign` then `airssys push RELEASE.json`, both in-process; keeps the envelope for replays. */
async function signAndPush(name: string) {
  const f = files[name]!;
  const out = join(dir, `${name}.json`);
  const io = { out: () => {}, err: () => {} };
  expect(await main(['sign', f.wasm, '--manifest', f.yaml, '--key', keys.key, '-o', out, '--chunk-size', '1024'], io)).toBe(0);
  releases[name] = out;
  return cliPush([out, '--broker', broker.url, '--gateway', GATEWAY_ID, '--timeout', '30']);
}

/** The bytes `push RELEASE.json` publishes: the file's JSON, compact. */
const envelopeBytes = (name: string) => Buffer.from(JSON.stringify(JSON.parse(readFileSync(releases[name]!, 'utf8'))));

/** A hand-made release for the attacks: a manifest built the way `sign` does, then edited, then signed. */
function handMade(o: { version: string; bytes: Uint8Array; signWith?: string; manifest?: Record<string, unknown>; edit?: (m: ReleaseManifest) => void; afterSign?: (m: ReleaseManifest) => void }) {
  const manifest = buildReleaseManifest({ bytes: o.bytes, manifest: o.manifest ?? meterManifest(o.version), chunkSize: 1024 });
  o.edit?.(manifest);
  const sig = signManifest(manifest, readPrivateKeyFile(o.signWith ?? keys.key));
  o.afterSign?.(manifest);
  return { envelope: JSON.stringify({ manifest, signatures: [sig] }), sha256: manifest.sha256 };
}

const running = () => gateway.services.get(COMPONENT)?.host.version;
const storeState = async () => JSON.parse(await readFile(join(dir, 'var', 'components', COMPONENT, 'state.json'), 'utf8')) as Record<string, any>;
const markers = (s: Sample[]) => s.map((x) => x.value);

/** Retained component state as a late subscriber sees it. */
async function retainedState(): Promise<Record<string, unknown>> {
  const c = await mqtt.connectAsync(broker.url);
  const got = new Promise<Record<string, unknown>>((resolve) => c.on('message', (_t, p) => resolve(JSON.parse(p.toString()))));
  await c.subscribeAsync(`airssys/gw/${GATEWAY_ID}/components/${COMPONENT}/state`, { qos: 1 });
  const body = await Promise.race([got, new Promise<never>((_, r) => setTimeout(() => r(new Error('no retained state')), 3000))]);
  await c.endAsync();
  return body;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-ota-e2e-'));
  broker = await new Mosquitto().start();
  keys = await writeKeys(dir, 'ota');
  stranger = await writeKeys(dir, 'stranger');
  await release('v100', '1.0.0', { marker: 1 });
  await release('v110', '1.1.0', { marker: 2 });
  await release('initfail', '1.3.0', { marker: 3, initErr: true });
  await release('crashy', '1.4.0', { marker: 4, trapAtTick: 10 });
  await release('spare', '1.2.0', { marker: 5 });
  await release('spare2', '1.2.0', { marker: 6 });
  // No component in the config: the first OTA installs it.
  const config = parseConfig(gatewayConfig({ url: broker.url, dataDir: join(dir, 'var'), pub: keys.pub, probationMs: 2000 }), { baseDir: dir });
  gateway = new Gateway({ config, supervision: { backoff: { baseMs: 10, maxMs: 50 } } });
  await gateway.start();
  watch = await GatewayWatch.start(broker.url);
  operator = await mqtt.connectAsync(broker.url);
}, 120_000);

afterAll(async () => {
  await operator?.endAsync();
  await watch?.stop();
  await gateway?.stop();
  await broker?.dispose();
});

describe('OTA on the real gateway', () => {
  it('installs 1.0.0, then swaps to 1.1.0 with telemetry continuing: no gap, no duplicate in seq', async () => {
    const r1 = await signAndPush('v100');
    expect(r1.code, r1.err.join('\n')).toBe(0);
    await watch.more(10);
    const r2 = await signAndPush('v110');
    expect(r2.code, r2.err.join('\n')).toBe(0);
    expect(r2.out.join('\n')).toMatch(/gw-e2e: committed/);
    await until(() => watch.samples.filter((s) => s.value === 2).length >= 10, 10_000, 'samples from 1.1.0');

    const s = watch.samples;
    expect(s[0]!.seq).toBe(1);
    expect(seqProblems(s)).toEqual([]);
    // One switch from 1.0.0's marker to 1.1.0's: every tick served by exactly one version.
    const m = markers(s);
    const firstNew = m.indexOf(2);
    expect(firstNew).toBeGreaterThan(0);
    expect(m.slice(0, firstNew).every((v) => v === 1)).toBe(true);
    expect(m.slice(firstNew).every((v) => v === 2)).toBe(true);

    const v11 = watch.about(sha256Hex(envelopeBytes('v110'))).map((x) => x.phase);
    const order = ['received', 'downloading', 'verifying', 'staged', 'activating', 'probation', 'committed'];
    expect([...new Set(v11)]).toEqual(order);
    expect(running()).toBe('1.1.0');
    expect(await retainedState()).toMatchObject({ state: 'running', version: '1.1.0', sha256: sha256Hex(files.v110!.bytes) });
    expect(await storeState()).toMatchObject({ current: { version: '1.1.0' }, previous: { version: '1.0.0' }, floor: '1.1.0' });
  });

  it('answers each attack with rejected + reason while 1.1.0 keeps serving; the store does not change', async () => {
    const before = JSON.stringify(await storeState());
    const spare = files.spare!.bytes;
    const realComponent = files.v110!.bytes;
    const attacks: Array<{ name: string; reason: string; detail?: RegExp; send: () => Promise<string> }> = [
      { name: 'garbage JSON', reason: 'bad-envelope', send: () => publishRaw(operator, { envelope: '{"manifest": nope' }) },
      { name: 'oversized JSON', reason: 'bad-envelope', send: () => publishRaw(operator, { envelope: JSON.stringify({ pad: 'x'.repeat(70_000) }) }) },
      {
        name: 'bad signature (manifest edited after signing)',
        reason: 'bad-signature',
        send: () => publishRaw(operator, handMade({ version: '1.2.0', bytes: spare, afterSign: (m) => (m['tick-ms'] = 5) })),
      },
      { name: 'untrusted key', reason: 'untrusted-key', send: () => publishRaw(operator, handMade({ version: '1.2.0', bytes: spare, signWith: stranger.key })) },
      { name: 'expired', reason: 'expired', send: () => publishRaw(operator, handMade({ version: '1.2.0', bytes: spare, edit: (m) => (m.expires = '2020-01-01T00:00:00Z') })) },
      { name: 'not targeted', reason: 'not-targeted', send: () => publishRaw(operator, handMade({ version: '1.2.0', bytes: spare, edit: (m) => (m.targets = ['gw-other', 'group:elsewhere']) })) },
      { name: 'downgrade (1.0.0 signed anew)', reason: 'downgrade', send: () => publishRaw(operator, handMade({ version: '1.0.0', bytes: files.v100!.bytes, edit: (m) => (m.targets = [GATEWAY_ID]) })) },
      { name: 'replay of the 1.0.0 release', reason: 'downgrade', send: () => publishRaw(operator, { envelope: envelopeBytes('v100') }) },
      {
        name: 'size above max-artifact-bytes',
        reason: 'too-large',
        send: () => publishRaw(operator, handMade({ version: '1.2.0', bytes: spare, edit: (m) => ((m.size = 2_000_000), (m.chunks = Math.ceil(2_000_000 / m.chunkSize))) })),
      },
      {
        name: 'envelope for another world',
        reason: 'incompatible-world',
        send: () => publishRaw(operator, handMade({ version: '1.2.0', bytes: spare, edit: (m) => (m.world = 'other:thing/w@1.0.0') })),
      },
      // From here on the real runtime answers: the gateway's policy, the engine's world check, jco's parser.
      {
        name: 'capability escalation beyond the policy',
        reason: 'capability-denied',
        detail: /gpio|22/,
        send: () => publishRaw(operator, handMade({ version: '1.2.0', bytes: spare, manifest: meterManifest('1.2.0', { capabilities: { telemetry: ['level'], gpio: { write: [22] } } }) })),
      },
      {
        name: 'hash mismatch (chunks do not add up to the signed sha256)',
        reason: 'hash-mismatch',
        send: async () => {
          const r = handMade({ version: '1.2.0', bytes: spare });
          const mangled = Buffer.from(spare);
          mangled[100] = mangled[100]! ^ 0xff;
          return publishRaw(operator, { envelope: r.envelope, bytes: mangled, sha256: r.sha256, chunkSize: 1024 });
        },
      },
      {
        name: 'a missing chunk',
        reason: 'timeout',
        send: async () => {
          const bytes = files.spare2!.bytes;
          const r = handMade({ version: '1.2.0', bytes });
          // Chunk 1 never published: the download waits chunk-timeout-ms (2 s here), then gives up.
          const holed = Buffer.from(bytes);
          await publishRaw(operator, { envelope: '', bytes: holed.subarray(0, 1024), sha256: r.sha256, chunkSize: 1024, topic: 'ignored/envelope' });
          for (let i = 2; i * 1024 < bytes.length; i++) await operator.publishAsync(`airssys/artifacts/${r.sha256}/${i}`, holed.subarray(i * 1024, (i + 1) * 1024), { qos: 1, retain: true });
          return publishRaw(operator, { envelope: r.envelope });
        },
      },
      {
        name: 'a component of another world',
        reason: 'incompatible-world',
        detail: /does not target airssys:gateway\/sensor/,
        send: async () => {
          const bytes = await otherWorld();
          const r = handMade({ version: '1.2.0', bytes });
          return publishRaw(operator, { ...r, bytes, chunkSize: 1024 });
        },
      },
      {
        name: 'a component importing outside the world',
        reason: 'incompatible-world',
        detail: /secrets/,
        send: async () => {
          const bytes = await importsOutsideWorld();
          const r = handMade({ version: '1.2.0', bytes });
          return publishRaw(operator, { ...r, bytes, chunkSize: 1024 });
        },
      },
      {
        name: 'a core module instead of a component',
        reason: 'invalid-component',
        detail: /core WebAssembly module/,
        send: async () => {
          const bytes = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
          const r = handMade({ version: '1.2.0', bytes });
          return publishRaw(operator, { ...r, bytes, chunkSize: 1024 });
        },
      },
      {
        name: 'a truncated component (signed as such)',
        reason: 'invalid-component',
        send: async () => {
          const bytes = realComponent.subarray(0, Math.floor(realComponent.length / 2));
          const r = handMade({ version: '1.2.0', bytes, edit: (m) => (m.targets = ['group:lab']) });
          return publishRaw(operator, { ...r, bytes, chunkSize: 1024 });
        },
      },
    ];
    const results: string[] = [];
    for (const a of attacks) {
      const from = watch.samples.length;
      const since = watch.statuses.length;
      const sha = await a.send();
      const final = await watch.final(sha, since);
      results.push(`${a.name}: ${final.phase} ${final.reason}`);
      expect(final, a.name).toMatchObject({ phase: 'rejected', reason: a.reason });
      if (a.detail) expect(final.detail, a.name).toMatch(a.detail);
      expect(running(), a.name).toBe('1.1.0');
      await until(() => watch.samples.length > from, 5_000, `telemetry after ${a.name}`);
    }
    expect(results).toHaveLength(attacks.length);
    // Releases refused after their download (wrong world, not a component) leave no chunks behind.
    const { createHash } = await import('node:crypto');
    const partials = await readdir(join(dir, 'var', 'ota-partial')).catch(() => [] as string[]);
    for (const bytes of [await otherWorld(), await importsOutsideWorld()]) {
      expect(partials).not.toContain(createHash('sha256').update(bytes).digest('hex'));
    }
    await watch.more(5);
    expect(seqProblems(watch.samples)).toEqual([]);
    expect(markers(watch.samples.slice(-20)).every((v) => v === 2)).toBe(true);
    expect(JSON.stringify(await storeState())).toBe(before);
    expect(await retainedState()).toMatchObject({ state: 'running', version: '1.1.0' });
  });

  it('a version whose init returns err: rolled-back init-failed, 1.1.0 never stops serving', async () => {
    const from = watch.samples.length;
    const r = await signAndPush('initfail');
    expect(r.code).toBe(1);
    expect(r.err.join('\n')).toMatch(/rolled-back init-failed/);
    const final = await watch.final(sha256Hex(envelopeBytes('initfail')));
    expect(final).toMatchObject({ phase: 'rolled-back', reason: 'init-failed', version: '1.3.0' });
    expect(final.detail).toMatch(/no sensor attached/);
    await watch.more(10);
    const after = watch.samples.slice(from);
    expect(markers(after).every((v) => v === 2)).toBe(true);
    expect(seqProblems(watch.samples)).toEqual([]);
    expect(running()).toBe('1.1.0');
    expect(await storeState()).toMatchObject({ current: { version: '1.1.0' }, floor: '1.1.0' });
    expect((await storeState()).pending).toBeUndefined();
  });

  it('a version that traps on its 10th tick: rolled-back crashed-in-probation, 1.1.0 serves again, seq continues', async () => {
    const from = watch.samples.length;
    const r = await signAndPush('crashy');
    expect(r.code).toBe(1);
    const final = await watch.final(sha256Hex(envelopeBytes('crashy')));
    expect(final).toMatchObject({ phase: 'rolled-back', reason: 'crashed-in-probation', version: '1.4.0' });
    expect(final.detail).toMatch(/trap|unreachable/);
    await until(() => running() === '1.1.0' && gateway.services.get(COMPONENT)!.host.running, 5_000, 'the old version running');
    const n = watch.samples.length;
    await watch.more(15);
    const after = watch.samples.slice(from);
    // 1.1.0, then 1.4.0 for a few ticks, then 1.1.0 again for good.
    const m = markers(after);
    expect(m).toContain(4);
    expect(m.slice(n - from).every((v) => v === 2)).toBe(true);
    expect(seqProblems(watch.samples)).toEqual([]);
    expect(await retainedState()).toMatchObject({ state: 'running', version: '1.1.0' });
    expect(await storeState()).toMatchObject({ current: { version: '1.1.0' }, floor: '1.1.0' });
  });
  it('installing a new component whose init fails: rolled-back init-failed, and nothing of it is left running', async () => {
    const bytes = await buildMeter({ marker: 7, initErr: true });
    const r = handMade({ version: '0.1.0', bytes, manifest: { ...meterManifest('0.1.0'), name: 'gauge' } });
    const statusTopic = `airssys/gw/${GATEWAY_ID}/ota/gauge/status`;
    const seen: Array<Record<string, unknown>> = [];
    const states: Array<Record<string, unknown>> = [];
    operator.on('message', (t, p) => {
      if (t === statusTopic) seen.push(JSON.parse(p.toString()));
      if (t === `airssys/gw/${GATEWAY_ID}/components/gauge/state` && p.length) states.push(JSON.parse(p.toString()));
    });
    await operator.subscribeAsync([statusTopic, `airssys/gw/${GATEWAY_ID}/components/gauge/state`], { qos: 1 });
    await publishRaw(operator, { ...r, bytes, chunkSize: 1024, topic: `airssys/gw/${GATEWAY_ID}/ota/gauge` });
    await until(() => seen.some((s) => s.phase === 'rolled-back'), 10_000, `gauge rolled back; saw ${JSON.stringify(seen)}`);
    expect(seen.find((s) => s.phase === 'rolled-back')).toMatchObject({ reason: 'init-failed', version: '0.1.0' });
    expect(gateway.services.has('gauge')).toBe(false);
    // Not left to its supervisor either: no restarts of it afterwards.
    const n = states.length;
    await new Promise((res) => setTimeout(res, 500));
    expect(states.slice(n).filter((s) => s.state !== 'stopped')).toEqual([]);
    expect(gateway.services.has('gauge')).toBe(false);
    expect(running()).toBe('1.1.0');
  });
});
