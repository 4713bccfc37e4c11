import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../runtime/errors.js';
import { MqttConnection, NotConnectedError } from '../../gateway/mqtt/connection.js';
import { EmbeddedBroker } from '../../gateway/mqtt/embedded.js';
import { presence } from '../../gateway/mqtt/topics.js';
import { Backoff } from '../../runtime/backoff.js';
import { freePort, Mosquitto, sleep, until } from '../helpers/mosquitto.js';
import { Recorder } from '../helpers/subscriber.js';

let mosq: Mosquitto;
let secured: Mosquitto;
let dir: string;
const extra: Mosquitto[] = [];
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airssys-mqtt-'));
  mosq = await new Mosquitto().start();
  secured = await new Mosquitto({ users: { gw: 'right' } }).start();
});
afterAll(async () => {
  await mosq.dispose();
  await secured.dispose();
  for (const b of extra) await b.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const stateOf = (rec: Recorder, topic: string) => rec.json().filter((m) => m.topic === topic).map((m) => m.body.state);

describe('MQTT connection', () => {
  it('speaks MQTT 5 to Mosquitto; publish resolves on PUBACK; subscriptions deliver', async () => {
    const conn = new MqttConnection({ url: mosq.url });
    await conn.start();
    await conn.waitConnected();
    expect(conn.protocolVersion).toBe(5);
    const got: string[] = [];
    conn.on('message', (topic: string, payload: Buffer) => got.push(`${topic}=${payload}`));
    await conn.subscribe('t/#', { qos: 1 });
    await conn.publish('t/a', 'hello', { qos: 1 });
    await until(() => got.includes('t/a=hello'));
    await conn.stop();
    await expect(conn.publish('t/a', 'x', { qos: 1 })).rejects.toBeInstanceOf(NotConnectedError);
  });

  it('falls back to MQTT 3.1.1 for the embedded Aedes broker', async () => {
    const broker = new EmbeddedBroker({ port: 0, host: '127.0.0.1' });
    await broker.start();
    const conn = new MqttConnection({ url: broker.url });
    await conn.start();
    await conn.waitConnected();
    expect(conn.protocolVersion).toBe(4);
    await conn.publish('x/y', '1', { qos: 1 });
    await conn.stop();
    await broker.stop();
  });

  it('the embedded broker enforces configured credentials', async () => {
    const broker = new EmbeddedBroker({ port: 0, host: '127.0.0.1', username: 'u', password: 'p' });
    await broker.start();
    const bad = new MqttConnection({ url: broker.url, username: 'u', password: 'wrong', retry: false });
    await expect(bad.start()).rejects.toThrow('broker refused the credentials for user u; check mqtt.username/password');
    const good = new MqttConnection({ url: broker.url, username: 'u', password: 'p', retry: false });
    await good.start();
    expect(good.connected).toBe(true);
    await good.stop();
    await broker.stop();
  });

  it('embedded broker on a busy port: one clear line', async () => {
    const a = new EmbeddedBroker({ port: mosq.port, host: '127.0.0.1' });
    await expect(a.start()).rejects.toThrow(/port \d+ is in use.*set mqtt.embedded-port/);
  });

  it('bad credentials: one clear error line, retried with growing backoff', async () => {
    const conn = new MqttConnection({ url: secured.url, username: 'gw', password: 'wrong', backoff: { initialMs: 40, maxMs: 400, jitter: 0 } });
    const errors: string[] = [];
    const delays: number[] = [];
    conn.on('error', (e: Error) => errors.push(e.message));
    conn.on('reconnecting', (r: { delayMs: number }) => delays.push(r.delayMs));
    await conn.start();
    await until(() => conn.attempts >= 4, 10_000, 'four attempts');
    await conn.stop();
    expect(errors).toEqual(['broker refused the credentials for user gw; check mqtt.username/password']);
    expect(delays.slice(0, 3)).toEqual([40, 80, 160]);
    expect(conn.connected).toBe(false);
  });

  it('right credentials connect to the password-protected broker', async () => {
    const conn = new MqttConnection({ url: secured.url, username: 'gw', password: 'right', retry: false });
    await conn.start();
    expect(conn.connected).toBe(true);
    await conn.stop();
  });

  it('unreachable broker: one line naming the fix', async () => {
    const port = await freePort();
    const conn = new MqttConnection({ url: `mqtt://127.0.0.1:${port}`, retry: false });
    const err = await conn.start().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as Error).message).toBe(`cannot reach the broker at mqtt://127.0.0.1:${port} (connection refused); check mqtt.url and that the broker is running`);
  });

  it('reconnects by itself after the broker restarts and resubscribes', async () => {
    const broker = new Mosquitto();
    extra.push(broker);
    await broker.start();
    const conn = new MqttConnection({ url: broker.url, backoff: { initialMs: 50, maxMs: 200 } });
    conn.on('error', () => {});
    const got: string[] = [];
    conn.on('message', (t: string) => got.push(t));
    await conn.start();
    await conn.waitConnected();
    await conn.subscribe('r/#', { qos: 1 });
    await broker.restart();
    await until(() => conn.connected, 10_000, 'the reconnect');
    await sleep(100);
    await conn.publish('r/1', 'x', { qos: 1 });
    await until(() => got.includes('r/1'));
    await conn.stop();
    await broker.dispose();
  });

  it('retained online on connect; LWT offline when the client dies; offline on a clean stop', async () => {
    const topic = 'airssys/gw/gw-lwt/state';
    const p = presence('airssys', 'gw-lwt', '0.1.0');
    const conn = new MqttConnection({ url: mosq.url, will: p.will, birth: p.birth, farewell: p.farewell });
    await conn.start();
    await conn.waitConnected();
    // A late subscriber sees the retained state.
    let rec = await new Recorder(mosq.url, topic).start();
    await until(() => stateOf(rec, topic).length > 0);
    expect(rec.messages[0]!.retain).toBe(true);
    expect(rec.json()[0]!.body).toMatchObject({ state: 'online', version: '0.1.0', ts: expect.any(Number) });
    conn.destroy(); // no DISCONNECT: the broker sends the will
    await until(() => stateOf(rec, topic).includes('offline'), 10_000, 'the LWT');
    await rec.stop();
    rec = await new Recorder(mosq.url, topic).start();
    await until(() => stateOf(rec, topic).length > 0);
    expect(stateOf(rec, topic)).toEqual(['offline']); // retained
    await rec.stop();

    const again = new MqttConnection({ url: mosq.url, will: p.will, birth: p.birth, farewell: p.farewell });
    await again.start();
    await again.waitConnected();
    rec = await new Recorder(mosq.url, topic).start();
    await until(() => stateOf(rec, topic).includes('online'));
    await again.stop();
    await until(() => stateOf(rec, topic).includes('offline'), 10_000, 'the farewell');
    await rec.stop();
  });

  it('LWT offline when the gateway process is killed with SIGKILL', async () => {
    const topic = 'airssys/gw/gw-sigkill/state';
    const rec = await new Recorder(mosq.url, topic).start();
    const opts = { db: join(dir, 'lwt.db'), url: mosq.url, gatewayId: 'gw-sigkill', component: 'c', channels: ['a'], rateHz: 10 };
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../telemetry/fixtures/producer.ts'), JSON.stringify(opts)], { stdio: 'ignore' });
    await until(() => stateOf(rec, topic).includes('online'), 20_000, 'online');
    child.kill('SIGKILL');
    await until(() => stateOf(rec, topic).includes('offline'), 20_000, 'the LWT after SIGKILL');
    await rec.stop();
  });
});

describe('backoff', () => {
  it('grows exponentially to a cap, with jitter inside [base/2, base]', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0.5, random: () => 0 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1000, 1000]);
    const low = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0.5, random: () => 1 });
    expect([low.next(), low.next()]).toEqual([50, 100]);
    b.reset();
    expect(b.next()).toBe(100);
  });
});
