import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWat } from '../../runtime/build/wat.js';
import { main } from '../../gateway/cli/main.js';
import { sha256Hex } from '../../gateway/ota/envelope.js';
import { Mosquitto, until } from '../helpers/mosquitto.js';
import { OK, sensorWat, strings } from '../helpers/sensor-wat.js';
import { Recorder } from '../helpers/subscriber.js';
import { GatewayProcess, retainedHealth } from '../helpers/gateway-process.js';
import { publishRaw, writeKeys } from '../ota-e2e/helpers.js';

/**
 * Issue "Hardening", inbound traffic, against the real gateway process and a real Mosquitto:
 * oversized and flooding commands never reach (or crash) the component and cost a few log lines;
 * junk OTA envelopes for made-up components leave no retained status topics; the bytes of a real
 * release published first on a decoy topic do not make the gateway ignore them on the right one.
 */
const ID = 'gw-hard';
const S = { len: 'len' };
const T = strings(S);

let dir: string;
let broker: Mosquitto;
let gw: GatewayProcess;
let rec: Recorder;
let client: MqttClient;
let keys: { key: string; pub: string };
let echoWasm: string;

const cmd = (rest: string) => `airssys/gw/${ID}/cmd/${rest}`;
const lens = () => rec.json('/telemetry/echo/len').map((m) => m.body.value as number);
const echoStates = () => rec.json('/components/echo/state').map((m) => m.body.state as string);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-hard-'));
  broker = await new Mosquitto().start();
  keys = await writeKeys(dir, 'ota');
  // on-message publishes the payload's length on `len`: what reached the component, and how big.
  echoWasm = join(dir, 'echo.wasm');
  await writeFile(echoWasm, await buildWat(sensorWat({ strings: S, onMessage: `i32.const ${T.ptr('len')} i32.const ${T.len('len')} local.get $dl f64.convert_i32_u i32.const 32 call $publish ${OK}` })));
  const manifest = { name: 'echo', version: '1.0.0', capabilities: { telemetry: ['len'], messaging: { receive: ['cmd/#'] } }, limits: { 'memory-mb': 4 }, restart: { policy: 'permanent', intensity: 3, 'period-ms': 60000 } };
  await writeFile(join(dir, 'echo.yaml'), toYaml(manifest));
  const config = {
    gateway: { id: ID, 'data-dir': join(dir, 'var') },
    mqtt: { url: broker.url },
    board: 'sim',
    ota: { 'trusted-keys': [keys.pub], 'probation-ms': 500, 'chunk-timeout-ms': 3000 },
    policy: { roles: { r: { telemetry: ['*'], messaging: { receive: ['cmd/#'] } } }, components: { echo: ['r'] } },
    components: [{ source: echoWasm, manifest: join(dir, 'echo.yaml') }],
    commands: { 'rate-per-s': 20, burst: 40 },
    telemetry: { 'health-interval-ms': 200 },
    log: { level: 'info' },
  };
  await writeFile(join(dir, 'gateway.yaml'), toYaml(config));
  rec = await new Recorder(broker.url, `airssys/gw/${ID}/#`).start();
  gw = new GatewayProcess(join(dir, 'gateway.yaml'), ID);
  await gw.running();
  client = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  await until(() => echoStates().includes('running'), 20_000, 'echo running');
}, 120_000);

