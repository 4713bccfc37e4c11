/**
 * Runtime benchmarks (issue 2): jco glue versions side by side, cold and warm load, export-call
 * and guest-to-host call overhead. Run: `npm run bench -- runtime` or
 * `node --import tsx bench/runtime.bench.ts`. Results are recorded in docs/runtime.md.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { buildWat } from '../runtime/build/wat.js';
import { Engine } from '../runtime/engine.js';
import { Linker } from '../runtime/linker.js';
import { OK, sensorWat } from '../test/helpers/sensor-wat.js';
import { RecordingHost } from '../test/helpers/recording-host.js';
import { nsPerCall } from './measure.js';

const HOST_CALLS_PER_TICK = 10_000;

export function benchComponentWat(): string {
  return sensorWat({
    onGpio: OK,
    onTick: `(local $i i32) i32.const ${HOST_CALLS_PER_TICK} local.set $i
      (block $d (loop $l local.get $i i32.eqz br_if $d call $now_ms drop local.get $i i32.const 1 i32.sub local.set $i br $l))
      ${OK}`,
    // on-serial: same loop without the host call, to subtract the loop's own cost
    onSerial: `(local $i i32) i32.const ${HOST_CALLS_PER_TICK} local.set $i
      (block $d (loop $l local.get $i i32.eqz br_if $d local.get $i i32.const 1 i32.sub local.set $i br $l))
      ${OK}`,
  });
}


type Glue = { instantiate: (get: (n: string) => WebAssembly.Module, imports: unknown, core?: unknown) => Record<string, (...a: unknown[]) => unknown> };

async function glueFor(pkg: string, component: Uint8Array, dir: string): Promise<{ glue: Glue; modules: Map<string, WebAssembly.Module> }> {
  const jco = (await import(pkg)) as { transpile: (b: Uint8Array, o: object) => Promise<{ files: Record<string, Uint8Array> }> };
  const { files } = await jco.transpile(component, { name: "component", instantiation: "sync", typescript: false, nodejsCompat: false });
  const out = join(dir, pkg.replace(/[^a-z0-9]/gi, '_'));
  await mkdir(out, { recursive: true });
  const modules = new Map<string, WebAssembly.Module>();
  for (const [name, content] of Object.entries(files)) {
    if (name.endsWith(".wasm")) modules.set(name, new WebAssembly.Module(content as Uint8Array<ArrayBuffer>));
    if (name === 'component.js') await writeFile(join(out, 'component.mjs'), content);
  }
  const glue = (await import(pathToFileURL(join(out, 'component.mjs')).href)) as Glue;
  return { glue, modules };
}

async function compareJcoVersions(component: Uint8Array, dir: string) {
  const rows = [];
  for (const [label, pkg] of [
    ['jco 1.11.2 (pinned)', '@bytecodealliance/jco'],
    ['jco 1.35.0', 'jco-latest'],
  ] as const) {
    const { glue, modules } = await glueFor(pkg, component, dir);
    const host = new RecordingHost();
    const exports = glue.instantiate((n) => modules.get(n)!, new Linker().bind(host));
    const onGpio = exports.onGpio!;
    const exportNs = nsPerCall(() => onGpio(1, true, 1n), 200_000);
    const onTick = exports.onTick!;
    const onSerial = exports.onSerial!;
    const data = new Uint8Array(0);
    const loopWith = nsPerCall(() => onTick(1n), 20, 5);
    const loopWithout = nsPerCall(() => onSerial('p', data), 20, 5);
    rows.push({ glue: label, 'export call (ns)': exportNs.toFixed(0), 'guest→host call (ns)': ((loopWith - loopWithout) / HOST_CALLS_PER_TICK).toFixed(0) });
  }
  return rows;
}

const run_ = promisify(execFile);

async function loads(component: Uint8Array, dir: string) {
  const cacheDir = join(dir, 'cache');
  const t0 = performance.now();
  const cold = await new Engine({ cacheDir }).prepare(component, { memoryMb: 16 });
  const coldFirst = performance.now() - t0;
  // A second, different component: cold again, but with jco already loaded in this process.
  const other = await buildWat(benchComponentWat().replace('i32.const 10000', 'i32.const 10001'));
  const t1 = performance.now();
  await new Engine({ cacheDir }).prepare(other, { memoryMb: 16 });
  const coldWarmJco = performance.now() - t1;
  // Warm: a fresh process loads from the cache (median of 5 processes).
  const file = join(dir, 'c.wasm');
  await writeFile(file, component);
  const script = `
    const t0 = performance.now();
    const { Engine } = await import(${JSON.stringify(new URL('../runtime/engine.ts', import.meta.url).href)});
    const { jcoLoaded } = await import(${JSON.stringify(new URL('../runtime/jco.ts', import.meta.url).href)});
    const { readFileSync } = await import('node:fs');
    const bytes = readFileSync(${JSON.stringify(file)});
    const t1 = performance.now();
    const p = await new Engine({ cacheDir: ${JSON.stringify(cacheDir)} }).prepare(bytes, { memoryMb: 16 });
    const t2 = performance.now();
    console.log(JSON.stringify({ ms: t2 - t1, importMs: t1 - t0, fromCache: p.info.fromCache, jco: jcoLoaded() }));`;
  const warm: { ms: number; importMs: number; fromCache: boolean; jco: boolean }[] = [];
  for (let i = 0; i < 5; i++) {
    const { stdout } = await run_(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
    warm.push(JSON.parse(stdout.trim().split('\n').pop()!));
  }
  warm.sort((a, b) => a.ms - b.ms);
  const w = warm[2]!;
  return { cold, rows: [
    { load: 'cold, first in process (imports jco, transpile, instrument, compile, cache)', ms: coldFirst.toFixed(1) },
    { load: 'cold, jco already loaded', ms: coldWarmJco.toFixed(1) },
    { load: `warm, fresh process, from cache (jco loaded: ${w.jco}, fromCache: ${w.fromCache})`, ms: w.ms.toFixed(1) },
  ] };
}

async function instanceCalls(component: Uint8Array, dir: string) {
  const host = new RecordingHost();
  const rows = [];
  for (const [instrument, timed] of [[true, true], [true, false], [false, false]] as const) {
    const engine = new Engine({ cacheDir: join(dir, instrument ? 'cache' : 'cache-raw'), instrument });
    const inst = (await engine.prepare(component, { memoryMb: 16 })).instantiate(host, { fuel: 50_000_000, timed });
    const callNs = nsPerCall(() => inst.call('on-gpio', [1, true, 1n]), 200_000);
    const data = new Uint8Array(0);
    const withHost = nsPerCall(() => inst.call('on-tick', [1n]), 20, 5);
    const without = nsPerCall(() => inst.call('on-serial', ['p', data]), 20, 5);
    const prepared = await engine.prepare(component, { memoryMb: 16 });
    const instantiateNs = nsPerCall(() => prepared.instantiate(host, { fuel: 1_000_000 }).call('init'), 2_000, 5);
    rows.push({
      path: `ComponentInstance.call (${instrument ? 'fuel-metered' : 'unmetered'}${timed ? ', timed' : ''})`,
      'export call (ns)': callNs.toFixed(0),
      'guest→host call (ns)': ((withHost - without) / HOST_CALLS_PER_TICK).toFixed(0),
      'instantiate + init (µs)': (instantiateNs / 1000).toFixed(1),
    });
  }
  return rows;
}

export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'airssys-bench-runtime-'));
  const component = await buildWat(benchComponentWat());
  console.log(`\n## Runtime (component ${component.length} bytes)\n`);
  const { rows: loadRows } = await loads(component, dir);
  console.table(loadRows);
  console.table(await compareJcoVersions(component, dir));
  console.table(await instanceCalls(component, dir));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
