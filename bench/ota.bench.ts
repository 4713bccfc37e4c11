/**
 * OTA benchmark (issue 7): time from a release envelope's arrival to the new version serving (its
 * first telemetry sample), for a small WAT component, on the real gateway process
 * (`airssys start`, from source) against a real Mosquitto:
 *
 * - cold: a fresh data dir, first OTA after start; the running version came from the warm cache,
 *   so jco (the transpiler) is not loaded yet when the envelope arrives;
 * - warm: the following OTAs in the same process (jco loaded; each new version is still a cache
 *   miss: transpile, instrument, compile);
 * - gap: the largest interval between two telemetry samples around the swap, against the tick.
 *
 * Run: `npm run bench -- ota` or `node --import tsx bench/ota.bench.ts`. Results in docs/ota.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import mqtt from 'mqtt';
import { stringify as toYaml } from 'yaml';
import { Engine } from '../runtime/engine.js';
import { readPrivateKeyFile } from '../gateway/ota/keys.js';
import { buildRelease } from '../gateway/ota/release.js';
import { Mosquitto } from '../test/helpers/mosquitto.js';
import { buildMeter, gatewayConfig, GatewayWatch, meterManifest, publishRaw, TICK_MS, until, writeKeys, writeRelease, type Sample } from '../test/ota-e2e/helpers.js';

const RUNS = 3;
const WARM_PER_RUN = 3;
const root = fileURLToPath(new URL('..', import.meta.url));

interface Measure {
  kind: 'cold' | 'warm';
  /** Envelope published (bench clock) → first sample from the new version (gateway clock, same machine). */
  publishToServing: number;
  /** `received` status → first sample from the new version (both gateway clock). */
  receivedToServing: number;
  download: number;
  validate: number;
  activate: number;
  /** Largest interval between consecutive samples from 1 s before the envelope to 1 s after the switch. */
  maxGap: number;
  sizeBytes: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};

function maxInterval(samples: Sample[], from: number, to: number): number {
  const w = samples.filter((s) => s.ts >= from && s.ts <= to);
  let max = 0;
  for (let i = 1; i < w.length; i++) max = Math.max(max, w[i]!.ts - w[i - 1]!.ts);
  return max;
}

async function oneRun(broker: Mosquitto, dir: string, run: number, keys: { key: string; pub: string }, warmCache: string, v100: { wasm: string; yaml: string }): Promise<Measure[]> {
  const prefix = `bench-${run}`;
  const dataDir = join(dir, `run-${run}`, 'var');
  await mkdir(dataDir, { recursive: true });
  await cp(warmCache, join(dataDir, 'cache'), { recursive: true });
  const config = join(dir, `run-${run}`, 'gateway.yaml');
  await writeFile(config, toYaml(gatewayConfig({ url: broker.url, dataDir, pub: keys.pub, prefix, probationMs: 300, components: [{ source: v100.wasm, manifest: v100.yaml }] })));
  const watch = await GatewayWatch.start(broker.url, prefix);
  const operator = await mqtt.connectAsync(broker.url);
  const child: ChildProcess = spawn(process.execPath, [join(root, 'bin/airssys.mjs'), 'start', '--config', config], {
    env: { ...process.env, AIRSSYS_FROM_SOURCE: '1', AIRSSYS_OTA_PAUSE_AT: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const out: Measure[] = [];
  try {
    await until(() => watch.samples.length >= 25, 30_000, `telemetry from the gateway (${err})`);
    for (let i = 0; i <= WARM_PER_RUN; i++) {
      // Distinct bytes per release, and each run has a fresh cache: every release is a cache miss.
      const marker = 2 + i;
      const version = `1.${1 + i}.0`;
      const bytes = await buildMeter({ marker });
      const env = buildRelease({ bytes, manifest: meterManifest(version), keys: [readPrivateKeyFile(keys.key)], chunkSize: 4096 });
      const since = watch.statuses.length;
      const fromSample = watch.samples.length;
      await sleep(200);
      const t0 = Date.now();
      const sha = await publishRaw(operator, { envelope: JSON.stringify(env), bytes, sha256: env.manifest.sha256, chunkSize: 4096, prefix });
      const final = await watch.final(sha, since, 30_000);
      if (final.phase !== 'committed') throw new Error(`${version}: ${final.phase} ${final.reason} ${final.detail}`);
      await until(() => watch.samples.slice(fromSample).some((s) => s.value === marker), 10_000, 'a sample from the new version');
      await sleep(1000);
      const st = (phase: string) => watch.statuses.slice(since).find((s) => s.envelope === sha && s.phase === phase) as unknown as { ts: number };
      const first = watch.samples.slice(fromSample).find((s) => s.value === marker)!;
      out.push({
        kind: i === 0 ? 'cold' : 'warm',
        publishToServing: first.ts - t0,
        receivedToServing: first.ts - st('received').ts,
        download: st('verifying').ts - st('received').ts,
        validate: st('staged').ts - st('verifying').ts,
        activate: st('probation').ts - st('activating').ts,
        maxGap: maxInterval(watch.samples, t0 - 1000, first.ts + 1000),
        sizeBytes: bytes.length,
      });
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
    await operator.endAsync();
    await watch.stop();
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'airssys-bench-ota-'));
  const broker = await new Mosquitto().start();
  try {
    const keys = await writeKeys(dir, 'ota');
    const b100 = await buildMeter({ marker: 1 });
    const v100 = await writeRelease(dir, 'v100', b100, meterManifest('1.0.0'));
    // The running version comes from the cache, so the gateway starts without loading jco.
    const warmCache = join(dir, 'warm-cache');
    await new Engine({ cacheDir: warmCache }).prepare(b100, { memoryMb: 16 });

    const all: Measure[] = [];
    for (let r = 0; r < RUNS; r++) all.push(...(await oneRun(broker, dir, r, keys, warmCache, v100)));
    console.log(`\n## OTA: envelope → new version serving (${RUNS} gateway processes, 1 cold + ${WARM_PER_RUN} warm OTAs each; tick ${TICK_MS} ms; component ${all[0]!.sizeBytes} bytes)\n`);
    const row = (kind: 'cold' | 'warm') => {
      const ms = all.filter((m) => m.kind === kind);
      const f = (k: keyof Measure) => `${median(ms.map((m) => m[k] as number)).toFixed(0)} (max ${Math.max(...ms.map((m) => m[k] as number)).toFixed(0)})`;
      return {
        ota: `${kind} (n=${ms.length})`,
        'publish → serving ms': f('publishToServing'),
        'received → serving ms': f('receivedToServing'),
        'download ms': f('download'),
        'verify+prepare ms': f('validate'),
        'init+swap ms': f('activate'),
        'max sample gap ms': f('maxGap'),
      };
    };
    console.table([row('cold'), row('warm')]);
    console.log(`targets: cold < 1000 ms, warm < 200 ms, max sample gap ≈ tick (${TICK_MS} ms); values are median (max)`);
  } finally {
    await broker.dispose();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
