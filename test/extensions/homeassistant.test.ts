import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Mosquitto, until } from '../helpers/mosquitto.js';
import { Recorder } from '../helpers/subscriber.js';
import { buildAll, crasherComponent, GATEWAY_ID, killAll, launch, sensorComponent, writeConfig, type Built, type Gw } from './helpers.js';

/**
 * Home Assistant MQTT discovery from the real gateway process on a real Mosquitto: the exact
 * retained payloads (checked against the options HA documents for device-based discovery and for
 * the sensor and update platforms), re-publication when HA says `online`, removal of a component
 * that went away across a restart, and the legacy per-entity mode.
 */
let dir: string;
let broker: Mosquitto;
let built: Built[];
let warmCache: string;
let dataDir: string;
const gws: Gw[] = [];
const DEVICE_TOPIC = `homeassistant/device/airssys_${GATEWAY_ID}/config`;
const BASE = `airssys/gw/${GATEWAY_ID}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-ha-'));
  broker = await new Mosquitto().start();
  ({ built, warmCache } = await buildAll(dir, [
    { name: 'sensor', bytes: await sensorComponent(), manifest: { name: 'sensor', version: '1.0.0', 'tick-ms': 500, capabilities: { telemetry: [{ name: 'temperature', unit: '°C', 'device-class': 'temperature', 'state-class': 'measurement' }, 'humidity'] } } },
    { name: 'probe', bytes: await crasherComponent(), manifest: { name: 'probe', version: '2.1.0', capabilities: { telemetry: [{ name: 'humidity', unit: '%', 'device-class': 'humidity', 'state-class': 'measurement' }] } } },
  ]));
  dataDir = join(dir, 'var');
}, 120_000);

afterAll(async () => {
  for (const g of gws) await g.stop();
  killAll();
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function start(components: Built[], ha: Record<string, unknown>): Promise<Gw> {
  const { config } = await writeConfig({ dir, name: 'ha', brokerUrl: broker.url, components, warmCache, dataDir, extra: { homeassistant: ha } });
  const g = await launch(config);
  gws.push(g);
  return g;
}

/** The retained messages on `filter` as a new subscriber sees them now. */
async function retained(filter: string): Promise<Map<string, string>> {
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  const out = new Map<string, string>();
  client.on('message', (topic, payload, packet) => {
    if (packet.retain) out.set(topic, payload.toString());
  });
  await client.subscribeAsync(filter, { qos: 1 });
  // Retained messages follow the SUBACK; a round trip through the broker puts them all before it.
  const marker = `test/marker/${Math.random().toString(16).slice(2)}`;
  let seen = false;
  client.on('message', (t) => t === marker && (seen = true));
  await client.subscribeAsync(marker);
  await client.publishAsync(marker, 'x', { qos: 1 });
  await until(() => seen, 10_000, 'the marker');
  await client.endAsync();
  return out;
}

const avty = {
  availability_topic: `${BASE}/state`,
  availability_template: '{{ value_json.state }}',
  payload_available: 'online',
  payload_not_available: 'offline',
};
const dev = { ids: [`airssys_${GATEWAY_ID}`], name: GATEWAY_ID, mf: 'AirsSys', mdl: 'AirsSys Gateway', sw: '0.1.0' };
const o = { name: 'airssys', sw: '0.1.0' };
const node = `airssys_${GATEWAY_ID}`;
const STATES = ['starting', 'running', 'restarting', 'failed', 'stopped'];

const sensorEntities = {
  sensor_temperature: { p: 'sensor', name: 'sensor temperature', unique_id: `${node}_sensor_temperature`, state_topic: `${BASE}/telemetry/sensor/temperature`, value_template: '{{ value_json.value }}', unit_of_measurement: '°C', device_class: 'temperature', state_class: 'measurement' },
  sensor_humidity: { p: 'sensor', name: 'sensor humidity', unique_id: `${node}_sensor_humidity`, state_topic: `${BASE}/telemetry/sensor/humidity`, value_template: '{{ value_json.value }}' },
  'sensor-state': { p: 'sensor', name: 'sensor state', unique_id: `${node}_sensor-state`, state_topic: `${BASE}/components/sensor/state`, value_template: '{{ value_json.state }}', device_class: 'enum', options: STATES, json_attributes_topic: `${BASE}/components/sensor/state`, entity_category: 'diagnostic' },
  'sensor-update': { p: 'update', name: 'sensor', unique_id: `${node}_sensor-update`, state_topic: `${BASE}/components/sensor/update`, title: 'sensor' },
};
const probeEntities = {
  probe_humidity: { p: 'sensor', name: 'probe humidity', unique_id: `${node}_probe_humidity`, state_topic: `${BASE}/telemetry/probe/humidity`, value_template: '{{ value_json.value }}', unit_of_measurement: '%', device_class: 'humidity', state_class: 'measurement' },
  'probe-state': { p: 'sensor', name: 'probe state', unique_id: `${node}_probe-state`, state_topic: `${BASE}/components/probe/state`, value_template: '{{ value_json.state }}', device_class: 'enum', options: STATES, json_attributes_topic: `${BASE}/components/probe/state`, entity_category: 'diagnostic' },
  'probe-update': { p: 'update', name: 'probe', unique_id: `${node}_probe-update`, state_topic: `${BASE}/components/probe/update`, title: 'probe' },
};

// Options HA documents (integrations/mqtt: device discovery; sensor.mqtt; update.mqtt), full names.
const ROOT = ['dev', 'o', 'cmps', 'availability_topic', 'availability_template', 'payload_available', 'payload_not_available'];
const COMMON = ['p', 'name', 'unique_id', 'state_topic', 'value_template', 'json_attributes_topic', 'entity_category', 'availability_topic', 'availability_template', 'payload_available', 'payload_not_available', 'dev', 'o', 'device_class'];
const PLATFORM: Record<string, string[]> = { sensor: [...COMMON, 'unit_of_measurement', 'state_class', 'options'], update: [...COMMON, 'title'] };

function checkSchema(msg: Record<string, unknown>, deviceBased: boolean, entityPlatform = 'sensor'): void {
  const d = msg.dev as Record<string, unknown>;
  expect(Array.isArray(d.ids) && typeof d.name === 'string').toBe(true);
  expect(typeof (msg.o as Record<string, unknown>).name).toBe('string');
  const entitiesOf = deviceBased ? Object.values(msg.cmps as Record<string, Record<string, unknown>>) : [msg];
  if (deviceBased) for (const k of Object.keys(msg)) expect(ROOT).toContain(k);
  for (const e of entitiesOf) {
    const platform = (deviceBased ? e.p : entityPlatform) as string;
    if (Object.keys(e).length === 1) continue; // a removal: `{ "p": platform }`
    expect(typeof e.unique_id).toBe('string');
    expect(PLATFORM[platform]).toBeDefined();
    for (const k of Object.keys(e)) expect(PLATFORM[platform]).toContain(k);
  }
}

describe('Home Assistant discovery', () => {
  let rec: Recorder;

  it('publishes one retained device-based config with every entity', async () => {
    rec = await new Recorder(broker.url, 'homeassistant/#').start();
    await start(built, { 'discovery-prefix': 'homeassistant' });
    await until(() => rec.messages.some((m) => m.topic === DEVICE_TOPIC), 30_000, 'the device config');
    const got = await retained('homeassistant/#');
    expect([...got.keys()]).toEqual([DEVICE_TOPIC]);
    const msg = JSON.parse(got.get(DEVICE_TOPIC)!) as Record<string, unknown>;
    expect(msg).toEqual({ dev, o, ...avty, cmps: { ...probeEntities, ...sensorEntities } });
    checkSchema(msg, true);
  });

  it('keeps a retained update state per component (installed and latest version)', async () => {
    const got = await retained(`${BASE}/components/+/update`);
    expect(JSON.parse(got.get(`${BASE}/components/sensor/update`)!)).toEqual({ installed_version: '1.0.0', latest_version: '1.0.0', title: 'sensor' });
    expect(JSON.parse(got.get(`${BASE}/components/probe/update`)!)).toEqual({ installed_version: '2.1.0', latest_version: '2.1.0', title: 'probe' });
  });

  it('re-publishes the configs when Home Assistant says online', async () => {
    const before = rec.messages.filter((m) => m.topic === DEVICE_TOPIC).length;
    const client = await mqtt.connectAsync(broker.url);
    await client.publishAsync('homeassistant/status', 'online', { qos: 1 });
    await client.endAsync();
    await until(() => rec.messages.filter((m) => m.topic === DEVICE_TOPIC).length > before, 20_000, 'the re-published device config');
    const again = rec.messages.filter((m) => m.topic === DEVICE_TOPIC).at(-1)!;
    expect(JSON.parse(again.payload)).toEqual({ dev, o, ...avty, cmps: { ...probeEntities, ...sensorEntities } });
  });

  it('removes the entities of a component that is gone after a config change and restart', async () => {
    await gws.pop()!.stop();
    const from = rec.messages.length;
    await start(built.filter((b) => b.name === 'sensor'), {});
    await until(() => rec.messages.slice(from).filter((m) => m.topic === DEVICE_TOPIC).length >= 2, 30_000, 'removal and final device config');
    const [removal, final] = rec.messages.slice(from).filter((m) => m.topic === DEVICE_TOPIC).map((m) => JSON.parse(m.payload) as Record<string, unknown>);
    // HA's documented removal: the component with only its platform, then the config without it.
    expect(removal).toEqual({ dev, o, ...avty, cmps: { ...sensorEntities, probe_humidity: { p: 'sensor' }, 'probe-state': { p: 'sensor' }, 'probe-update': { p: 'update' } } });
    checkSchema(removal!, true);
    expect(final).toEqual({ dev, o, ...avty, cmps: sensorEntities });
    const got = await retained('#');
    expect(JSON.parse(got.get(DEVICE_TOPIC)!)).toEqual({ dev, o, ...avty, cmps: sensorEntities });
    expect(got.has(`${BASE}/components/probe/update`)).toBe(false);
    expect(got.has(`${BASE}/components/sensor/update`)).toBe(true);
  }, 90_000);

  it('legacy mode publishes one retained config per entity and clears the device config', async () => {
    await gws.pop()!.stop();
    await start(built.filter((b) => b.name === 'sensor'), { legacy: true });
    const topic = (platform: string, key: string) => `homeassistant/${platform}/${node}/${key}/config`;
    await until(() => rec.messages.some((m) => m.topic === topic('update', 'sensor-update')), 30_000, 'per-entity configs');
    const got = await retained('homeassistant/#');
    expect([...got.keys()].sort()).toEqual(Object.entries(sensorEntities).map(([k, e]) => topic(e.p, k)).sort());
    for (const [key, e] of Object.entries(sensorEntities)) {
      const { p, ...rest } = e;
      const msg = JSON.parse(got.get(topic(p, key))!) as Record<string, unknown>;
      expect(msg).toEqual({ ...rest, dev, o, ...avty });
      checkSchema(msg, false, p);
    }
    expect(rec.messages.some((m) => m.topic === DEVICE_TOPIC && m.payload === '')).toBe(true);
  }, 90_000);
});
