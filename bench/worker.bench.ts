/**
 * What `isolation: worker` costs (issue 3, "Deadline as a second line"): per-event cost inline vs
 * in a worker, a guest→host call through the proxy, how long a runaway loop keeps running after its
 * deadline, and worker startup. Run: `npm run bench -- worker` or
 * `node --import tsx bench/worker.bench.ts`. Results are recorded in docs/limits.md.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { buildWat } from '../runtime/build/wat.js';
import { Engine, type PreparedComponent } from '../runtime/engine.js';
import { WorkerInstance } from '../runtime/worker/index.js';
import { OK, sensorWat } from '../test/helpers/sensor-wat.js';
import { RecordingHost } from '../test/helpers/recording-host.js';
import { benchComponentWat } from './runtime.bench.js';
import { nsPerCall } from './measure.js';

const HOST_CALLS_PER_TICK = 10_000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Median of `rounds` timings of `iterations` awaited calls, in ns per call. */
async function nsPerAsyncCall(fn: () => Promise<unknown>, iterations: number, rounds = 7): Promise<number> {
  for (let i = 0; i < iterations; i++) await fn();
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await fn();
    samples.push(Number(process.hrtime.bigint() - t0) / iterations);
  }
  return median(samples);
}

async function perEvent(prepared: PreparedComponent) {
  const host = new RecordingHost();
  const inline = prepared.instantiate(host, { fuel: 50_000_000 });
  const worker = await WorkerInstance.start(prepared.workerSource(), host, { fuel: 50_000_000, deadlineMs: 60_000 });
  const data = new Uint8Array(0);
  const inlineExport = nsPerCall(() => inline.call('on-gpio', [1, true, 1n]), 100_000);
  const inlineHost = (nsPerCall(() => inline.call('on-tick', [1n]), 20, 5) - nsPerCall(() => inline.call('on-serial', ['p', data]), 20, 5)) / HOST_CALLS_PER_TICK;
  const workerExport = await nsPerAsyncCall(() => worker.callAsync('on-gpio', [1, true, 1n]), 2_000);
  const withHost = await nsPerAsyncCall(() => worker.callAsync('on-tick', [1n]), 3, 5);
  const without = await nsPerAsyncCall(() => worker.callAsync('on-serial', ['p', data]), 3, 5);
  const workerHost = (withHost - without) / HOST_CALLS_PER_TICK;
  await worker.terminate();
  return [
    { path: 'inline (ComponentInstance.call, timed)', 'empty event (µs)': (inlineExport / 1000).toFixed(2), 'guest→host call (µs)': (inlineHost / 1000).toFixed(3) },
    { path: 'worker (WorkerInstance.callAsync)', 'empty event (µs)': (workerExport / 1000).toFixed(2), 'guest→host call (µs)': (workerHost / 1000).toFixed(3) },
  ];
}

/** A runaway loop with an effectively unlimited fuel budget: how late after its deadline is it gone? */
async function runaway(engine: Engine) {
  const prepared = await engine.prepare(await buildWat(sensorWat({ onTick: `(loop $spin br $spin) ${OK}` })), { memoryMb: 16 });
  const rows = [];
  for (const deadlineMs of [50, 200]) {
    const late: number[] = [];
    for (let i = 0; i < 7; i++) {
      const w = await WorkerInstance.start(prepared.workerSource(), new RecordingHost(), { fuel: 1e15, deadlineMs });
      const outcome = await w.callAsync('on-tick', [1n]);
      if (outcome.ok || outcome.kind !== 'deadline') throw new Error(`expected deadline, got ${JSON.stringify(outcome)}`);
      // durationMs runs from the post to the worker's exit: what is past the deadline is timer lateness + terminate.
      late.push(outcome.durationMs - deadlineMs);
    }
    rows.push({ deadline: `${deadlineMs} ms`, 'gone after deadline, median (ms)': median(late).toFixed(1), 'max (ms)': Math.max(...late).toFixed(1) });
  }
  return rows;
}

async function startup(prepared: PreparedComponent) {
  const bare: number[] = [];
  const ours: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    const w = new Worker('require("node:worker_threads").parentPort.postMessage(1)', { eval: true });
    await new Promise((r) => w.once('message', r));
    bare.push(performance.now() - t0);
    await w.terminate();
    const t1 = performance.now();
    const inst = await WorkerInstance.start(prepared.workerSource(), new RecordingHost(), { fuel: 1_000_000, deadlineMs: 10_000 });
    const init = await inst.callAsync('init');
    if (!init.ok) throw new Error(init.message);
    ours.push(performance.now() - t1);
    await inst.terminate();
  }
  // Resident memory a live worker adds (its own V8 isolate, the glue, the instance's memory).
  const rss0 = process.memoryUsage().rss;
  const held = [];
  for (let i = 0; i < 4; i++) held.push(await WorkerInstance.start(prepared.workerSource(), new RecordingHost(), { fuel: 1_000_000, deadlineMs: 10_000 }));
  const rssPerWorker = (process.memoryUsage().rss - rss0) / 4 / 1024 / 1024;
  await Promise.all(held.map((w) => w.terminate()));
  const t2 = performance.now();
  const inline = prepared.instantiate(new RecordingHost(), { fuel: 1_000_000 });
  inline.call('init');
  const inlineMs = performance.now() - t2;
  return [
    { start: 'inline instance + init', value: `${inlineMs.toFixed(2)} ms` },
    { start: 'bare worker thread (eval, one message)', value: `${median(bare).toFixed(1)} ms (median)` },
    { start: `WorkerInstance.start + init (${import.meta.url.endsWith('.ts') ? 'from source: tsx loader in the worker' : 'compiled'})`, value: `${median(ours).toFixed(1)} ms (median)` },
    { start: 'resident memory per live worker (mean of 4)', value: `${rssPerWorker.toFixed(1)} MB` },
  ];
}

export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'airssys-bench-worker-'));
  const engine = new Engine({ cacheDir: join(dir, 'cache') });
  const prepared = await engine.prepare(await buildWat(benchComponentWat()), { memoryMb: 16 });
  console.log(`\n## Worker isolation (Node ${process.version}, ${process.arch})\n`);
  console.table(await perEvent(prepared));
  console.table(await runaway(engine));
  console.table(await startup(prepared));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
