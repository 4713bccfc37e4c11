/**
 * The gateway as a user runs it (issue "Raspberry Pi reality", items 2, 4, 6): `npm start`'s config
 * (config/gateway.yaml: the three example components on the simulated board, embedded broker),
 * compiled (`npm run build`, AIRSSYS_USE_DIST=1), started with the Node flags and environment of
 * the Pi service unit (config/templates/airssys-gateway.service, read from the file so the two
 * never drift), as one real process. RSS is what `ps` shows: VmRSS from /proc/PID/status; peak is
 * VmHWM.
 *
 * Runs, each a fresh process on a temp copy of the config (own data dir, a free port for the
 * embedded broker):
 * 1. cold cache: the very first start (the build worker transpiles the three components);
 * 2. warm: the default config for GATEWAY_BENCH_MINUTES: start → first telemetry
 *    message on the broker, steady RSS (median of the samples in the last half), peak (VmHWM),
 *    CPU (user + system over wall time);
 * 3. cold OTA: the same config with a trusted key; halfway through, a new signed version of
 *    pulse-counter is pushed (different bytes, so a cache miss: jco transpiles in the build
 *    process); the gateway's peak RSS, its RSS after the build process has gone, and the build
 *    process's own peak (a separate process: not the gateway's memory, but the Pi's);
 * 4. start time: GATEWAY_BENCH_STARTS (default 5) more warm starts, each stopped at its first
 *    telemetry message: median, min and max of spawn → first telemetry.
 *
 * The gateway's RSS is read for its own PID only (the process `airssys start` is, no wrapper); a
 * `ps -o rss=` at the end of each run is printed beside VmRSS to show they are the same number.
 *
 * Run: `npm run bench -- gateway`. GATEWAY_BENCH_MINUTES (default 2) sets the length of runs 2 and
 * 3; the recorded figures are from a 10-minute run (GATEWAY_BENCH_MINUTES=10). GATEWAY_BENCH_RUNS
 * picks runs by name (warm,ota,starts; default all); run 1 always runs, the others start from its cache.
 * Results: docs/memory.md, docs/raspberry-pi.md.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, writeFile, cp } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { parse, stringify } from 'yaml';
import { defaultConfig } from './default-config.js';
import { readPrivateKeyFile } from '../gateway/ota/keys.js';
import { buildRelease } from '../gateway/ota/release.js';
import { FINAL_PHASES } from '../gateway/ota/reasons.js';
import { publishRaw, writeKeys } from '../test/ota-e2e/helpers.js';
import { freePort } from '../test/helpers/mosquitto.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MINUTES = Number(process.env.GATEWAY_BENCH_MINUTES || 2);
const STARTS = Number(process.env.GATEWAY_BENCH_STARTS || 5);
const RUNS = new Set((process.env.GATEWAY_BENCH_RUNS || 'cold,warm,ota,starts').split(',').map((r) => r.trim()));
const CLK_TCK = 100; // Linux USER_HZ: /proc/PID/stat times are in these ticks
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (kb: number) => Math.round(kb / 102.4) / 10;

/** The service unit's Node flags and Environment= lines: the bench runs what the Pi runs. */
export async function serviceUnitLaunch(): Promise<{ nodeFlags: string[]; env: Record<string, string> }> {
  const unit = await readFile(join(root, 'config', 'templates', 'airssys-gateway.service'), 'utf8');
  const exec = /^ExecStart=@NODE@ (.*?)@PREFIX@\/bin\/airssys\.mjs/m.exec(unit);
  if (!exec) throw new Error('cannot find ExecStart=@NODE@ ... @PREFIX@/bin/airssys.mjs in the service unit');
  const env: Record<string, string> = {};
  for (const m of unit.matchAll(/^Environment=(\w+)=(.*)$/gm)) env[m[1]!] = m[2]!;
  return { nodeFlags: exec[1]!.trim().split(/\s+/).filter(Boolean), env };
}

async function procStatus(pid: number): Promise<{ rssKb: number; hwmKb: number }> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  return { rssKb: Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0), hwmKb: Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? 0) };
}

/** VmRSS of the process's children (the build process while it runs), summed. */
async function childrenRssKb(pid: number): Promise<number> {
  let pids: string[] = [];
  try {
    for (const task of await readdir(`/proc/${pid}/task`)) pids.push(...(await readFile(`/proc/${pid}/task/${task}/children`, 'utf8')).split(' ').filter(Boolean));
  } catch {
    return 0;
  }
  let kb = 0;
  for (const c of new Set(pids)) kb += await procStatus(Number(c)).then((s) => s.rssKb, () => 0);
  return kb;
}

