import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, Mosquitto, until } from '../helpers/mosquitto.js';
import { buildAll, crasherComponent, GATEWAY_ID, killAll, launch, sensorComponent, writeConfig, type Gw } from './helpers.js';

/**
 * `metrics: { listen }` on the real gateway process: GET /metrics in the Prometheus text format,
 * values that move with what the gateway does, and `promtool check metrics` accepting the output.
 */
let dir: string;
let broker: Mosquitto;
let gw: Gw;
let port: number;
const promtool = spawnSync('promtool', ['--version']).status === 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-metrics-'));
  broker = await new Mosquitto().start();
  const { built, warmCache } = await buildAll(dir, [
    { name: 'sensor', bytes: await sensorComponent(), manifest: { name: 'sensor', version: '1.0.0', 'tick-ms': 20, capabilities: { telemetry: [{ name: 'temperature', unit: '°C', 'device-class': 'temperature', 'state-class': 'measurement' }, 'humidity'] } } },
    { name: 'crasher', bytes: await crasherComponent(), manifest: { name: 'crasher', version: '1.0.0', 'tick-ms': 50, restart: { policy: 'permanent', intensity: 1000, 'period-ms': 60000 } } },
  ]);
  port = await freePort();
  const { config } = await writeConfig({ dir, name: 'm', brokerUrl: broker.url, components: built, warmCache, extra: { metrics: { listen: `127.0.0.1:${port}` } } });
  gw = await launch(config);
}, 120_000);

afterAll(async () => {
  await gw?.stop();
  killAll();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function scrape(path = '/metrics'): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

/** The sample value of `name` whose labels include `labels` (undefined when absent). */
function value(body: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of body.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

async function until2(cond: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; output: ${gw.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('Prometheus metrics', () => {
  it('serves the text format at GET /metrics, 404 elsewhere', async () => {
    const r = await scrape();
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.body).toMatch(/^# HELP airssys_/m);
    expect((await scrape('/')).status).toBe(404);
  });

  it('has per-component counters that move between scrapes', async () => {
    const first = (await scrape()).body;
    const e1 = value(first, 'airssys_component_events_total', { component: 'sensor' });
    expect(e1).toBeGreaterThan(0);
    await until2(async () => (value((await scrape()).body, 'airssys_component_events_total', { component: 'sensor' }) ?? 0) > e1!, 'events_total to grow');
    const body = (await scrape()).body;
    expect(value(body, 'airssys_component_fuel_total', { component: 'sensor' })).toBeGreaterThan(0);
    expect(value(body, 'airssys_component_memory_bytes', { component: 'sensor' })).toBeGreaterThanOrEqual(65536);
    expect(value(body, 'airssys_component_mailbox_depth', { component: 'sensor' })).toBeGreaterThanOrEqual(0);
    expect(value(body, 'airssys_component_mailbox_dropped_total', { component: 'sensor', class: 'tick' })).toBeGreaterThanOrEqual(0);
    expect(value(body, 'airssys_component_info', { component: 'sensor', version: '1.0.0' })).toBe(1);
    expect(value(body, 'airssys_component_state', { component: 'sensor', state: 'running' })).toBe(1);
    expect(value(body, 'airssys_component_state', { component: 'sensor', state: 'failed' })).toBe(0);
    // Host calls by interface, refusals by decision: `secret` is not granted.
    expect(value(body, 'airssys_host_calls_total', { component: 'sensor', interface: 'telemetry' })).toBeGreaterThan(0);
    expect(value(body, 'airssys_host_calls_refused_total', { component: 'sensor', decision: 'denied' })).toBeGreaterThan(0);
    expect(value(body, 'airssys_host_calls_refused_total', { component: 'sensor', decision: 'limited' })).toBe(0);
  });

  it('counts crashes and supervisor restarts', async () => {
    await until2(async () => {
      const b = (await scrape()).body;
      return (value(b, 'airssys_component_crashes_total', { component: 'crasher' }) ?? 0) >= 2 && (value(b, 'airssys_component_restarts_total', { component: 'crasher' }) ?? 0) >= 2;
    }, 'crashes and restarts of crasher');
    expect(value((await scrape()).body, 'airssys_component_crashes_total', { component: 'sensor' })).toBe(0);
  });

  it('reports the outbox, telemetry publishing and process metrics', async () => {
    await until2(async () => (value((await scrape()).body, 'airssys_telemetry_acked_total') ?? 0) > 0, 'acked telemetry');
    const body = (await scrape()).body;
    expect(value(body, 'airssys_outbox_appended_total')).toBeGreaterThan(0);
    expect(value(body, 'airssys_outbox_depth')).toBeGreaterThanOrEqual(0);
    expect(value(body, 'airssys_outbox_bytes')).toBeGreaterThanOrEqual(0);
    expect(value(body, 'airssys_outbox_dropped_total', { reason: 'full' })).toBe(0);
    expect(value(body, 'airssys_outbox_dropped_total', { reason: 'age' })).toBe(0);
    expect(value(body, 'airssys_gateway_info', { gateway: GATEWAY_ID })).toBe(1);
    expect(value(body, 'airssys_process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(value(body, 'airssys_process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('counts OTA outcomes by reason from the updater', async () => {
    const client = await mqtt.connectAsync(broker.url);
    await client.publishAsync(`airssys/gw/${GATEWAY_ID}/ota/sensor`, 'not an envelope', { qos: 1 });
    await client.endAsync();
    await until2(async () => value((await scrape()).body, 'airssys_ota_releases_total', { component: 'sensor', outcome: 'rejected', reason: 'bad-envelope' }) === 1, 'the rejected release to be counted');
  });

  it('shows the broker link going down and the reconnect', async () => {
    expect(value((await scrape()).body, 'airssys_broker_connected')).toBe(1);
    expect(value((await scrape()).body, 'airssys_broker_reconnects_total')).toBe(0);
    await broker.stop();
    await until2(async () => value((await scrape()).body, 'airssys_broker_connected') === 0, 'connected 0');
    await broker.start();
    await until2(async () => value((await scrape()).body, 'airssys_broker_connected') === 1, 'connected 1', 60_000);
    // `connected` is 1 from the CONNACK; the session counts once its subscriptions and birth are
    // out (MqttConnection.afterConnect), which a loaded machine can stretch past one scrape.
    await until2(async () => value((await scrape()).body, 'airssys_broker_reconnects_total') >= 1, 'reconnects 1', 10_000);
    expect(value((await scrape()).body, 'airssys_broker_reconnects_total')).toBe(1);
  }, 90_000);

  it.runIf(promtool)('passes promtool check metrics', async () => {
    const { body } = await scrape();
    const r = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
  it.skipIf(promtool)('passes promtool check metrics (skipped: promtool is not installed; apt-get install prometheus)', () => {
    console.warn('promtool not found: the exposition lint was not run');
  });
});
