import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWat } from '../../runtime/build/wat.js';
import { GatewayError } from '../../runtime/errors.js';
import { parseConfig } from '../../gateway/config/index.js';
import { Gateway } from '../../gateway/gateway.js';
import type { OtaHost } from '../../gateway/ota/updater.js';
import { parseManifest } from '../../runtime/manifest.js';
import { OtaStore } from '../../gateway/ota/store.js';
import { makeRelease, newKey } from '../ota/helpers.js';
import { OK, sensorWat, strings } from '../helpers/sensor-wat.js';
import { Mosquitto } from '../helpers/mosquitto.js';
import { Recorder } from '../helpers/subscriber.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The gateway end to end against a real Mosquitto: components under supervision, durable
 * telemetry with per-channel seq, retained state, commands through the bus, crash containment.
 */
const S = { temp: 'temperature', len: 'len', out: 'echo/out' };
const T = strings(S);

let dir: string;
let broker: Mosquitto;
let rec: Recorder;
let gateway: Gateway;

function config(components: unknown[], policy: unknown, extra: Record<string, unknown> = {}) {
  return parseConfig(
    {
      gateway: { id: 'gw-test', 'data-dir': join(dir, 'var') },
      mqtt: { url: broker.url },
      board: 'sim',
      policy,
      components,
      telemetry: { 'health-interval-ms': 200 },
      log: { level: 'error' },
      ...extra,
    },
    { baseDir: dir },
  );
}

const POLICY = {
  roles: { sensing: { gpio: { read: [17] }, telemetry: ['*'], messaging: { send: ['echo/#'], receive: ['cmd/#'] } } },
  components: { sensor: ['sensing'], echo: ['sensing'], crasher: ['sensing'], spinner: ['sensing'] },
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-gw-'));
  broker = await new Mosquitto().start();
  rec = await new Recorder(broker.url, 'airssys/#').start();
  const write = async (name: string, wat: string) => {
    const path = join(dir, `${name}.wasm`);
    await writeFile(path, await buildWat(wat));
    return path;
  };
  const sensor = await write('sensor', sensorWat({ strings: S, onTick: `i32.const ${T.ptr('temp')} i32.const ${T.len('temp')} f64.const 21.5 i32.const 32 call $publish ${OK}` }));
  const echo = await write(
    'echo',
    sensorWat({
      strings: S,
      onMessage: `i32.const ${T.ptr('len')} i32.const ${T.len('len')} local.get $dl f64.convert_i32_u i32.const 32 call $publish
        i32.const ${T.ptr('out')} i32.const ${T.len('out')} local.get $dp local.get $dl i32.const 32 call $send ${OK}`,
    }),
  );
  const crasher = await write('crasher', sensorWat({ onTick: 'unreachable' }));
  const spinner = await write('spinner', sensorWat({ onTick: `(loop $spin br $spin) ${OK}` }));
  const manifest = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    version: '1.0.0',
    capabilities: { telemetry: ['temperature', 'len'], messaging: { send: ['echo/#'], receive: ['cmd/#'] } },
    ...extra,
  });
  gateway = new Gateway({
    config: config(
      [
        { source: sensor, manifest: manifest('sensor', { 'tick-ms': 50 }) },
        { source: echo, manifest: manifest('echo') },
        { source: crasher, manifest: manifest('crasher', { 'tick-ms': 50, restart: { policy: 'permanent', intensity: 1, 'period-ms': 60000 } }) },
        { source: spinner, manifest: manifest('spinner', { 'tick-ms': 50, limits: { fuel: 2_000_000 }, restart: { policy: 'permanent', intensity: 1000, 'period-ms': 60000 } }) },
      ],
      POLICY,
    ),
    supervision: { backoff: { baseMs: 10, maxMs: 50 }, failedRetryMs: 600_000 },
  });
  await gateway.start();
});

afterAll(async () => {
  await gateway?.stop();
  await rec?.stop();
  await broker?.stop();
});

