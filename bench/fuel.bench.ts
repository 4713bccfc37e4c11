/**
 * Fuel-metering overhead: each kernel from fuel-kernels.ts runs un-metered and metered in the same
 * process, interleaved round by round so both see the same machine state. Reports the fastest
 * round's ns/op of each (the least disturbed by other load on the machine), the ratio, and the fuel
 * one operation consumes.
 *
 *   node --import tsx bench/fuel.bench.ts
 */
import { setFlagsFromString } from 'node:v8';
import { FUEL_EXPORT, instrumentCoreModule } from '../runtime/instrument/index.js';
import { FuelMeter } from '../runtime/metering/fuel-meter.js';
import { kernels, type Kernel } from './fuel-kernels.js';

const ROUNDS = 151;
const ROUND_MS = 4;
const BIG_FUEL = 1n << 62n;

interface Row {
  kernel: string;
  op: string;
  plainNs: number;
  meteredNs: number;
  ratio: number;
  fuelPerOp: number;
}

async function instantiate(bytes: Uint8Array): Promise<Record<string, any>> {
  const { instance } = await WebAssembly.instantiate(bytes as BufferSource);
  return instance.exports as Record<string, any>;
}

function timeBatch(k: Kernel, e: Record<string, any>, batch: number): number {
  const t0 = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < batch; i++) sink += Number(k.run(e));
  const dt = Number(process.hrtime.bigint() - t0);
  if (Number.isNaN(sink)) throw new Error('kernel produced NaN');
  return dt / batch;
}


async function measure(k: Kernel): Promise<Row> {
  const jco = await import('@bytecodealliance/jco');
  const original = await jco.parse(k.wat);
  const { bytes: metered } = instrumentCoreModule(original, { memoryMaxPages: 16 });
  // Compile straight to V8's optimizing tier: with the default lazy tier-up, a busy machine can
  // leave one side on the baseline compiler for the whole measurement. Steady state is TurboFan.
  setFlagsFromString('--no-liftoff');
  let plain: Record<string, any>;
  let inst: Record<string, any>;
  try {
    plain = await instantiate(original);
    inst = await instantiate(metered);
  } finally {
    setFlagsFromString('--liftoff');
  }
  k.prepare(plain);
  k.prepare(inst);
  const fuel = inst[FUEL_EXPORT] as WebAssembly.Global;

  fuel.value = BIG_FUEL;
  const a = k.run(plain);
  const b = k.run(inst);
  if (a !== b && !(Number.isNaN(a) && Number.isNaN(b))) throw new Error(`${k.name}: metered result ${b} differs from ${a}`);
  const fuelPerOp = Number(BIG_FUEL - (fuel.value as bigint));

  // From here on the metered side runs as the gateway runs it: the budget handed out in slices by
  // the FuelMeter, whose refill (once per FUEL_SLICE) reads the clock against a deadline that never
  // passes. So the figure includes the deadline checks, not only the inline counting.
  const meter = new FuelMeter(Number.MAX_SAFE_INTEGER);
  meter.attach(inst as unknown as WebAssembly.Exports, true);
  meter.begin(performance.now() + 3_600_000);

  // Warm up both into the optimizing tier and size a batch to about ROUND_MS.
  const warmEnd = performance.now() + 300;
  while (performance.now() < warmEnd) {
    k.run(plain);
    k.run(inst);
  }
  const perOp = timeBatch(k, plain, 50);
  const batch = Math.max(10, Math.round((ROUND_MS * 1e6) / perOp));

  const plainNs: number[] = [];
  const meteredNs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    meter.begin(performance.now() + 3_600_000);
    // Alternate which goes first so neither always runs right after the other.
    if (r % 2 === 0) {
      plainNs.push(timeBatch(k, plain, batch));
      meteredNs.push(timeBatch(k, inst, batch));
    } else {
      meteredNs.push(timeBatch(k, inst, batch));
      plainNs.push(timeBatch(k, plain, batch));
    }
  }
  if (meter.deadlineHit || meter.used() <= 0) throw new Error(`${k.name}: the metered side did not run under the meter`);
  const p = Math.min(...plainNs);
  const m = Math.min(...meteredNs);
  return { kernel: k.name, op: k.op, plainNs: p, meteredNs: m, ratio: m / p, fuelPerOp };
}

export async function run(): Promise<void> {
  const rows: Row[] = [];
  for (const k of kernels) rows.push(await measure(k));
  const header = ['kernel', 'one op', 'plain ns/op', 'metered ns/op', 'ratio', 'fuel/op'];
  const body = rows.map((r) => [r.kernel, r.op, r.plainNs.toFixed(0), r.meteredNs.toFixed(0), `${r.ratio.toFixed(2)}x`, String(r.fuelPerOp)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(`fuel metering overhead (node ${process.version}, ${process.arch})`);
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of body) console.log(line(row));
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