/** What `ps` prints for the process (kB), to show that VmRSS is that number. */
function psRssKb(pid: number): number {
  return Number(spawnSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).stdout.trim());
}

async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14 and 15 of the whole line)
}

interface Setup {
  dir: string;
  file: string;
  port: number;
}

async function writeConfig(base: string, name: string, opts: { trustedKey?: string; cacheFrom?: string } = {}): Promise<Setup> {
  const dir = join(base, name);
  await mkdir(join(dir, 'var'), { recursive: true });
  if (opts.cacheFrom) await cp(join(opts.cacheFrom, 'var', 'cache'), join(dir, 'var', 'cache'), { recursive: true });
  const config = await defaultConfig(root);
  const port = await freePort();
  config.gateway['data-dir'] = join(dir, 'var');
  config.mqtt['embedded-port'] = port;
  config.log = { level: 'warn' };
  if (opts.trustedKey) config.ota['trusted-keys'] = [opts.trustedKey];
  const file = join(dir, 'gateway.yaml');
  await writeFile(file, stringify(config));
  return { dir, file, port };
}

/** One gateway process plus an MQTT client on its embedded broker (connecting as soon as it listens). */
class Run {
  readonly child: ChildProcess;
  readonly spawnedAt = performance.now();
  firstTelemetryMs: number | undefined;
  /** CPU time (user + system) the process had used when the first telemetry arrived: start-up cost that a loaded machine does not inflate the way it inflates wall time. */
  startCpuMs = 0;
  readonly samples: Array<{ t: number; rssKb: number; childKb: number }> = [];
  readonly statuses: Array<Record<string, unknown>> = [];
  private client: MqttClient;
  private err = '';
  private cpu0 = 0;