afterAll(async () => {
  await client?.endAsync(true);
  await rec?.stop();
  await gw?.stop();
  gw?.kill();
  await broker?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('inbound commands', () => {
  it('refuses commands over commands.max-bytes (default 64 KiB) before the mailbox: seven 10 MB ones do not crash the component', async () => {
    const big = Buffer.alloc(10 * 1024 * 1024, 0x61);
    for (let i = 0; i < 7; i++) await client.publishAsync(cmd('echo/cmd/set'), big, { qos: 1 });
    await client.publishAsync(cmd('echo/cmd/set'), Buffer.alloc(64 * 1024, 0x62), { qos: 1 }); // exactly the cap: delivered
    await client.publishAsync(cmd('echo/cmd/set'), 'hello', { qos: 1 });
    await until(() => lens().includes(5), 30_000, 'the small command after the big ones');
    expect(lens()).toEqual([65536, 5]);
    expect(echoStates().filter((s) => s !== 'running' && s !== 'starting')).toEqual([]);
    await until(() => gw.matching(/over 65536/).length > 0, 10_000, 'the refusal line');
    // Seven refusals in a burst: one line when it starts (and at most a summary), not seven.
    expect(gw.matching(/command refused/).length).toBeLessThanOrEqual(2);
    // Health is published every 200 ms: wait for one taken after the last refusal, then check exactly.
    let h: Record<string, any> = {};
    for (const deadline = Date.now() + 10_000; ; ) {
      h = await retainedHealth(broker.url, ID);
      if ((h.commands?.refused?.['too-large'] ?? 0) >= 7 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(h.commands.refused['too-large']).toBe(7);
    expect(h.commands.byComponent.echo).toMatchObject({ tooLarge: 7 });
    expect(h.components.echo.crashes).toBe(0);
  });

  it('rate-limits commands per component (token bucket) and logs a flood in a few lines, with exact counters in health', async () => {
    const before = gw.stdout.length;
    const delivered0 = lens().length;
    const N = 3000;
    // QoS 1, so the broker hands every one of them to the gateway (none dropped on the way).
    const sent: Array<Promise<unknown>> = [];
    for (let i = 0; i < N; i++) sent.push(client.publishAsync(cmd('echo/cmd/set'), 'x', { qos: 1 }));
    for (let i = 0; i < 1000; i++) sent.push(client.publishAsync(cmd(`ghost-${i}/cmd/x`), 'x', { qos: 1 }));
    sent.push(client.publishAsync(cmd('echo/cmd/end'), 'x', { qos: 1 }));
    await Promise.all(sent);
    let h: Record<string, any> = {};
    await until(() => {
      const raw = rec.messages.filter((m) => m.topic.endsWith('/health')).at(-1);
      if (!raw) return false;
      h = JSON.parse(raw.payload) as Record<string, any>;
      const c = h.commands;
      return c && c.byComponent.echo.delivered + c.byComponent.echo.rateLimited >= N + 1 + 2 && c.refused['unknown-component'] >= 1000;
    }, 60_000, 'the flood counted in health');
    const e = h.commands.byComponent.echo;
    expect(e.rateLimited).toBeGreaterThan(0);
    expect(e.delivered).toBeLessThan(N);
    expect(h.refused.byKind['command-unknown-component']).toBeGreaterThanOrEqual(1000);
    // The component got what the bucket let through, and is still fine.
    await until(() => lens().length - delivered0 >= 1, 10_000, 'delivered commands');
    expect(h.components.echo.crashes).toBe(0);
    const lines = gw.stdout.slice(before).split('\n').filter((l) => /refused|unknown component/.test(l));
    expect(lines.length).toBeLessThanOrEqual(6);
    expect(gw.stdout.length - before).toBeLessThan(20_000);
  }, 120_000);
});

describe('OTA envelopes', () => {
  it('junk for components this gateway never had leaves no retained status topic', async () => {
    for (let i = 0; i < 300; i++) client.publish(`airssys/gw/${ID}/ota/junk-${i}`, `{"not":"an envelope ${i}"}`, { qos: 0 });
    await client.publishAsync(`airssys/gw/${ID}/ota/echo`, 'junk for a component it has', { qos: 1 });
    await until(() => rec.json('/ota/echo/status').some((m) => m.body.phase === 'rejected'), 20_000, 'rejected status for echo');
    // A late subscriber sees every retained status topic of this gateway.
    const seen = new Set<string>();
    const c = await mqtt.connectAsync(broker.url);
    c.on('message', (t, p) => p.length && seen.add(t));
    await c.subscribeAsync(`airssys/gw/${ID}/ota/+/status`, { qos: 1 });
    await until(() => seen.size >= 1, 5_000, 'retained statuses');
    await new Promise((r) => setTimeout(r, 500));
    await c.endAsync(true);
    expect([...seen]).toEqual([`airssys/gw/${ID}/ota/echo/status`]);
    const h = await retainedHealth(broker.url, ID);
    await until(() => (gw.matching(/no status published/).length > 0), 10_000, 'the refusal line');
    expect(gw.matching(/ota junk-/).length).toBeLessThanOrEqual(3);
    expect(h.refused.byKind['ota-unknown-component']).toBeGreaterThanOrEqual(1);
  });

  it('a decoy copy of a release on another topic does not make the gateway ignore it on the right one', async () => {
    const out = join(dir, 'echo-1.1.0.json');
    const manifest = join(dir, 'echo-1.1.0.yaml');
    await writeFile(manifest, readFileSync(join(dir, 'echo.yaml'), 'utf8').replace('1.0.0', '1.1.0'));
    const io = { out: () => {}, err: () => {} };
    expect(await main(['sign', echoWasm, '--manifest', manifest, '--key', keys.key, '-o', out], io)).toBe(0);
    const envelope = Buffer.from(JSON.stringify(JSON.parse(readFileSync(out, 'utf8'))));
    const envSha = sha256Hex(envelope);
    const wasm = readFileSync(echoWasm);
    // First on a decoy topic (same gateway, made-up component): rejected, remembered for that topic only.
    await publishRaw(client, { envelope, topic: `airssys/gw/${ID}/ota/decoy` });
    await gw.waitFor(/ota decoy/, 20_000);
    // Then the real thing.
    await publishRaw(client, { envelope, bytes: wasm, sha256: sha256Hex(wasm), topic: `airssys/gw/${ID}/ota/echo` });
    await until(() => rec.json('/ota/echo/status').some((m) => m.body.envelope === envSha && ['committed', 'rejected', 'rolled-back'].includes(m.body.phase as string)), 90_000, 'a final status for the real release');
    const final = rec.json('/ota/echo/status').filter((m) => m.body.envelope === envSha).at(-1)!.body;
    expect(final.phase).toBe('committed');
    expect(gw.matching(new RegExp(`envelope ${envSha.slice(0, 12)} seen again`))).toEqual([]);
  }, 120_000);

  it('after the committed swap the gateway runs one full collection itself (gateway/extensions/core/memory.ts), shown in health', async () => {
    // The release above was committed; the collection follows ~2 s later.
    let h: Record<string, any> = await retainedHealth(broker.url, ID);
    for (const deadline = Date.now() + 20_000; (h.memory?.collections ?? 0) < 1; ) {
      if (Date.now() > deadline) throw new Error(`no collection in health: ${JSON.stringify(h.memory)}`);
      await new Promise((r) => setTimeout(r, 250));
      h = await retainedHealth(broker.url, ID);
    }
    expect(h.memory.collections).toBe(1);
    expect(h.memory.lastCollection.reason).toBe('echo 1.1.0 committed');
    expect(h.memory.rssBytes).toBeGreaterThan(0);
    expect(h.memory.lastCollection.rssBefore).toBeGreaterThan(0);
  }, 30_000);
});
