/**
 * Actor runtime figures, side by side with the seed system (Rust): spawn latency, one-way message
 * latency (median) and throughput through the bus into one actor.
 *
 *   node --import tsx bench/actors.bench.ts
 *
 * WASM HOOK: rows come from `handlerFactories`. The lead adds the Wasm-component row by appending a
 * factory that instantiates the component and returns a handler calling its `on-message` export,
 * e.g. `{ name: 'wasm component (on-message)', make: async () => wasmHandler(bytes) }`, or by passing
 * extra factories to `run({ factories })`. Everything else (what is measured, the table) stays as is.
 */
import { cpus, loadavg } from 'node:os';
import { Bus, subscribeActor, type BusMessage } from '../runtime/bus/index.js';
import { spawn, type Actor, type Handler, type Message } from '../runtime/supervision/index.js';

type Payload = BusMessage<number>;

export interface HandlerFactory {
  name: string;
  /** Build the handler for one actor; `onMessage` must be called once per delivered message. */
  make: (onMessage: () => void) => Handler<Payload> | Promise<Handler<Payload>>;
}

export const handlerFactories: HandlerFactory[] = [
  {
    name: 'trivial JS handler',
    make: (onMessage) => () => {
      onMessage();
    },
  },
  // ---- Wasm handler row goes here (lead) ----
];

/** A machine-noise reference: spawn allocates ~10 such objects, so read spawn against it. */
function calibrate(): number {
  const n = 100_000;
  const keep: unknown[] = new Array(n);
  const t0 = now();
  for (let i = 0; i < n; i++) keep[i] = { a: i, b: [i], c: { x: i } };
  return Number(now() - t0) / n;
}

const SEED = { spawnNs: 625, latencyNs: 737, throughput: 4_700_000 };

const now = (): bigint => process.hrtime.bigint();
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const immediate = () => new Promise<void>((r) => setImmediate(r));

async function spawnLatency(f: HandlerFactory, n: number): Promise<number> {
  const handler = await f.make(() => undefined);
  const actors: Actor<Payload>[] = [];
  // warm-up
  for (let i = 0; i < 1000; i++) actors.push(spawn({ id: `w${i}`, mailbox: 1000, handler }));
  actors.length = 0;
  const t0 = now();
  for (let i = 0; i < n; i++) actors.push(spawn({ id: `a${i}`, mailbox: 1000, handler }));
  const t1 = now();
  for (const a of actors) a.kill();
  return Number(t1 - t0) / n;
}

/**
 * One message at a time: stamp, publish on the bus, the handler stamps on delivery. The receiver
 * is idle before each send, as in the seed's ping measurement, so this includes the scheduling hop.
 */
async function latency(f: HandlerFactory, samples: number): Promise<number> {
  const bus = new Bus<number>();
  let t0 = 0n;
  let delivered: (() => void) | null = null;
  const out: number[] = [];
  const handler = await f.make(() => {
    out.push(Number(now() - t0));
    delivered?.();
  });
  const actor = spawn<Payload>({ id: 'lat', mailbox: 1000, handler });
  subscribeActor(bus, actor, 'bench/#');
  for (let i = 0; i < samples; i++) {
    const done = new Promise<void>((r) => (delivered = r));
    t0 = now();
    bus.publish('bench', 'bench/lat', i);
    await done;
  }
  actor.kill();
  return median(out.slice(Math.floor(samples / 10)));
}

/** Publish `total` messages through the bus in mailbox-sized bursts; time until all are handled. */
async function throughput(f: HandlerFactory, total: number, burst: number): Promise<number> {
  const bus = new Bus<number>();
  let handled = 0;
  const handler = await f.make(() => {
    handled++;
  });
  const actor = spawn<Payload>({ id: 'thr', mailbox: burst, handler, batch: burst });
  subscribeActor(bus, actor, 'bench/+/data');
  const t0 = now();
  for (let sent = 0; sent < total; ) {
    for (let i = 0; i < burst; i++) bus.publish('sensor', 'bench/x/data', sent++);
    while (handled < sent) await immediate();
  }
  const t1 = now();
  actor.kill();
  if (actor.stats.dropped.event > 0) throw new Error(`dropped ${actor.stats.dropped.event} messages`);
  return total / (Number(t1 - t0) / 1e9);
}

/**
 * The Wasm row: each actor owns a fresh instance of a small WAT component (fuel-metered, from the
 * engine's cache) and handles every message with one export call (`on-gpio`, scalar arguments).
 */
async function wasmFactory(): Promise<HandlerFactory> {
  const { mkdtemp } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { Engine } = await import('../runtime/engine.js');
  const { buildWat } = await import('../runtime/build/wat.js');
  const { sensorWat } = await import('../test/helpers/sensor-wat.js');
  const { RecordingHost } = await import('../test/helpers/recording-host.js');
  const engine = new Engine({ cacheDir: join(await mkdtemp(join(tmpdir(), 'airssys-bench-actors-')), 'cache') });
  const prepared = await engine.prepare(await buildWat(sensorWat()), { memoryMb: 16 });
  const host = new RecordingHost();
  return {
    name: 'Wasm component handler (fuel-metered on-gpio)',
    make: (onMessage) => {
      const inst = prepared.instantiate(host, { fuel: 1_000_000, timed: false });
      return () => {
        inst.call('on-gpio', [1, true, 0n]);
        onMessage();
      };
    },
  };
}

export async function run(opts: { factories?: HandlerFactory[]; quick?: boolean; wasm?: boolean } = {}): Promise<void> {
  const factories = [...handlerFactories, ...(opts.wasm === false ? [] : [await wasmFactory()]), ...(opts.factories ?? [])];
  const q = opts.quick ?? false;
  const rows: Array<Record<string, string>> = [
    {
      handler: 'seed (Rust)',
      'spawn ns/actor': String(SEED.spawnNs),
      'latency median ns': String(SEED.latencyNs),
      'throughput msg/s': SEED.throughput.toLocaleString('en-US'),
    },
  ];
  for (const f of factories) {
    await throughput(f, 200_000, 1000); // JIT warm-up
    await latency(f, 2_000);
    const s = await spawnLatency(f, q ? 10_000 : 100_000);
    await immediate();
    const l = await latency(f, q ? 5_000 : 50_000);
    const t = await throughput(f, q ? 500_000 : 5_000_000, 1000);
    rows.push({
      handler: f.name,
      'spawn ns/actor': s.toFixed(0),
      'latency median ns': l.toFixed(0),
      'throughput msg/s': Math.round(t).toLocaleString('en-US'),
    });
  }
  console.log(`actors bench — node ${process.version}, ${process.arch}, load ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cpus; targets: >= 1,000,000 msg/s, < 2,000 ns latency`);
  console.log(`calibration: ${calibrate().toFixed(0)} ns to allocate and keep one small object graph (a quiet x64 core: ~20-40 ns)`);
  console.table(rows);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await run({ quick: process.argv.includes('--quick') });
}