describe('gateway over MQTT', () => {
  it('announces itself online (retained) and publishes telemetry with rising seq', async () => {
    await waitFor(() => rec.json('/telemetry/sensor/temperature').length >= 5, 'telemetry', 15_000);
    const samples = rec.json('/telemetry/sensor/temperature').map((m) => m.body);
    expect(samples[0]).toMatchObject({ value: 21.5, seq: 1 });
    expect(samples.map((s) => s.seq)).toEqual(samples.map((_, i) => i + 1));
    expect(rec.json('gw/gw-test/state').at(-1)?.body).toMatchObject({ state: 'online', version: '0.1.0' });
  });

  it('publishes retained component state with version and sha256', async () => {
    await waitFor(() => rec.json('/components/sensor/state').some((m) => m.body.state === 'running'), 'running state', 10_000);
    const state = rec.json('/components/sensor/state').find((m) => m.body.state === 'running')!.body;
    expect(state).toMatchObject({ version: '1.0.0', restarts: 0 });
    expect(state.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('delivers broker commands to on-message when the grant receives them, and routes sends', async () => {
    const client = await mqtt.connectAsync(broker.url);
    await client.publishAsync('airssys/gw/gw-test/cmd/echo/cmd/set', 'hello', { qos: 1 });
    await client.publishAsync('airssys/gw/gw-test/cmd/echo/other/x', 'not granted', { qos: 1 });
    await client.endAsync();
    await waitFor(() => rec.json('/telemetry/echo/len').length >= 1, 'echo telemetry', 10_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(rec.json('/telemetry/echo/len').map((m) => m.body.value)).toEqual([5]);
    await waitFor(() => rec.messages.some((m) => m.topic === 'airssys/gw/gw-test/messages/echo/echo/out'), 'routed message', 5_000);
  });

  it('a component that crashes on every event goes failed (retained, with the reason); its neighbour keeps its rhythm', async () => {
    await waitFor(() => rec.json('/components/crasher/state').some((m) => m.body.state === 'failed'), 'failed state', 15_000);
    const failed = rec.json('/components/crasher/state').find((m) => m.body.state === 'failed')!.body;
    expect(String(failed.reason)).toMatch(/trap|unreachable/);
    const before = rec.json('/telemetry/sensor/temperature').length;
    await new Promise((r) => setTimeout(r, 500));
    expect(rec.json('/telemetry/sensor/temperature').length - before).toBeGreaterThanOrEqual(4);
    expect(gateway.health()).toMatchObject({ components: { crasher: { state: 'failed' } } });
  });

  it('an infinite loop is stopped by fuel on every tick, restarted, and the neighbour keeps publishing', async () => {
    await waitFor(() => rec.json('/components/spinner/state').filter((m) => m.body.state === 'restarting').length >= 3, 'spinner restarts', 15_000);
    const restarting = rec.json('/components/spinner/state').filter((m) => m.body.state === 'restarting');
    expect(String(restarting[0]!.body.reason)).toMatch(/out-of-fuel/);
    const before = rec.json('/telemetry/sensor/temperature').length;
    await new Promise((r) => setTimeout(r, 500));
    expect(rec.json('/telemetry/sensor/temperature').length - before).toBeGreaterThanOrEqual(4);
    expect((gateway.health() as any).components.spinner.crashes).toBeGreaterThanOrEqual(3);
  });

  it('publishes health with per-component counters and outbox depth', async () => {
    await waitFor(() => rec.json('gw/gw-test/health').length > 0, 'health', 5_000);
    const h = rec.json('gw/gw-test/health').at(-1)!.body as Record<string, any>;
    expect(h.components.sensor.events).toBeGreaterThan(0);
    expect(h.components.sensor.fuel.total).toBeGreaterThan(0);
    expect(h.outbox).toBeDefined();
  });
});

describe('OTA activation on the running gateway', () => {
  it('remembers a crash that happened before the updater subscribed, and rolls back to the old version', async () => {
    const svc = gateway.services.get('echo')!;
    const m = parseManifest({ name: 'echo', version: '2.0.0', capabilities: { telemetry: ['temperature', 'len'], messaging: { send: ['echo/#'], receive: ['cmd/#'] } } });
    const bytes = await buildWat(sensorWat({ onMessage: 'unreachable' }));
    const host = (gateway as unknown as { otaHosting: { host(): OtaHost } }).otaHosting.host();
    await host.validate(bytes, m);
    const activation = await host.activate('echo', m, bytes);
    expect(svc.host.version).toBe('2.0.0');
    const crashes = svc.host.stats.crashes;
    svc.deliverMessage('test', 'cmd/x', new Uint8Array([1]));
    await waitFor(() => svc.host.stats.crashes > crashes, 'the crash');
    let reason: string | undefined;
    activation.onCrash((r) => (reason = r));
    expect(reason).toMatch(/trap in on-message/);
    await activation.rollback();
    expect(svc.host.version).toBe('1.0.0');
  });
});

describe('gateway startup refusals', () => {
  it('runs the config version when a committed OTA version no longer fits a tightened policy', async () => {
    const dataDir = join(dir, 'var-tight');
    const sensor = await readFile(join(dir, 'sensor.wasm'));
    // 2.0.0 was committed over OTA with a capability the current policy no longer grants.
    const store = await OtaStore.open(dataDir);
    const r = makeRelease({ version: '2.0.0', component: 'sensor', keys: [newKey().priv], bytes: sensor, capabilities: { telemetry: ['temperature'], gpio: { write: [22] } } });
    await store.stage(r.manifest, r.bytes, r.payload);
    await store.activate('sensor', { version: '2.0.0', sha256: r.manifest.sha256, envelopeSha256: 'e'.repeat(64) });
    await store.startProbation('sensor');
    await store.commit('sensor');
    const g = new Gateway({
      config: config([{ source: join(dir, 'sensor.wasm'), manifest: { name: 'sensor', version: '1.0.0', 'tick-ms': 1000, capabilities: { telemetry: ['temperature'] } } }], POLICY, { gateway: { id: 'gw-tight', 'data-dir': dataDir } }),
    });
    try {
      await g.start();
      expect(g.services.get('sensor')!.host.version).toBe('1.0.0');
    } finally {
      await g.stop();
    }
  });

  it('judges by the Policy object the config loader parsed (no second parse at start)', async () => {
    const cfg = config([{ source: join(dir, 'sensor.wasm'), manifest: { name: 'sensor', version: '1.0.0', capabilities: { telemetry: ['temperature'] } } }], POLICY, { gateway: { id: 'gw-policy', 'data-dir': join(dir, 'var-policy') } });
    // The file grants sensor its role; only the loaded object says otherwise. A gateway that parsed
    // the policy again would start; one that uses the loader's object refuses.
    cfg.policy.components.delete('sensor');
    const g = new Gateway({ config: cfg });
    const err = await g.start().then(() => undefined, (e: unknown) => e);
    await g.stop();
    expect((err as GatewayError).code).toBe('CAPABILITY_DENIED');
    expect((err as GatewayError).message).toContain('policy.components has no entry for sensor');
  });

  it('refuses a manifest asking more than its roles allow, in one line, before touching devices', async () => {
    const sensor = join(dir, 'sensor.wasm');
    const g = new Gateway({
      config: config([{ source: sensor, manifest: { name: 'sensor', version: '1.0.0', capabilities: { gpio: { write: [22] } } } }], POLICY, { gateway: { id: 'gw-x', 'data-dir': join(dir, 'var-x') } }),
    });
    const err = await g.start().then(() => undefined, (e: unknown) => e);
    await g.stop();
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('CAPABILITY_DENIED');
    expect((err as GatewayError).message).toMatch(/gpio.*22/);
    expect((err as GatewayError).message).not.toContain('\n');
  });
});
