import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedBroker } from '../../gateway/mqtt/embedded.js';
import { MqttConnection } from '../../gateway/mqtt/connection.js';
import { Outbox } from '../../gateway/telemetry/outbox.js';
import { TelemetryPublisher, type PublisherConnection } from '../../gateway/telemetry/publisher.js';
import { freePort, Mosquitto, sleep, until } from '../helpers/mosquitto.js';
import { checkSequence, Recorder } from '../helpers/subscriber.js';
import { EventEmitter } from 'node:events';

let dir: string;
/** Every broker a test starts, so a failing test still leaves no mosquitto behind. */
const brokers: Mosquitto[] = [];
const children: ChildProcess[] = [];
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'airssys-sf-'))));
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const b of brokers) await b.dispose();
  rmSync(dir, { recursive: true, force: true });
});
const mosquitto = async () => {
  const b = new Mosquitto({ persistence: true });
  brokers.push(b);
  return b.start();
};

const seqsOf = (rec: Recorder, channel: string) => rec.json(`/${channel}`).map((m) => m.body.seq as number);

describe('store and forward against Mosquitto', () => {
  it('broker down for a while at 100 Hz: every seq arrives, in order per channel', async () => {
    const broker = await mosquitto();
    const rec = await new Recorder(broker.url, 'airssys/gw/gw-outage/telemetry/#', { clientId: 'rec-outage', persistent: true }).start();
    const outbox = new Outbox({ path: join(dir, 'outage.db') });
    // Reconnect slower than the recorder (50 ms), so the recorder is subscribed again before the backlog flows.
    const conn = new MqttConnection({ url: broker.url, backoff: { initialMs: 400, maxMs: 800, jitter: 0.25 } });
    conn.on('error', () => {});
    const pub = new TelemetryPublisher({ outbox, connection: conn, topicPrefix: 'airssys', gatewayId: 'gw-outage' });
    await conn.start();
    await conn.waitConnected();
    pub.start();
    let n = 0;
    const timer = setInterval(() => {
      n++;
      outbox.append('thermo', 'temperature', { value: 20 + n / 100 });
      outbox.append('thermo', 'humidity', { json: JSON.stringify({ rh: n }) });
    }, 10);
    try {
      await until(() => seqsOf(rec, 'temperature').length >= 30, 20_000, 'live samples before the outage');
      await broker.stop();
      await until(() => !conn.connected, 10_000, 'the disconnect');
      const atOutage = outbox.lastSeq('thermo', 'temperature');
      await until(() => outbox.lastSeq('thermo', 'temperature') > atOutage + 100, 20_000, '1 s of samples during the outage');
      expect(outbox.stats().depth).toBeGreaterThan(100); // stored while the broker was away
      await broker.start();
      await sleep(500);
    } finally {
      clearInterval(timer);
    }
    await pub.drained();
    const last = outbox.lastSeq('thermo', 'temperature');
    await until(() => seqsOf(rec, 'temperature').includes(last) && seqsOf(rec, 'humidity').includes(outbox.lastSeq('thermo', 'humidity')), 20_000, 'the backlog');
    for (const ch of ['temperature', 'humidity']) {
      const r = checkSequence(seqsOf(rec, ch));
      if (r.error && process.env.MOSQ_DEBUG) console.log(broker.output.split('\n').filter((l) => !/PUBLISH|PUBACK|PINGRE/.test(l)).join('\n'));
      expect(r.error).toBeUndefined();
      expect(r.max).toBe(outbox.lastSeq('thermo', ch));
    }
    const body = rec.json('/humidity')[0]!.body;
    expect(body).toMatchObject({ json: { rh: expect.any(Number) }, ts: expect.any(Number), seq: expect.any(Number) });
    expect(Object.keys(rec.json('/temperature')[0]!.body)).toEqual(['value', 'ts', 'seq']);
    await pub.stop();
    outbox.close();
    await conn.stop();
    await rec.stop();
    await broker.dispose();
  });

  it('gateway killed with SIGKILL mid-outage and restarted: nothing lost, seq continues', async () => {
    const broker = await mosquitto();
    const rec = await new Recorder(broker.url, 'airssys/gw/gw-kill/telemetry/#', { clientId: 'rec-kill', persistent: true }).start();
    const opts = { db: join(dir, 'kill.db'), url: broker.url, gatewayId: 'gw-kill', component: 'sensor', channels: ['a', 'b', 'j'], rateHz: 100 };
    const first = producer(opts);
    await first.waitFor((m) => m.produced !== undefined && (m.produced as Record<string, number>).a >= 40);
    await until(() => seqsOf(rec, 'a').length > 10, 20_000, 'samples before the outage');
    await broker.stop();
    const reported = (await first.waitFor((m) => m.produced !== undefined && (m.produced as Record<string, number>).a >= 120)).produced as Record<string, number>; // well into the outage
    // Past the commit interval (telemetry.commit-interval-ms, 1 s): everything reported so far is on disk. The
    // samples of the last interval are held in memory only and die with the process; their numbers
    // are jumped over and announced with "skipped" (contract 7.4, docs/telemetry.md).
    await sleep(2500);
    first.proc.kill('SIGKILL');
    await new Promise((r) => first.proc.once('exit', r));

    const second = producer(opts);
    const started = (await second.waitFor((m) => m.started !== undefined)).started as Record<string, number>;
    expect(started.a).toBeGreaterThan(120); // seq continues above what the killed process reserved
    await second.waitFor((m) => m.produced !== undefined && (m.produced as Record<string, number>).a >= started.a + 60);
    await broker.start();
    await second.waitFor((m) => m.connected === true);
    await sleep(300);
    second.proc.kill('SIGTERM');
    const last = (await second.waitFor((m) => m.last !== undefined)).last as Record<string, number>;
    for (const ch of ['a', 'b', 'j']) {
      await until(() => seqsOf(rec, ch).includes(last[ch]!), 20_000, `channel ${ch} to reach ${last[ch]}`);
      const r = checkSequence(rec.json(`/${ch}`).map((m) => m.body as { seq: number; skipped?: [number, number] }));
      expect(r.error).toBeUndefined();
      expect(r.max).toBe(last[ch]);
      // One jump (the SIGKILL), announced, and it covers none of what was committed before the kill.
      expect(r.jumps).toHaveLength(1);
      expect(r.jumps[0]![0]).toBeGreaterThan(reported[ch]!);
      expect(r.jumps[0]![1]).toBe(started[ch]! - 1);
    }
    await rec.stop();
    await broker.dispose();
  });
});

