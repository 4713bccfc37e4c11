import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../gateway/config/load.js';
import { MqttConnection } from '../../gateway/mqtt/connection.js';
import { freePort, Mosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';

/** mqtt.fallback-urls: a lost broker hands the session over to the next node of the list. */
const brokers: Mosquitto[] = [];
const conns: MqttConnection[] = [];
afterAll(async () => {
  for (const c of conns) await c.stop({ farewell: false });
  for (const b of brokers) await b.dispose();
});

describe('mqtt.fallback-urls', () => {
  it('skips a dead first URL, and moves to the next broker when the current one stops, keeping subscriptions', async () => {
    const [a, b] = [await new Mosquitto().start(), await new Mosquitto().start()];
    brokers.push(a, b);
    const dead = `mqtt://127.0.0.1:${await freePort()}`;
    const conn = new MqttConnection({ url: dead, fallbackUrls: [a.url, b.url], clientId: 'fallback-test', backoff: { initialMs: 100, maxMs: 500 } });
    conns.push(conn);
    conn.on('error', () => undefined);
    const got: string[] = [];
    conn.on('message', (topic: string) => got.push(topic));
    await conn.start();
    await conn.subscribe('probe/#', { qos: 1 });
    await conn.waitConnected(20_000);
    expect(conn.url).toBe(a.url);

    await a.stop();
    await waitFor(() => conn.connected && conn.url === b.url, 'the session on the second broker', 20_000);
    const mqtt = (await import('mqtt')).default;
    const pub = await mqtt.connectAsync(b.url, { protocolVersion: 4 });
    await pub.publishAsync('probe/after-failover', 'x', { qos: 1 });
    await pub.endAsync();
    await waitFor(() => got.includes('probe/after-failover'), 'the subscription restored on the second broker');
  }, 60_000);

  it('is checked as a list of broker URLs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'airssys-fb-'));
    const ok = parseConfig({ gateway: { id: 'gw-1', 'data-dir': dir }, mqtt: { url: 'mqtt://n1:1883', 'fallback-urls': ['mqtt://n2:1883'] } }, { baseDir: dir, env: {}, hostname: 'h' });
    expect(ok.mqtt.fallbackUrls).toEqual(['mqtt://n2:1883']);
    expect(() => parseConfig({ gateway: { id: 'gw-1', 'data-dir': dir }, mqtt: { url: 'mqtt://n1:1883', 'fallback-urls': ['not a url'] } }, { baseDir: dir, env: {}, hostname: 'h' })).toThrow(/mqtt.fallback-urls\[0\]/);
  });
});
