/**
 * Event-to-publish latency (issue "Raspberry Pi reality", item 6): from a GPIO edge entering the
 * gateway to the telemetry sample it causes being handed to the outbox, p50 / p99 / p99.9, under
 * the default config's load (config/gateway.yaml: the three example components and their
 * simulated signals: pulses on GPIO 17, an SHT31 line every second, 100 ADC samples every 100 ms,
 * the embedded broker receiving all of it).
 *
 * How it is measured, in-process (a Gateway object on a temp copy of the default config):
 * - a probe component (WAT, built here) watches GPIO 27 (both edges, no debounce) and publishes one
 *   `edge` sample from `on-gpio`; it is one more component in the config, under its own role;
 * - the bench toggles GPIO 27 on the simulated board every 10–30 ms (random, so it does not
 *   phase-lock with the scenario's timers) and takes `performance.now()` just before
 *   `board.sim.gpio.setInput` (the same call the scenario makes for GPIO 17: the driver's edge in);
 * - `gateway.outbox.append` is wrapped (the wrapper timestamps and calls the real method with the
 *   same arguments; nothing else on the path changes) and stamps each `probe/edge` sample;
 * - edges and samples pair up in order (one sample per edge; the bench refuses to report if the counts differ).
 * The path in between is the real one: watcher, pipeline, capability check, the component's
 * mailbox and supervisor, the instance call with fuel, the telemetry host function.
 *
 * Run: `npm run bench -- latency` (LATENCY_BENCH_SECONDS, default 120). Results: docs/memory.md.
 */
import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import pino from 'pino';
import { stringify } from 'yaml';
import { defaultConfig } from './default-config.js';
import { Gateway } from '../gateway/gateway.js';
import { loadConfig } from '../gateway/config/load.js';
import type { SimBoard } from '../drivers/sim-board.js';
import { buildWat } from '../runtime/build/wat.js';
import { OK, sensorWat, strings } from '../test/helpers/sensor-wat.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SECONDS = Number(process.env.LATENCY_BENCH_SECONDS ?? 120);
const PIN = 27;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function probeComponent(): Promise<Uint8Array> {
  const S = { edge: 'edge' };
  const T = strings(S);
  return buildWat(sensorWat({ strings: S, onGpio: `i32.const ${T.ptr('edge')} i32.const ${T.len('edge')} local.get $value f64.convert_i32_u i32.const 32 call $publish ${OK}` }));
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

export async function run(): Promise<void> {
  const built = spawnSync(process.execPath, [join(root, 'scripts', 'build-examples.mjs')], { stdio: 'inherit' });
  if (built.status !== 0) throw new Error('could not build the examples');
  const dir = await mkdtemp(join(tmpdir(), 'airssys-bench-latency-'));
  // A warm cache if `npm start` has run here (the repo's var/), else the first start builds.
  if (existsSync(join(root, 'var', 'cache'))) await cp(join(root, 'var', 'cache'), join(dir, 'var', 'cache'), { recursive: true });
  await writeFile(join(dir, 'probe.wasm'), await probeComponent());
  await writeFile(join(dir, 'probe.yaml'), stringify({ name: 'probe', version: '1.0.0', 'tick-ms': 60_000, capabilities: { gpio: { read: [PIN], watch: [{ pin: PIN, edge: 'both', 'debounce-ms': 0 }] }, telemetry: ['edge'] }, limits: { 'memory-mb': 1, fuel: 1_000_000, mailbox: 1000 } }));
  const config = await defaultConfig(root);
  config.gateway['data-dir'] = join(dir, 'var');
  config.mqtt['embedded-port'] = 0;
  config.log = { level: 'warn' };
  config.components.push({ source: join(dir, 'probe.wasm'), manifest: join(dir, 'probe.yaml') });
  config.policy.roles.probe = { gpio: { read: [PIN], watch: [PIN] }, telemetry: ['*'] };
  config.policy.components.probe = ['probe'];
  const file = join(dir, 'gateway.yaml');
  await writeFile(file, stringify(config));

  const gw = new Gateway({ config: loadConfig(file), logger: pino({ level: 'warn' }) });
  await gw.start();
  const board = gw.board as SimBoard;
  const outbox = gw.outbox;
  const appended: number[] = [];
  const append = outbox.append.bind(outbox);
  outbox.append = (component, channel, body, ts) => {
    if (component === 'probe') appended.push(performance.now());
    return ts === undefined ? append(component, channel, body) : append(component, channel, body, ts);
  };
  const edges: number[] = [];
  try {
    await sleep(5_000); // past start-up: the first ticks, the first commits
    appended.length = 0;
    let level = false;
    const end = performance.now() + SECONDS * 1000;
    while (performance.now() < end) {
      await sleep(10 + Math.random() * 20);
      level = !level;
      edges.push(performance.now());
      board.sim.gpio.setInput(PIN, level);
    }
    await sleep(1000);
  } finally {
    outbox.append = append;
    await gw.stop();
  }
  if (appended.length !== edges.length) throw new Error(`${edges.length} edges but ${appended.length} probe samples: the pairing would be wrong`);
  const lat = edges.map((t, i) => appended[i]! - t).sort((a, b) => a - b);
  const f = (ms: number) => `${ms.toFixed(3)} ms`;
  console.log(`GPIO edge → sample handed to the outbox, default config's load + probe component, ${lat.length} edges over ${SECONDS} s, node ${process.version} (in-process, from source)`);
  console.table([{ p50: f(pct(lat, 50)), p99: f(pct(lat, 99)), 'p99.9': f(pct(lat, 99.9)), max: f(lat.at(-1)!), min: f(lat[0]!) }]);
  console.log('target: p99 ≤ 2 ms');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
