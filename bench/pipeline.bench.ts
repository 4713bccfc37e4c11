/**
 * Driver-pipeline benchmark (issue 4): HostApi.gpioRead on the sim board through the full
 * pipeline (argument check → grant → rate-limit bucket → metrics → driver), audit on for denials
 * only. Target: < 1 µs median per call. Run: `npm run bench -- pipeline` or
 * `node --import tsx bench/pipeline.bench.ts`. Results are recorded in docs/drivers.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseManifest } from '../runtime/manifest.js';
import { createHostApi } from '../drivers/pipeline/host-calls.js';
import { createAudit } from '../drivers/pipeline/audit.js';
import { compileGrant } from '../drivers/policy/grant.js';
import { Metrics } from '../drivers/pipeline/metrics.js';
import { createSimBoard } from '../drivers/sim-board.js';
import { batchTiming } from './measure.js';

const batchMedianNs = (fn: () => void, iterations: number, rounds = 15) => batchTiming(fn, iterations, rounds);

/** Median of single calls timed one by one (includes ~hrtime overhead, reported separately). */
function perCallMedianNs(fn: () => void, calls: number): number {
  const s = new Float64Array(calls);
  for (let i = 0; i < calls; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    s[i] = Number(process.hrtime.bigint() - t0);
  }
  s.sort();
  return s[calls >> 1]!;
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'airssys-bench-'));
  const board = createSimBoard();
  board.sim.gpio.setInput(17, true);
  const audit = createAudit({ file: join(dir, 'audit.log') });
  const manifest = parseManifest({ name: 'bench', version: '1.0.0', capabilities: { gpio: { read: [17], write: [22] }, telemetry: ['t'] } });
  const grant = compileGrant(manifest);
  const sinks = { telemetry() {}, message() {}, log() {} };
  const base = { component: { name: 'bench', version: '1.0.0' }, grant, board, audit, metrics: new Metrics(), sinks };
  // Rate limiting stays on the path, with a limit the bench cannot reach.
  const api = createHostApi({ ...base, rateLimits: { gpio: { rate: 1e12, burst: 1e12 }, telemetry: { rate: 1e12, burst: 1e12 } } });
  const apiNoLimit = createHostApi({ ...base, rateLimits: { gpio: null } });
  let sink = false;
  const N = 2_000_000;

  const rows: Array<[string, string, string]> = [];
  const add = (name: string, r: { median: number; min: number; max: number }) => rows.push([name, r.median.toFixed(1), `${r.min.toFixed(1)}-${r.max.toFixed(1)}`]);

  add('driver only: board.gpio.read(17)', batchMedianNs(() => { sink = board.gpio.read(17) !== sink; }, N));
  add('HostApi.gpioRead(17), full pipeline', batchMedianNs(() => { sink = api.gpioRead(17) !== sink; }, N));
  add('HostApi.gpioRead(17), rate limit off', batchMedianNs(() => { sink = apiNoLimit.gpioRead(17) !== sink; }, N));
  add('HostApi.gpioWrite(22, x), full pipeline', batchMedianNs(() => { sink = !sink; api.gpioWrite(22, sink); }, N));
  add('HostApi.publish("t", 1) to a no-op sink', batchMedianNs(() => api.publish('t', 1), N));
  const tryCall = (fn: () => void) => () => {
    try {
      fn();
    } catch {
      // expected refusal
    }
  };
  add('HostApi.gpioRead(99): invalid (throws)', batchMedianNs(tryCall(() => api.gpioRead(99)), 20_000, 9));
  // Denials: the first 50 per second are written (sync file append), the rest only counted.
  add('HostApi.gpioRead(5): denied, audit flood-capped', batchMedianNs(tryCall(() => api.gpioRead(5)), 20_000, 9));
  const perCall = perCallMedianNs(() => { sink = api.gpioRead(17) !== sink; }, 200_000);
  const timerOnly = perCallMedianNs(() => {}, 200_000);

  console.log('pipeline bench (sim board, audit on for denials only), ns per call');
  console.log(`${'case'.padEnd(50)} ${'median'.padStart(8)}  range of round means`);
  for (const [n, med, range] of rows) console.log(`${n.padEnd(50)} ${med.padStart(8)}  ${range}`);
  console.log(`${'gpioRead timed one call at a time (median)'.padEnd(50)} ${perCall.toFixed(0).padStart(8)}  (hrtime pair alone: ${timerOnly.toFixed(0)} ns)`);
  const full = Number(rows[1]![1]);
  console.log(`target < 1000 ns median for the full pipeline: ${full < 1000 ? 'met' : 'MISSED'} (${full.toFixed(1)} ns)`);
  console.log(`audit records written during the bench: ${audit.written} (denials are capped per second)`);
  await audit.close();
  await board.close();
  rmSync(dir, { recursive: true, force: true });
  if (sink === undefined) console.log(''); // keep `sink` observable so V8 cannot drop the calls
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
