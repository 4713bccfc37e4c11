/**
 * The SDK examples' cost per event on the gateway runtime (fuel-metered Engine), their component
 * sizes and build times. Results are recorded in docs/sdk.md ("Cost of the examples").
 */
import { fileURLToPath } from 'node:url';
import { buildAssemblyScript } from '../sdk/build.js';
import { loadComponent, type Outcome, type TestComponent } from '../sdk/testing.js';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

function samplesFrame(count: number): Uint8Array {
  const out = new Uint8Array(count * 2);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < count; i++) dv.setInt16(i * 2, Math.round(300 + 1000 * Math.sin((2 * Math.PI * 50 * i) / 1000)), true);
  return out;
}

interface Case {
  example: string;
  event: string;
  setup?: (c: TestComponent) => void;
  fire: (c: TestComponent, i: number) => Outcome[];
}

const CASES: Case[] = [
  { example: 'thermostat', event: 'on-serial (1 line)', fire: (c, i) => c.serial('/dev/ttyUSB0', `T=${(20 + (i % 30) / 10).toFixed(1)},H=41.5\n`) },
  { example: 'thermostat', event: 'on-serial + on-tick (publish 3), per event', setup: (c) => void c.serial('/dev/ttyUSB0', 'T=21,H=40\n'), fire: (c) => { c.serial('/dev/ttyUSB0', 'T=21,H=40\n'); return c.tick(); } },
  { example: 'pulse-counter', event: 'on-gpio (rising edge)', fire: (c) => c.pulse(17, { highMs: 30, lowMs: 30 }) },
  { example: 'pulse-counter', event: 'on-tick (publish 2)', fire: (c) => c.tick() },
  { example: 'vibration', event: 'on-serial (256-sample block: RMS + FFT)', fire: (c) => c.serial('/dev/ttyACM0', samplesFrame(256)) },
  { example: 'vibration', event: 'on-tick (JSON summary)', setup: (c) => void c.serial('/dev/ttyACM0', samplesFrame(256)), fire: (c) => c.tick() },
];

export async function run(): Promise<void> {
  const sizes: string[] = [];
  for (const name of ['thermostat', 'pulse-counter', 'vibration']) {
    let core = 0;
    const t0 = performance.now();
    const bytes = await buildAssemblyScript(here(`../examples/${name}/${name}.ts`), { onCoreModule: (c) => (core = c.length) });
    const ms = performance.now() - t0;
    let coreSize = 0;
    const small = await buildAssemblyScript(here(`../examples/${name}/${name}.ts`), { optimize: 'size', onCoreModule: (c) => (coreSize = c.length) });
    sizes.push(`| ${name} | ${bytes.length} | ${core} | ${small.length} (core ${coreSize}) | ${ms.toFixed(0)} |`);
  }
  console.log('| example | component bytes (-O3) | core module | -Oz component | build ms |');
  console.log('|---|---|---|---|---|');
  for (const s of sizes) console.log(s);

  console.log('\n| example | event | µs/event (mean) | µs/event (p99) | fuel/event | memory after |');
  console.log('|---|---|---|---|---|---|');
  for (const k of CASES) {
    // Events fire back to back in (almost) no virtual time: without this the gateway's telemetry
    // limit (100/s, burst 200) would refuse the vibration blocks' publishes after 100 blocks.
    const c = await loadComponent(here(`../examples/${k.example}/${k.example}.ts`), { manifest: here(`../examples/${k.example}/${k.example}.yaml`), rateLimits: { telemetry: null } });
    c.init();
    k.setup?.(c);
    for (let i = 0; i < 500; i++) k.fire(c, i); // warm up
    const times: number[] = [];
    let fuel = 0;
    let events = 0;
    const N = 5000;
    for (let i = 0; i < N; i++) {
      const before = c.events.length;
      const t0 = performance.now();
      k.fire(c, i);
      times.push(performance.now() - t0);
      for (const e of c.events.slice(before)) {
        if (!e.outcome.ok) throw new Error(`${k.example} ${k.event}: ${e.outcome.kind} ${e.outcome.message}`);
        fuel += e.outcome.fuelUsed;
        events++;
      }
    }
    times.sort((a, b) => a - b);
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    const p99 = times[Math.floor(times.length * 0.99)]!;
    // Times include the gateway's driver pipeline on the simulated board (framing, debounce, grant checks).
    console.log(`| ${k.example} | ${k.event} | ${(mean * 1000).toFixed(1)} | ${(p99 * 1000).toFixed(1)} | ${Math.round(fuel / events)} | ${c.memoryBytes() / 1024} KiB |`);
  }
}
