/**
 * Durable telemetry throughput into a local Mosquitto at QoS 1 (outbox in SQLite + publisher with a
 * window of 100), side by side with a bare MQTT.js client publishing the same messages at QoS 1 with
 * the same window and no persistence. Targets (docs/telemetry.md): durable ≥ half the bare rate and
 * ≥ 20,000 samples/s. Also: append-only ingest rate of the outbox (what a kHz component sees).
 *
 * Run: node --import tsx bench/telemetry.bench.ts   (or npm run bench -- telemetry)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { MqttConnection } from '../gateway/mqtt/connection.js';
import { Outbox } from '../gateway/telemetry/outbox.js';
import { TelemetryPublisher } from '../gateway/telemetry/publisher.js';
import { Mosquitto } from '../test/helpers/mosquitto.js';

const N = Number(process.env.BENCH_SAMPLES ?? 100_000);
const WINDOW = 100;
const COMPONENTS = ['thermo', 'vibration', 'power'];
const CHANNELS = ['a', 'b'];

/** The same (component, channel, value) sequence for both contenders. */
function sample(i: number): { component: string; channel: string; value: number } {
  return { component: COMPONENTS[i % 3]!, channel: CHANNELS[(i >> 2) % 2]!, value: 20 + (i % 1000) / 100 };
}

async function bare(url: string): Promise<number> {
  const client = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 0 });
  await new Promise<void>((r) => client.once('connect', () => r()));
  const seq = new Map<string, number>();
  let sent = 0;
  let acked = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (sent < N && sent - acked < WINDOW) {
        const s = sample(sent++);
        const k = `${s.component}/${s.channel}`;
        const n = (seq.get(k) ?? 0) + 1;
        seq.set(k, n);
        client.publish(`airssys/gw/bench/telemetry/${k}`, `{"value":${s.value},"ts":${Date.now()},"seq":${n}}`, { qos: 1 }, () => {
          acked++;
          if (acked === N) resolve();
          else pump();
        });
      }
    };
    pump();
  });
  const ms = performance.now() - t0;
  await client.endAsync();
  return (N / ms) * 1000;
}

async function durable(url: string, dir: string): Promise<{ rate: number; ingest: number }> {
  rmSync(join(dir, 'outbox.db'), { force: true });
  const outbox = new Outbox({ path: join(dir, 'outbox.db'), maxBatch: 4096 });
  const conn = new MqttConnection({ url });
  await conn.start();
  await conn.waitConnected();
  const pub = new TelemetryPublisher({ outbox, connection: conn, topicPrefix: 'airssys', gatewayId: 'bench', window: WINDOW });
  pub.start();
  const t0 = performance.now();
  // Components produce in bursts between event-loop turns (as actors handling ticks do).
  for (let i = 0; i < N; i++) {
    const s = sample(i);
    outbox.append(s.component, s.channel, { value: s.value });
    if (i % 500 === 499) await new Promise((r) => setImmediate(r));
  }
  const tIngest = performance.now();
  await pub.drained(2);
  const ms = performance.now() - t0;
  await pub.stop();
  outbox.close();
  await conn.stop();
  return { rate: (N / ms) * 1000, ingest: (N / (tIngest - t0)) * 1000 };
}

async function ingestOnly(dir: string): Promise<number> {
  rmSync(join(dir, 'ingest.db'), { force: true });
  const outbox = new Outbox({ path: join(dir, 'ingest.db'), maxBatch: 4096, maxBytes: 1e12 });
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    const s = sample(i);
    outbox.append(s.component, s.channel, { value: s.value });
  }
  outbox.flush();
  const ms = performance.now() - t0;
  outbox.close();
  return (N / ms) * 1000;
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'airssys-bench-'));
  const broker = await new Mosquitto().start();
  try {
    const rows: Array<[string, number, number, number]> = [];
    const bares: number[] = [];
    const durables: number[] = [];
    let ingestUnderLoad = 0;
    await bare(broker.url); // warm-up (JIT, broker)
    for (let round = 0; round < 3; round++) {
      bares.push(await bare(broker.url));
      const d = await durable(broker.url, dir);
      durables.push(d.rate);
      ingestUnderLoad = Math.max(ingestUnderLoad, d.ingest);
    }
    const ingest = await ingestOnly(dir);
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    rows.push(['bare MQTT.js QoS 1, window 100', med(bares), Math.min(...bares), Math.max(...bares)]);
    rows.push(['durable outbox + publisher, window 100', med(durables), Math.min(...durables), Math.max(...durables)]);
    console.log(`telemetry throughput into Mosquitto (${N} samples, ${COMPONENTS.length * CHANNELS.length} channels, 3 rounds; samples/s, PUBACK'd and removed from the outbox)`);
    console.log(`${'contender'.padEnd(42)} ${'median'.padStart(9)} ${'min'.padStart(9)} ${'max'.padStart(9)}`);
    for (const [name, m, lo, hi] of rows) console.log(`${name.padEnd(42)} ${fmt(m)} ${fmt(lo)} ${fmt(hi)}`);
    const ratio = med(durables) / med(bares);
    console.log(`durable / bare: ${ratio.toFixed(2)} (target >= 0.50)   durable >= 20,000/s: ${med(durables) >= 20_000 ? 'yes' : 'NO'}`);
    console.log(`outbox ingest, append + group commit only (no broker): ${fmt(ingest).trim()} samples/s; while publishing: ${fmt(ingestUnderLoad).trim()} samples/s`);
    console.log(`rss after run: ${(process.memoryUsage().rss / 1048576).toFixed(1)} MB`);
  } finally {
    await broker.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(9);

if (import.meta.url === `file://${process.argv[1]}`) await run();
