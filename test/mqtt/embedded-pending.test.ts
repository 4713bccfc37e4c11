import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWat } from '../../runtime/build/wat.js';
import { EMBEDDED_LIMITS } from '../../gateway/mqtt/embedded.js';
import { freePort, until } from '../helpers/mosquitto.js';
import { OK, sensorWat, strings } from '../helpers/sensor-wat.js';
import { GatewayProcess } from '../helpers/gateway-process.js';

/**
 * The real gateway process with its embedded broker on the network (`embedded-host` beyond
 * loopback, an account) against a LAN peer that opens connections and never sends CONNECT: the
 * ones over the per-address cap are closed at once (counted in health, logged a few lines), the
 * rest at the CONNECT deadline; meanwhile a client with the account from another address connects
 * and receives telemetry, and the gateway's own link (loopback) keeps publishing.
 *
 * The peer dials this machine's non-loopback IPv4 address, so the gateway sees a LAN source. The
 * other address is this machine's non-loopback IPv6 one when there is one (the broker then listens
 * on `::`, dual stack), else 127.0.0.1.
 */
const ID = 'gw-pend';
const ifaces = Object.values(networkInterfaces()).flat();
const lan = ifaces.find((i) => i && !i.internal && i.family === 'IPv4')?.address;
const lan6 = ifaces.find((i) => i && !i.internal && i.family === 'IPv6' && !i.address.startsWith('fe80'))?.address;
const PER_ADDRESS = EMBEDDED_LIMITS.maxPendingPerAddress;
const IDLE = PER_ADDRESS + 24;

let dir: string;
let port: number;
let gw: GatewayProcess;
let watcher: MqttClient;
const received: Array<{ topic: string; payload: string }> = [];
const sockets: Socket[] = [];

const auth = { username: 'fleet', password: 's3cret', protocolVersion: 4 as const, reconnectPeriod: 0 };
const telemetryCount = () => received.filter((m) => m.topic.includes('/telemetry/')).length;
const lastHealth = () => {
  const m = received.filter((r) => r.topic.endsWith('/health')).at(-1);
  return m ? (JSON.parse(m.payload) as Record<string, any>) : undefined;
};

beforeAll(async () => {
  if (!lan) return;
  dir = await mkdtemp(join(tmpdir(), 'airssys-pend-'));
  const S = { temp: 'temperature' };
  const T = strings(S);
  const wasm = join(dir, 'probe.wasm');
  await writeFile(wasm, await buildWat(sensorWat({ strings: S, onTick: `i32.const ${T.ptr('temp')} i32.const ${T.len('temp')} f64.const 21 i32.const 32 call $publish ${OK}` })));
  port = await freePort();
  await writeFile(join(dir, 'gateway.yaml'), toYaml({
    gateway: { id: ID, 'data-dir': join(dir, 'var') },
    mqtt: { url: 'embedded', 'embedded-port': port, 'embedded-host': lan6 ? '::' : '0.0.0.0', username: 'fleet', password: 's3cret' },
    policy: { roles: { r: { telemetry: ['*'] } }, components: { probe: ['r'] } },
    components: [{ source: wasm, manifest: { name: 'probe', version: '1.0.0', 'tick-ms': 100, capabilities: { telemetry: ['temperature'] } } }],
    telemetry: { 'health-interval-ms': 200 },
    log: { level: 'warn' },
  }));
  gw = new GatewayProcess(join(dir, 'gateway.yaml'), ID);
  await gw.running();
  watcher = await mqtt.connectAsync(other(), auth);
  watcher.on('message', (topic, payload) => received.push({ topic, payload: payload.toString() }));
  await watcher.subscribeAsync(`airssys/gw/${ID}/#`);
  await until(() => telemetryCount() > 0, 30_000, 'telemetry before the flood');
}, 120_000);

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await watcher?.endAsync(true);
  await gw?.stop();
  gw?.kill();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The client's address: not the flooding one. */
function other(): string {
  return lan6 ? `mqtt://[${lan6}]:${port}` : `mqtt://127.0.0.1:${port}`;
}

describe.skipIf(!lan)('embedded broker on the LAN: connections that never log in', () => {
  it(`closes the ones over ${PER_ADDRESS} per address at once, the rest at the CONNECT deadline; clients with the account and the gateway's own link carry on`, async () => {
    const conns: Array<{ connected: boolean; closed: boolean }> = [];
    for (let i = 0; i < IDLE; i++) {
      const s = connect({ host: lan!, port });
      sockets.push(s);
      const c = { connected: false, closed: false };
      conns.push(c);
      s.on('connect', () => (c.connected = true));
      s.on('error', () => undefined);
      s.on('close', () => (c.closed = true));
    }
    await until(() => conns.every((c) => c.connected || c.closed), 10_000, 'the idle connections opened');
    // The extra ones are destroyed on accept; without the cap all would stay (Aedes: 30 s).
    await until(() => conns.filter((c) => c.closed).length >= IDLE - PER_ADDRESS, 8000, `${IDLE - PER_ADDRESS} closed by the gateway`);
    await gw.waitFor(/embedded broker: closed a connection from .*have not logged in yet/, 10_000);
    await until(() => (lastHealth()?.refused?.byKind?.['broker-pending-per-address'] ?? 0) >= IDLE - PER_ADDRESS, 10_000, 'the refusals counted in health');

    // Meanwhile: a client with the account from another address gets in, the watcher keeps
    // receiving telemetry (published by the gateway's own client, over loopback), and a local tool
    // on 127.0.0.1 is never capped.
    const t0 = telemetryCount();
    const fresh = await mqtt.connectAsync(other(), auth);
    await fresh.endAsync(true);
    const local = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, auth);
    await local.endAsync(true);
    await until(() => telemetryCount() > t0 + 5, 10_000, 'telemetry during the flood');

    // The ones left are dropped at the CONNECT deadline (10 s; Aedes' own is 30 s).
    await until(() => conns.every((c) => c.closed), 25_000, 'all idle connections closed at the deadline');
    // The address is not banned: with its slots free, the account works from it too.
    const back = await mqtt.connectAsync(`mqtt://${lan}:${port}`, auth);
    await back.endAsync(true);
    // A burst costs a few log lines, not one per connection.
    expect(gw.matching(/embedded broker: closed a connection/).length).toBeLessThanOrEqual(3);
    expect(gw.child.exitCode).toBeNull();
  }, 90_000);
});
