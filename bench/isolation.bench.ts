/**
 * CPU isolation of inline components (hardening issue):
 * 1. How soon after `deadline-ms` an endless loop with a practically unlimited fuel budget stops.
 * 2. What a host call costs next to a unit of guest fuel (the calibration of host-call charging).
 * 3. A well-behaved neighbour's sample rate in the real Gateway (in-process, embedded broker,
 *    default supervision) alone, beside a component calling `log` 1M times per tick, and beside an
 *    endless loop with fuel 1e11.
 *
 *   npm run bench -- isolation
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildWat } from '../runtime/build/wat.js';
import { Engine } from '../runtime/engine.js';
import { HOST_CALL_BASE_FUEL, HOST_CALL_SINK_FUEL } from '../runtime/metering/index.js';
import { parseConfig } from '../gateway/config/index.js';
import { Gateway } from '../gateway/gateway.js';
import { OK, sensorWat, strings } from '../test/helpers/sensor-wat.js';
import { RecordingHost } from '../test/helpers/recording-host.js';

const S = { temp: 'temperature', hello: 'flood!' };
const T = strings(S);
const SPIN = sensorWat({ onTick: `(loop $spin br $spin) ${OK}` });
const NEIGHBOUR = sensorWat({ strings: S, onTick: `i32.const ${T.ptr('temp')} i32.const ${T.len('temp')} f64.const 21.5 i32.const 32 call $publish ${OK}` });
const FLOOD = sensorWat({
  strings: S,
  onTick: `(local $i i32) i32.const 1000000 local.set $i
    (block $done (loop $l local.get $i i32.eqz br_if $done
      i32.const 2 i32.const ${T.ptr('hello')} i32.const ${T.len('hello')} call $log
      local.get $i i32.const 1 i32.sub local.set $i br $l)) ${OK}`,
});
const NOW_CALLS = sensorWat({ onTick: `(local $i i32) i32.const 100000 local.set $i (block $done (loop $l local.get $i i32.eqz br_if $done call $now_ms drop local.get $i i32.const 1 i32.sub local.set $i br $l)) ${OK}` });
const COUNT = sensorWat({ onTick: `(local $i i32) i32.const 10000000 local.set $i (block $done (loop $l local.get $i i32.eqz br_if $done local.get $i i32.const 1 i32.sub local.set $i br $l)) ${OK}` });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function deadlineLatency(engine: Engine): Promise<void> {
  const prepared = await engine.prepare(await buildWat(SPIN), { memoryMb: 16 });
  for (const deadlineMs of [20, 100]) {
    const late: number[] = [];
    for (let i = 0; i < 15; i++) {
      const inst = prepared.instantiate(new RecordingHost(), { fuel: 1e15, deadlineMs });
      const o = inst.call('on-tick', [0n]);
      if (o.ok || o.kind !== 'deadline') throw new Error(`expected deadline, got ${JSON.stringify(o)}`);
      late.push(o.durationMs - deadlineMs);
    }
    console.log(`endless loop, fuel 1e15, deadline-ms ${deadlineMs}: stopped after the deadline by median ${median(late).toFixed(2)} ms, max ${Math.max(...late).toFixed(2)} ms (15 runs)`);
  }
}

async function calibration(engine: Engine): Promise<void> {
  const host = new RecordingHost();
  const count = (await engine.prepare(await buildWat(COUNT), { memoryMb: 16 })).instantiate(host, { fuel: 1e15 });
  const calls = (await engine.prepare(await buildWat(NOW_CALLS), { memoryMb: 16 })).instantiate(host, { fuel: 1e15 });
  for (let i = 0; i < 5; i++) (count.call('on-tick', [0n]), calls.call('on-tick', [0n]));
  const nsPerFuel: number[] = [];
  const nsPerCall: number[] = [];
  for (let i = 0; i < 9; i++) {
    let o = count.call('on-tick', [0n]);
    nsPerFuel.push((o.durationMs * 1e6) / (o.fuelUsed || 1));
    o = calls.call('on-tick', [0n]);
    nsPerCall.push((o.durationMs * 1e6) / 100_000);
  }
  const f = median(nsPerFuel);
  const c = median(nsPerCall);
  console.log(`guest code: ${f.toFixed(3)} ns per fuel unit; host call now-ms (glue + charge): ${c.toFixed(0)} ns = ${(c / f).toFixed(0)} fuel units of guest time; charged ${HOST_CALL_BASE_FUEL} (log, telemetry, messaging, serial: ${HOST_CALL_SINK_FUEL})`);
}

interface Scenario {
  name: string;
  other?: { wasm: string; manifest: Record<string, unknown> };
  /** Restart a crashed component within 10-50 ms instead of the default growing backoff (the worst case for its neighbours). */
  fastRestart?: boolean;
}

