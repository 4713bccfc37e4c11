import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWat } from '../../runtime/build/wat.js';
import { parseConfig } from '../../gateway/config/index.js';
import { Gateway } from '../../gateway/gateway.js';
import { main } from '../../gateway/cli/main.js';
import { sha256Hex } from '../../gateway/ota/envelope.js';
import { readFileSync } from 'node:fs';
import { Mosquitto } from '../helpers/mosquitto.js';
import { OK, sensorWat } from '../helpers/sensor-wat.js';
import { buildMeter, cliPush, CHANNEL, COMPONENT, GATEWAY_ID, gatewayConfig, GatewayWatch, meterManifest, until, writeKeys, writeRelease } from './helpers.js';

/**
 * Hardening issue, through the real OTA path (signed release, chunks over Mosquitto, the Gateway's
 * updater and supervision): a release that loops with a huge fuel budget used to sit in `probation`
 * forever. Now its first event is stopped at its deadline, counted as a crash, and the release is
 * rolled back as `crashed-in-probation`, the previous version serving again. A release asking more
 * fuel than its ceiling is refused as `capability-denied`.
 */
let dir: string;
let broker: Mosquitto;
let gateway: Gateway;
let watch: GatewayWatch;
let keys: { key: string; pub: string };

async function signAndPush(name: string, bytes: Uint8Array, manifest: Record<string, unknown>) {
  const f = await writeRelease(dir, name, bytes, manifest);
  const out = join(dir, `${name}.json`);
  expect(await main(['sign', f.wasm, '--manifest', f.yaml, '--key', keys.key, '-o', out], { out: () => {}, err: () => {} })).toBe(0);
  const pushed = await cliPush([out, '--broker', broker.url, '--gateway', GATEWAY_ID, '--timeout', '60']);
  return { ...pushed, envelope: sha256Hex(Buffer.from(JSON.stringify(JSON.parse(readFileSync(out, 'utf8'))))) };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-ota-deadline-'));
  broker = await new Mosquitto().start();
  keys = await writeKeys(dir, 'ota');
  const raw = gatewayConfig({ url: broker.url, dataDir: join(dir, 'var'), pub: keys.pub, probationMs: 5000 });
  // meter may hold the `heavy` role (a fuel ceiling of 1e12); gauge keeps the default ceiling.
  raw.policy = {
    roles: { metering: { telemetry: [CHANNEL] }, heavy: { limits: { fuel: 1e12 } } },
    components: { [COMPONENT]: ['metering', 'heavy'], gauge: ['metering'] },
  };
  gateway = new Gateway({ config: parseConfig(raw, { baseDir: dir }), supervision: { backoff: { baseMs: 10, maxMs: 50 } } });
  await gateway.start();
  watch = await GatewayWatch.start(broker.url);
}, 120_000);

afterAll(async () => {
  await watch?.stop();
  await gateway?.stop();
  await broker?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('OTA probation cannot be stalled by a loop', () => {
  it('a looping release with fuel 1e12 is stopped at its deadline and rolled back as crashed-in-probation', async () => {
    const v1 = await signAndPush('v100', await buildMeter({ marker: 1 }), meterManifest('1.0.0'));
    expect(v1.code, v1.err.join('\n')).toBe(0);
    await watch.more(5);

    const loop = await buildWat(sensorWat({ onTick: `(loop $spin br $spin) ${OK}` }));
    const bad = await signAndPush('loop', loop, meterManifest('1.1.0', { limits: { 'memory-mb': 16, fuel: 1e12, 'deadline-ms': 200 } }));
    expect(bad.code).not.toBe(0);
    const final = await watch.final(bad.envelope, 0, 60_000);
    expect(final).toMatchObject({ version: '1.1.0', phase: 'rolled-back', reason: 'crashed-in-probation' });
    expect(final.detail).toMatch(/deadline/);
    expect(watch.about(bad.envelope).map((s) => s.phase)).toContain('probation');
    // 1.0.0 serves again.
    await until(() => gateway.services.get(COMPONENT)?.host.version === '1.0.0', 30_000, 'the rollback to 1.0.0');
    const after = await watch.more(5, 30_000);
    expect(after.every((s) => s.value === 1)).toBe(true);
  }, 180_000);

  it('a release asking more fuel than its ceiling is refused as capability-denied', async () => {
    const bytes = await buildMeter({ marker: 2 });
    const r = await signAndPush('gauge', bytes, { ...meterManifest('1.0.0'), name: 'gauge', limits: { fuel: 1e12 } });
    expect(r.code).not.toBe(0);
    expect([...r.out, ...r.err].join('\n')).toMatch(/capability-denied/);
    expect([...r.out, ...r.err].join('\n')).toMatch(/limits\.fuel/);
    expect(gateway.services.has('gauge')).toBe(false);
  }, 120_000);
});