describe('store and forward against the embedded broker (Aedes, MQTT 3.1.1)', () => {
  it('publishes through the fallback protocol and drains the backlog stored before connecting', async () => {
    const port = await freePort();
    const broker = new EmbeddedBroker({ port, host: '127.0.0.1' });
    await broker.start();
    const outbox = new Outbox({ path: join(dir, 'embedded.db') });
    for (let i = 0; i < 500; i++) outbox.append('thermo', 'temperature', { value: i });
    const rec = await new Recorder(broker.url, 'airssys/gw/gw-emb/telemetry/#').start();
    const conn = new MqttConnection({ url: broker.url });
    await conn.start();
    await conn.waitConnected();
    expect(conn.protocolVersion).toBe(4);
    const pub = new TelemetryPublisher({ outbox, connection: conn, topicPrefix: 'airssys', gatewayId: 'gw-emb', window: 20 });
    pub.start();
    for (let i = 0; i < 500; i++) outbox.append('thermo', 'temperature', { value: i });
    await pub.drained();
    await until(() => seqsOf(rec, 'temperature').includes(1000), 10_000, 'all 1000');
    const r = checkSequence(seqsOf(rec, 'temperature'));
    expect(r).toMatchObject({ error: undefined, max: 1000 });
    expect(outbox.stats().depth).toBe(0);
    await pub.stop();
    outbox.close();
    await conn.stop();
    await rec.stop();
    await broker.stop();
  });
});

