/**
 * Bytes the gateway process writes to disk per telemetry sample (issue 16 item 1: SD-card wear).
 *
 * Runs `npm start`'s config (config/gateway.yaml: the three example components on the simulated
 * board) as a real process, compiled (`npm run build` → dist/, AIRSSYS_USE_DIST=1,
 * `node --max-semi-space-size=1` as on a Pi), with its data dir on the real disk (ext4 here; tmpfs
 * would not count), and reads `write_bytes` of /proc/PID/io over a 60 s window (everything the
 * process writes: the outbox, the audit log, the component cache, anything else).
 *
 * 1. Broker up: the default embedded broker plus a QoS 1 subscriber; reports bytes per published sample.
 *    Target ≤ 100 bytes/sample.
 * 2. Broker down: an external Mosquitto (test/helpers/mosquitto.ts) stopped for the window; reports
 *    bytes written vs bytes stored in the outbox during the window. Target ≤ 2x.
 *
 * Run: `npm run bench -- disk-writes` (BENCH_WINDOW_MS shortens the window). Results: docs/telemetry.md.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { defaultConfig } from './default-config.js';
import { freePort, Mosquitto } from '../test/helpers/mosquitto.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 60_000);
const SETTLE_MS = 8000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function writeBytes(pid: number): Promise<number> {
  const io = await readFile(`/proc/${pid}/io`, 'utf8');
  return Number(/^write_bytes:\s+(\d+)/m.exec(io)?.[1] ?? NaN);
}

async function baseConfig(dataDir: string, mqttSection: Record<string, unknown>): Promise<string> {
  const config = await defaultConfig(root);
  config.gateway['data-dir'] = dataDir;
  config.mqtt = { ...config.mqtt, ...mqttSection };
  await mkdir(dataDir, { recursive: true });
  const file = join(dirname(dataDir), `gateway-${Math.random().toString(16).slice(2)}.yaml`);
  await writeFile(file, stringify(config));
  return file;
}

function startGateway(config: string): { child: ChildProcess; output: () => string } {
  // What the Pi service runs: compiled JavaScript with a small young generation.
  const child = spawn(process.execPath, ['--max-semi-space-size=1', join(root, 'bin', 'airssys.mjs'), 'start', '--config', config], {
    cwd: root,
    env: { ...process.env, AIRSSYS_USE_DIST: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out = (out + d).slice(-20_000)));
  child.stderr!.on('data', (d) => (out = (out + d).slice(-20_000)));
  return { child, output: () => out };
}

async function stop(child: ChildProcess, sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(sig);
  await exited;
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function brokerUp(dir: string) {
  const port = await freePort();
  const config = await baseConfig(join(dir, 'up', 'var'), { url: 'embedded', 'embedded-host': '127.0.0.1', 'embedded-port': port });
  const gw = startGateway(config);
  try {
    await until(() => gw.output().includes('running') || gw.child.exitCode !== null, 60_000, 'the gateway to start');
    if (gw.child.exitCode !== null) throw new Error(`gateway exited: ${gw.output()}`);
    const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'bench-disk-sub' });
    let received = 0;
    sub.on('message', (topic) => topic.includes('/telemetry/') && received++);
    await sub.subscribeAsync('airssys/gw/+/telemetry/#', { qos: 1 });
    await sleep(SETTLE_MS);
    const w0 = await writeBytes(gw.child.pid!);
    const n0 = received;
    await sleep(WINDOW_MS);
    const w1 = await writeBytes(gw.child.pid!);
    const n1 = received;
    await sub.endAsync();
    const samples = n1 - n0;
    return { 'broker': 'up (embedded + subscriber)', 'window (s)': WINDOW_MS / 1000, 'samples published': samples, 'samples/s': (samples / (WINDOW_MS / 1000)).toFixed(1), 'bytes written': w1 - w0, 'bytes/sample': ((w1 - w0) / Math.max(1, samples)).toFixed(1) };
  } finally {
    await stop(gw.child);
  }
}

async function brokerDown(dir: string) {
  const broker = new Mosquitto();
  await broker.start();
  const dataDir = join(dir, 'down', 'var');
  const config = await baseConfig(dataDir, { url: broker.url });
  const gw = startGateway(config);
  try {
    await until(() => gw.output().includes('running') || gw.child.exitCode !== null, 60_000, 'the gateway to start');
    if (gw.child.exitCode !== null) throw new Error(`gateway exited: ${gw.output()}`);
    await sleep(SETTLE_MS / 2);
    await broker.stop();
    await sleep(SETTLE_MS / 2); // the disconnect noticed, the first commits made
    const t0 = Date.now();
    const w0 = await writeBytes(gw.child.pid!);
    await sleep(WINDOW_MS);
    const w1 = await writeBytes(gw.child.pid!);
    const t1 = Date.now();
    // Backlog commits hold up to 30 s of samples in memory: a clean stop stores them, then count.
    await stop(gw.child);
    const db = new Database(join(dataDir, 'telemetry.db'), { readonly: true, fileMustExist: true });
    const s = db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b, COALESCE(SUM(length(payload)), 0) AS p FROM samples WHERE at >= ? AND at < ?').get(t0, t1) as { n: number; b: number; p: number };
    db.close();
    return {
      'broker': 'down (Mosquitto stopped)',
      'window (s)': WINDOW_MS / 1000,
      'samples stored': s.n,
      'bytes stored (outbox accounting)': s.b,
      'of which payload': s.p,
      'bytes written': w1 - w0,
      'written/stored': ((w1 - w0) / Math.max(1, s.b)).toFixed(2),
    };
  } finally {
    await stop(gw.child);
    await broker.dispose();
  }
}

export async function run(): Promise<void> {
  const built = spawnSync(process.execPath, [join(root, 'scripts', 'build-examples.mjs')], { stdio: 'inherit' });
  if (built.status !== 0) throw new Error('could not build the examples');
  const b = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  if (b.status !== 0) throw new Error('npm run build failed');
  // Not tmpfs: /proc/PID/io write_bytes counts only writes headed for a block device.
  const dir = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'airssys-bench-disk-'));
  try {
    // A warm component cache for both runs (the first start transpiles: not what is measured).
    const warm = startGateway(await baseConfig(join(dir, 'warm', 'var'), { url: 'embedded', 'embedded-host': '127.0.0.1', 'embedded-port': await freePort() }));
    await until(() => warm.output().includes('running') || warm.child.exitCode !== null, 120_000, 'the warm-up gateway');
    await stop(warm.child);
    for (const d of ['up', 'down']) await cp(join(dir, 'warm', 'var', 'cache'), join(dir, d, 'var', 'cache'), { recursive: true });
    const rows: Array<Record<string, unknown>> = [await brokerUp(dir)];
    rows.push(await brokerDown(dir));
    console.table(rows);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
