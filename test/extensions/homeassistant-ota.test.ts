import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../gateway/cli/main.js';
import { Engine } from '../../runtime/engine.js';
import { Mosquitto } from '../helpers/mosquitto.js';
import { buildMeter, cliPush, COMPONENT, GATEWAY_ID, gatewayConfig, meterManifest, writeKeys, writeRelease } from '../ota-e2e/helpers.js';
import { killAll, launch, type Gw } from './helpers.js';

/**
 * The Home Assistant `update` entity follows OTA on the real gateway process: a release that is
 * rolled back leaves the installed version where it was and shows as the latest release seen.
 */
let dir: string;
let broker: Mosquitto;
let gw: Gw;
let key: string;
const UPDATE_TOPIC = `airssys/gw/${GATEWAY_ID}/components/${COMPONENT}/update`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-ha-ota-'));
  broker = await new Mosquitto().start();
  const keys = await writeKeys(dir, 'ota');
  key = keys.key;
  const bytes = await buildMeter({ marker: 1 });
  const v1 = await writeRelease(dir, 'meter-1.0.0', bytes, meterManifest('1.0.0'));
  const dataDir = join(dir, 'var');
  await mkdir(dataDir, { recursive: true });
  await new Engine({ cacheDir: join(dataDir, 'cache') }).prepare(bytes, { memoryMb: 16 });
  const raw = { ...gatewayConfig({ url: broker.url, dataDir, pub: keys.pub, probationMs: 3000, components: [{ source: v1.wasm, manifest: v1.yaml }] }), homeassistant: {}, log: { level: 'info' } };
  const config = join(dir, 'gateway.yaml');
  await writeFile(config, toYaml(raw));
  gw = await launch(config, GATEWAY_ID);
}, 120_000);

afterAll(async () => {
  await gw?.stop();
  killAll();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function retainedUpdate(): Promise<Record<string, unknown> | undefined> {
  const client = await mqtt.connectAsync(broker.url);
  let got: Record<string, unknown> | undefined;
  client.on('message', (_t, payload, packet) => {
    if (packet.retain && payload.length) got = JSON.parse(payload.toString()) as Record<string, unknown>;
  });
  await client.subscribeAsync(UPDATE_TOPIC, { qos: 1 });
  await client.publishAsync('test/flush', 'x', { qos: 1 });
  await new Promise((r) => setTimeout(r, 200));
  await client.endAsync();
  return got;
}

describe('Home Assistant update entity and OTA', () => {
  it('starts with installed = latest = the running version', async () => {
    let state: Record<string, unknown> | undefined;
    const end = Date.now() + 30_000;
    while (!state && Date.now() < end) state = await retainedUpdate();
    expect(state).toEqual({ installed_version: '1.0.0', latest_version: '1.0.0', title: COMPONENT });
  });

  it('a release rolled back in probation shows as the latest seen, installed stays', async () => {
    const bytes = await buildMeter({ marker: 2, trapAtTick: 5 });
    const v2 = await writeRelease(dir, 'meter-1.1.0', bytes, meterManifest('1.1.0'));
    const out = join(dir, 'meter-1.1.0.json');
    expect(await main(['sign', v2.wasm, '--manifest', v2.yaml, '--key', key, '-o', out, '--chunk-size', '4096'], { out: () => {}, err: () => {} })).toBe(0);
    const pushed = await cliPush([out, '--broker', broker.url, '--gateway', GATEWAY_ID, '--timeout', '60']);
    expect(pushed.out.join('\n') + pushed.err.join('\n')).toMatch(/rolled-back/);
    let state: Record<string, unknown> | undefined;
    const end = Date.now() + 20_000;
    while (Date.now() < end) {
      state = await retainedUpdate();
      // Every phase shows in the summary as it happens; the release ends rolled back.
      if (/rolled-back/.test(String(state?.release_summary))) break;
    }
    expect(state).toEqual({ installed_version: '1.0.0', latest_version: '1.1.0', title: COMPONENT, release_summary: 'OTA 1.1.0: rolled-back (crashed-in-probation)' });
  }, 120_000);
});