/** A connection that records publishes and acknowledges them when told (no broker). */
class FakeConnection extends EventEmitter implements PublisherConnection {
  connected = true;
  readonly sent: Array<{ topic: string; payload: string; ack: () => void }> = [];
  publish(topic: string, payload: string | Buffer): Promise<void> {
    return new Promise((resolve) => this.sent.push({ topic, payload: String(payload), ack: resolve }));
  }
}

describe('publisher scheduling', () => {
  it('keeps at most `window` in flight', async () => {
    const outbox = new Outbox({ path: join(dir, 'window.db') });
    for (let i = 0; i < 1000; i++) outbox.append('c', 'x', { value: i });
    const conn = new FakeConnection();
    const pub = new TelemetryPublisher({ outbox, connection: conn, topicPrefix: 'p', gatewayId: 'g', window: 7 });
    pub.start();
    await sleep(20);
    expect(conn.sent).toHaveLength(7);
    conn.sent[0]!.ack();
    conn.sent[1]!.ack();
    await sleep(20);
    expect(conn.sent).toHaveLength(9);
    expect(pub.stats().inflight).toBe(7);
    await pub.stop({ drainMs: 0 });
    outbox.close();
  });

  it('a backlog on one channel does not starve live samples on others (round-robin), order holds per channel', async () => {
    const outbox = new Outbox({ path: join(dir, 'fair.db') });
    for (let i = 0; i < 5000; i++) outbox.append('fast', 'raw', { value: i }); // the backlog
    const conn = new FakeConnection();
    const pub = new TelemetryPublisher({ outbox, connection: conn, topicPrefix: 'p', gatewayId: 'g', window: 10, quantum: 4 });
    pub.start();
    await sleep(10);
    outbox.append('thermo', 'temperature', { value: 21.5 }); // live, after the backlog was queued
    outbox.append('fast', 'status', { value: 1 });
    outbox.flush();
    // Ack in arrival order until the live samples went out; count how many backlog samples went first.
    let acked = 0;
    while (!conn.sent.some((s) => s.topic === 'p/gw/g/telemetry/thermo/temperature') || !conn.sent.some((s) => s.topic.endsWith('/fast/status'))) {
      const next = conn.sent[acked];
      if (!next) await sleep(5);
      else (next.ack(), acked++);
      await new Promise((r) => setImmediate(r));
      if (acked > 5000) throw new Error('live samples starved behind the backlog');
    }
    expect(conn.sent.length).toBeLessThan(100); // FIFO would have sent all 5000 first
    const raw = conn.sent.filter((s) => s.topic.endsWith('/fast/raw')).map((s) => JSON.parse(s.payload).seq as number);
    expect(raw).toEqual(raw.map((_, i) => i + 1));
    await pub.stop({ drainMs: 0 });
    outbox.close();
  });

  it('after a reconnect resends everything unacknowledged, in order', async () => {
    const outbox = new Outbox({ path: join(dir, 'resend.db') });
    for (let i = 0; i < 10; i++) outbox.append('c', 'x', { value: i });
    const conn = new FakeConnection();
    const pub = new TelemetryPublisher({ outbox, connection: conn, topicPrefix: 'p', gatewayId: 'g', window: 5 });
    pub.start();
    await sleep(10);
    conn.sent[0]!.ack();
    conn.sent[1]!.ack();
    await sleep(10);
    conn.connected = false;
    conn.emit('disconnect');
    conn.sent.length = 0;
    conn.connected = true;
    conn.emit('connect');
    await sleep(10);
    expect(conn.sent.map((s) => JSON.parse(s.payload).seq)).toEqual([3, 4, 5, 6, 7]);
    await pub.stop({ drainMs: 0 });
    outbox.close();
  });
});

function producer(opts: object): { proc: ChildProcess; waitFor(pred: (m: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures/producer.ts'), JSON.stringify(opts)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(proc);
  const seen: Array<Record<string, unknown>> = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    try {
      seen.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      return;
    }
    for (const w of waiters) w();
  });
  return {
    proc,
    waitFor(pred, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = seen.find(pred);
          if (m) {
            waiters.delete(check);
            clearTimeout(t);
            resolve(m);
          }
        };
        const t = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`producer did not report in time; stderr: ${stderr}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}