  constructor(setup: Setup, launch: { nodeFlags: string[]; env: Record<string, string> }) {
    this.child = spawn(process.execPath, [...launch.nodeFlags, join(root, 'bin', 'airssys.mjs'), 'start', '--config', setup.file], {
      cwd: setup.dir,
      env: { ...process.env, ...launch.env, AIRSSYS_USE_DIST: '1', AIRSSYS_FROM_SOURCE: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child.stderr!.on('data', (d) => (this.err += d));
    this.client = mqtt.connect(`mqtt://127.0.0.1:${setup.port}`, { reconnectPeriod: 10, connectTimeout: 2000, clientId: `bench-${process.pid}` });
    this.client.on('error', () => {});
    this.client.on('connect', () => void this.client.subscribe(['airssys/gw/gw-1/telemetry/#', 'airssys/gw/gw-1/ota/+/status'], { qos: 0 }));
    this.client.on('message', (topic, payload) => {
      if (topic.includes('/telemetry/')) this.firstTelemetryMs ??= performance.now() - this.spawnedAt;
      else if (payload.length) this.statuses.push(JSON.parse(payload.toString()) as Record<string, unknown>);
    });
  }

  get publisher(): MqttClient {
    return this.client;
  }

  async sampleFor(ms: number, every = 1000): Promise<void> {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      await sleep(every);
      if (this.child.exitCode !== null) throw new Error(`the gateway exited (${this.child.exitCode}): ${this.err.trim().split('\n').at(-1)}`);
      this.samples.push({ t: performance.now() - this.spawnedAt, rssKb: (await procStatus(this.child.pid!)).rssKb, childKb: await childrenRssKb(this.child.pid!) });
    }
  }

  async untilTelemetry(timeoutMs = 60_000): Promise<number> {
    const end = performance.now() + timeoutMs;
    while (this.firstTelemetryMs === undefined) {
      if (performance.now() > end || this.child.exitCode !== null) throw new Error(`no telemetry from the gateway: ${this.err.trim().split('\n').at(-1)}`);
      await sleep(5);
    }
    this.cpu0 = await cpuTicks(this.child.pid!);
    this.startCpuMs = (this.cpu0 * 1000) / CLK_TCK;
    return this.firstTelemetryMs;
  }

  /** CPU % of one core since the first telemetry (start-up excluded). */
  async cpuPercent(): Promise<number> {
    const ticks = (await cpuTicks(this.child.pid!)) - this.cpu0;
    const wallS = (performance.now() - this.spawnedAt - (this.firstTelemetryMs ?? 0)) / 1000;
    return Math.round((ticks / CLK_TCK / wallS) * 1000) / 10;
  }

  async stop(): Promise<{ hwmKb: number; rssKb: number; psKb: number }> {
    const psKb = psRssKb(this.child.pid!);
    const { hwmKb, rssKb } = await procStatus(this.child.pid!);
    this.child.kill('SIGTERM');
    await new Promise((r) => (this.child.exitCode !== null ? r(undefined) : this.child.once('exit', r)));
    await this.client.endAsync(true);
    return { hwmKb, rssKb, psKb };
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const steadyKb = (samples: Array<{ t: number; rssKb: number; childKb: number }>, fromT: number, toT = Infinity) => median(samples.filter((s) => s.t >= fromT && s.t <= toT).map((s) => s.rssKb));

/** A new version of pulse-counter with different bytes (a custom section appended): a cache miss. */
async function pulseCounterRelease(keyFile: string, version: string) {
  const bytes = new Uint8Array(await readFile(join(root, 'var', 'build', 'pulse-counter.wasm')));
  const name = Buffer.from('airssys-bench');
  const payload = Buffer.from(version);
  const section = Buffer.concat([Buffer.from([0, name.length + 1 + payload.length, name.length]), name, payload]);
  const changed = new Uint8Array(Buffer.concat([bytes, section]));
  const manifest = parse(await readFile(join(root, 'examples', 'pulse-counter', 'pulse-counter.yaml'), 'utf8')) as Record<string, unknown>;
  manifest.version = version;
  return { bytes: changed, envelope: buildRelease({ bytes: changed, manifest, keys: [readPrivateKeyFile(keyFile)], chunkSize: 16384 }) };
}

export async function run(): Promise<void> {
  for (const [what, args] of [['examples', ['scripts/build-examples.mjs']], ['dist', ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json']], ['assets', ['scripts/copy-assets.mjs']]] as const) {
    const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`could not build the ${what}`);
  }
  const launch = await serviceUnitLaunch();
  const base = await mkdtemp(join(tmpdir(), 'airssys-bench-gw-'));
  const durationMs = MINUTES * 60_000;
  const rows: Record<string, unknown>[] = [];
  // Each row is printed as soon as its run ends: a 20-minute benchmark that fails late keeps its numbers.
  const log = (row: Record<string, unknown>) => {
    rows.push(row);
    console.log(JSON.stringify(row));
  };

  const psNote = (x: { rssKb: number; psKb: number }) => `VmRSS ${mb(x.rssKb)} / ps ${mb(x.psKb)} MB`;

  // 1. Cold cache: the first `npm start` on a machine. Its cache is what the other runs start from.
  const cold = await writeConfig(base, 'cold');
  {
    const r = new Run(cold, launch);
    const first = await r.untilTelemetry(180_000);
    await r.sampleFor(5_000);
    const end = await r.stop();
    const buildKb = Math.max(0, ...r.samples.map((s) => s.childKb));
    log({ run: `first start, cold cache (3 builds in the build process, its RSS ≥ ${mb(buildKb)} MB sampled after the first telemetry; at stop ${psNote(end)})`, 'start → first telemetry ms': `${Math.round(first)} (CPU ${r.startCpuMs})`, 'steady RSS MB': '', 'peak RSS MB': mb(end.hwmKb), 'CPU %': '' });
  }

  // 2. Warm cache, the default config, for the whole duration.
  if (RUNS.has('warm')) {
    const setup = await writeConfig(base, 'warm', { cacheFrom: cold.dir });
    const r = new Run(setup, launch);
    const first = await r.untilTelemetry();
    await r.sampleFor(durationMs - (performance.now() - r.spawnedAt));
    const cpu = await r.cpuPercent();
    const end = await r.stop();
    log({ run: `default config, warm, ${MINUTES} min (at stop ${psNote(end)})`, 'start → first telemetry ms': `${Math.round(first)} (CPU ${r.startCpuMs})`, 'steady RSS MB': mb(steadyKb(r.samples, durationMs / 2)), 'peak RSS MB': mb(end.hwmKb), 'CPU %': cpu });
  }

  // 3. The same with a trusted key, and a cold OTA halfway.
  if (RUNS.has('ota')) {
    const keys = await writeKeys(base, 'ota');
    const setup = await writeConfig(base, 'ota', { trustedKey: keys.pub, cacheFrom: cold.dir });
    const r = new Run(setup, launch);
    const first = await r.untilTelemetry();
    await r.sampleFor(durationMs / 2 - (performance.now() - r.spawnedAt));
    const beforeOtaKb = steadyKb(r.samples, durationMs / 4);
    const release = await pulseCounterRelease(keys.key, '1.0.1');
    const t0 = performance.now();
    const pushAt = t0 - r.spawnedAt;
    await publishRaw(r.publisher, { envelope: JSON.stringify(release.envelope), bytes: release.bytes, sha256: release.envelope.manifest.sha256, chunkSize: 16384, topic: 'airssys/gw/gw-1/ota/pulse-counter' });
    const isFinal = (s: Record<string, unknown>) => s.version === '1.0.1' && FINAL_PHASES.includes(s.phase as never);
    while (!r.statuses.some(isFinal)) {
      if (performance.now() - t0 > 120_000) throw new Error(`no final OTA status; saw ${JSON.stringify(r.statuses.slice(-3))}`);
      await r.sampleFor(100, 100);
    }
    const final = r.statuses.find(isFinal)!;
    const otaMs = performance.now() - t0;
    const otaAt = performance.now() - r.spawnedAt;
    await r.sampleFor(Math.max(90_000, durationMs - (performance.now() - r.spawnedAt)));
    const end = await r.stop();
    const bootBuildKb = Math.max(0, ...r.samples.filter((s) => s.t < pushAt).map((s) => s.childKb));
    log({ run: `trusted key (build process warmed at boot, its RSS ${mb(bootBuildKb)} MB), ${MINUTES} min`, 'start → first telemetry ms': `${Math.round(first)} (CPU ${r.startCpuMs})`, 'steady RSS MB': mb(beforeOtaKb), 'peak RSS MB': mb(Math.max(...r.samples.filter((s) => s.t < pushAt).map((s) => s.rssKb))), 'CPU %': '' });
    const after = r.samples.filter((s) => s.t >= pushAt);
    const otaPeakKb = Math.max(...after.map((s) => s.rssKb));
    const buildKb = Math.max(0, ...after.map((s) => s.childKb));
    log({ run: `  OTA at ${MINUTES / 2} min (the build process ${MINUTES / 2 > 1.2 ? 'had idled out: started for it' : 'still warm from boot'}; ${final.phase as string} in ${Math.round(otaMs)} ms; gateway's sampled peak from the push on ${mb(otaPeakKb)} MB; build process's sampled peak ${mb(buildKb)} MB; at stop ${psNote(end)}); steady = after the build process left`, 'start → first telemetry ms': '', 'steady RSS MB': mb(steadyKb(r.samples, otaAt + 75_000)), 'peak RSS MB': mb(end.hwmKb), 'CPU %': '' });
  }

  // 4. Start time, warm and compiled: several starts, since one is at the mercy of the machine's load.
  if (RUNS.has('starts')) {
    const setup = await writeConfig(base, 'starts', { cacheFrom: cold.dir });
    const walls: number[] = [];
    const cpus: number[] = [];
    for (let i = 0; i < STARTS; i++) {
      const r = new Run(setup, launch);
      walls.push(await r.untilTelemetry());
      cpus.push(r.startCpuMs);
      await r.stop();
    }
    const range = (xs: number[]) => `${Math.round(median(xs))} (${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))})`;
    log({ run: `start → first telemetry, warm, compiled, ${STARTS} starts: median (min–max); load ${loadavg()[0]!.toFixed(1)}`, 'start → first telemetry ms': `${range(walls)} (CPU ${range(cpus)})`, 'steady RSS MB': '', 'peak RSS MB': '', 'CPU %': '' });
  }

  console.log(`gateway process, config/gateway.yaml (3 example components, sim board, embedded broker), compiled, node ${launch.nodeFlags.join(' ')} ${Object.entries(launch.env).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  console.log(`load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} cores; start → first telemetry is wall time (the process's CPU time in parentheses)`);
  console.log('targets: steady ≤ 75 MB, peak with a cold OTA ≤ 120 MB, start → first telemetry (warm, compiled) ≤ 1000 ms');
  console.table(rows);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await run();