async function neighbourRates(dir: string): Promise<void> {
  const file = async (name: string, wat: string) => {
    const p = join(dir, `${name}.wasm`);
    await writeFile(p, await buildWat(wat));
    return p;
  };
  const neighbour = await file('neighbour', NEIGHBOUR);
  const spin = await file('spinner', SPIN);
  const flood = await file('flood', FLOOD);
  const restart = { policy: 'permanent', intensity: 1000, 'period-ms': 60000 };
  const scenarios: Scenario[] = [
    { name: 'neighbour alone' },
    { name: 'beside `log` x1M per tick (default limits, tick 100 ms)', other: { wasm: flood, manifest: { name: 'flood', version: '1.0.0', 'tick-ms': 100, restart } } },
    { name: 'beside endless loop, fuel 1e11, deadline-ms 100, tick 1000 ms', other: { wasm: spin, manifest: { name: 'spinner', version: '1.0.0', 'tick-ms': 1000, limits: { fuel: 1e11, 'deadline-ms': 100 }, restart } } },
    { name: 'same `log` flood, restarted within 50 ms', other: { wasm: flood, manifest: { name: 'flood', version: '1.0.0', 'tick-ms': 100, restart } }, fastRestart: true },
    { name: 'same endless loop, restarted within 50 ms', other: { wasm: spin, manifest: { name: 'spinner', version: '1.0.0', 'tick-ms': 1000, limits: { fuel: 1e11, 'deadline-ms': 100 }, restart } }, fastRestart: true },
  ];
  const WINDOW_MS = 20_000;
  const rows: Record<string, string | number>[] = [];
  let baseline = 0;
  const only = process.env.ISOLATION_SCENARIOS?.split(',').map(Number);
  for (const [i, sc] of scenarios.entries()) {
    if (only && !only.includes(i)) continue;
    const components = [{ source: neighbour, manifest: { name: 'sensor', version: '1.0.0', 'tick-ms': 20, capabilities: { telemetry: ['temperature'] } } }];
    if (sc.other) components.push({ source: sc.other.wasm, manifest: sc.other.manifest as never });
    const config = parseConfig(
      {
        gateway: { id: 'gw-bench', 'data-dir': join(dir, `var-${i}`) },
        mqtt: { url: 'embedded', 'embedded-port': 0 },
        policy: { roles: { sensing: { telemetry: ['*'] }, heavy: { limits: { fuel: 1e11 } } }, components: { sensor: ['sensing'], spinner: ['heavy'], flood: ['sensing'] } },
        components,
        log: { level: 'error' },
      },
      { baseDir: dir },
    );
    const gw = new Gateway({ config, ...(sc.fastRestart ? { supervision: { backoff: { baseMs: 10, maxMs: 50 } } } : {}) });
    await gw.start();
    await new Promise((r) => setTimeout(r, 2000));
    const snap = () => (gw.health() as { components: Record<string, { events: number; crashes: number }> }).components;
    const before = snap();
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const after = snap();
    await gw.stop();
    const rate = ((after.sensor!.events - before.sensor!.events) * 1000) / WINDOW_MS;
    if (i === 0) baseline = rate;
    const otherName = sc.other?.manifest.name as string | undefined;
    rows.push({
      scenario: sc.name,
      'neighbour samples/s': rate.toFixed(1),
      'of baseline': baseline ? `${((rate / baseline) * 100).toFixed(0)}%` : '-',
      'other: crashes in window': otherName ? after[otherName]!.crashes - before[otherName]!.crashes : '-',
    });
  }
  console.log(`neighbour ticking every 20 ms, real Gateway in-process (embedded broker, default supervision backoff unless said), ${WINDOW_MS / 1000} s windows`);
  console.table(rows);
}

export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'airssys-bench-isolation-'));
  try {
    console.log(`node ${process.version}, ${process.arch}, load average ${loadavg()[0]!.toFixed(1)}`);
    const engine = new Engine({ cacheDir: join(dir, 'cache') });
    await deadlineLatency(engine);
    await calibration(engine);
    await neighbourRates(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
