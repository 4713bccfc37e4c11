import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MqttConnection } from '../../gateway/mqtt/connection.js';
import { Mosquitto, sleep, until } from '../helpers/mosquitto.js';
import { Recorder } from '../helpers/subscriber.js';

/**
 * The connection's one retained cache (gateway/mqtt/retained.ts), against a real Mosquitto without
 * persistence: a broker restart wipes every retained message, which is exactly what the
 * `every-connect` mode must repair and `until-sent` must not resurrect.
 */
let mosq: Mosquitto;
beforeAll(async () => {
  mosq = await new Mosquitto({ persistence: false }).start();
});
afterAll(async () => {
  await mosq.dispose();
});

/** The retained messages a fresh subscriber to `r/#` is handed now (topic → payload). */
async function retainedNow(): Promise<Record<string, string>> {
  const rec = await new Recorder(mosq.url, 'r/#').start();
  // Retained messages come right after the SUBACK; a quiet moment means there are no more.
  await sleep(300);
  await rec.stop();
  return Object.fromEntries(rec.messages.filter((m) => m.retain).map((m) => [m.topic, m.payload]));
}

describe('retained cache on the connection', () => {
  it('holds until-sent messages while offline (the latest per topic), keeps every-connect ones across a broker that lost them, and forgets on request', async () => {
    const conn = new MqttConnection({ url: mosq.url, backoff: { initialMs: 50, maxMs: 200, jitter: 0 } });
    const cache = conn.retained;
    const calls: string[] = [];
    // Before any session: held, the older one superseded (never sent, no callback).
    void cache.publish('r/ota', 'old', { qos: 1, mode: 'until-sent' }, (err) => calls.push(`old:${err ? err.message : 'ok'}`));
    void cache.publish('r/ota', 'new', { qos: 1, mode: 'until-sent' }, (err) => calls.push(`new:${err ? err.message : 'ok'}`));
    void cache.publish('r/state', 'running', { qos: 1, mode: 'every-connect' });
    void cache.publish('r/gone', 'stopped', { qos: 1, mode: 'every-connect' });
    try {
      await conn.start();
      await conn.waitConnected(10_000);
      await until(() => calls.length > 0, 10_000, 'the held status to be acknowledged');
      expect(calls).toEqual(['new:ok']);
      expect(await retainedNow()).toEqual({ 'r/ota': 'new', 'r/state': 'running', 'r/gone': 'stopped' });

      // A broker restart without persistence wipes every retained message: the kept ones come back
      // on the reconnect, the one already sent does not (it is not the cache's to keep).
      cache.forget('r/gone');
      await mosq.restart();
      await until(() => conn.connected && conn.reconnects >= 1, 15_000, 'the reconnect');
      const after = await retainedNow();
      expect(after).toEqual({ 'r/state': 'running' });

      // An every-connect value replaced while connected is the one re-sent.
      await cache.publish('r/state', 'failed', { qos: 1, mode: 'every-connect' });
      await cache.republish('r/');
      expect(await retainedNow()).toEqual({ 'r/state': 'failed' });
      expect(calls).toEqual(['new:ok']);
    } finally {
      await conn.stop();
    }
  });

  it('an until-sent message published during an outage goes out on the next connect, after the newer one replaced it', async () => {
    const conn = new MqttConnection({ url: mosq.url, backoff: { initialMs: 50, maxMs: 200, jitter: 0 } });
    try {
      await conn.start();
      await conn.waitConnected(10_000);
      await mosq.stop();
      await until(() => !conn.connected, 10_000, 'the disconnect');
      const done: string[] = [];
      void conn.retained.publish('r/status', 'a', { qos: 1, mode: 'until-sent' }, (err) => done.push(`a:${err ? 'err' : 'ok'}`));
      void conn.retained.publish('r/status', 'b', { qos: 1, mode: 'until-sent' }, (err) => done.push(`b:${err ? 'err' : 'ok'}`));
      await mosq.start();
      await until(() => done.length > 0, 15_000, 'the held status to go out');
      expect(done).toEqual(['b:ok']);
      expect(await retainedNow()).toEqual({ 'r/status': 'b' });
    } finally {
      await conn.stop();
    }
  });
  it('what waited for the broker goes out at the CONNACK, before a retained message of the new session can cause a newer value that would supersede it unsent', async () => {
    // The gateway's case: a component state and an OTA status made before the first connect; the
    // session's subscriptions bring a retained OTA envelope, whose handling swaps the version (a new
    // state) and reports a new status. Subscribers must see the held values first, not lose them.
    const operator = await mqtt.connectAsync(mosq.url, { protocolVersion: 4 });
    await operator.publishAsync('trig/envelope', 'release', { qos: 1, retain: true });
    const rec = await new Recorder(mosq.url, 'o/#').start();
    // A birth makes the session's setup one more round trip: the old code sent held values only after it.
    const conn = new MqttConnection({ url: mosq.url, backoff: { initialMs: 50, maxMs: 200, jitter: 0 }, birth: () => ({ topic: 'o/presence', payload: 'online', qos: 1, retain: true }) });
    const cache = conn.retained;
    void cache.publish('o/state', 'running 1.3.0', { qos: 1, mode: 'every-connect' });
    void cache.publish('o/status', 'rolled-back 1.8.0', { qos: 1, mode: 'until-sent' });
    conn.on('message', (topic: string) => {
      if (topic !== 'trig/envelope') return;
      void cache.publish('o/state', 'running 1.9.0', { qos: 1, mode: 'every-connect' });
      void cache.publish('o/status', 'received 1.9.0', { qos: 1, mode: 'until-sent' });
    });
    try {
      await conn.subscribe('trig/envelope', { qos: 1 });
      await conn.start();
      await conn.waitConnected(10_000);
      await until(() => rec.messages.some((m) => m.payload === 'running 1.9.0') && rec.messages.some((m) => m.payload === 'received 1.9.0'), 10_000, 'the new values');
      await sleep(200);
      const seen = (topic: string) => [...new Set(rec.messages.filter((m) => m.topic === topic).map((m) => m.payload))];
      expect(seen('o/state')).toEqual(['running 1.3.0', 'running 1.9.0']);
      expect(seen('o/status')).toEqual(['rolled-back 1.8.0', 'received 1.9.0']);
    } finally {
      await conn.stop();
      await rec.stop();
      await operator.publishAsync('trig/envelope', '', { qos: 1, retain: true });
      await operator.endAsync();
    }
  });
});
