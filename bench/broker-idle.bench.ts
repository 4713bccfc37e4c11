/**
 * The embedded broker on the LAN against a peer that opens TCP connections and never sends CONNECT
 * (issue "Hardening", slowloris). The default config (config/gateway.yaml: three example components
 * on the simulated board) with `mqtt.embedded-host: 0.0.0.0` and an account, as a real process from
 * source. From this machine's own non-loopback IPv4 address (so the gateway sees a LAN peer, not
 * 127.0.0.1), the bench:
 *   1. opens BROKER_BENCH_CONNECTIONS (default 15,000) idle connections as fast as it can and holds
 *      them for BROKER_BENCH_HOLD_S (default 12) s: peak RSS growth of the gateway, how many the
 *      gateway closed, telemetry rate meanwhile;
 *   2. tops up to that many again and reopens every connection the gateway closes, for
 *      BROKER_BENCH_CHURN_S (default 10) s (an attacker that keeps dialling): connections per second,
 *      RSS, telemetry rate.
 * RSS is VmRSS from /proc/PID/status. Telemetry is counted by a client with the account over
 * loopback. Numbers are printed; results are in docs/hardening.md ("Embedded broker").
 * Run: `npm run bench -- broker-idle`. Needs `ulimit -n` above the connection count (the bench
 * process holds one descriptor per connection, and so does the gateway before the limits).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { stringify } from 'yaml';
import { defaultConfig } from './default-config.js';
import { freePort, sleep, until } from '../test/helpers/mosquitto.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const num = (name: string, dflt: number) => {
  const v = process.env[name];
  return v === undefined || v === '' ? dflt : Number(v);
};

async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

export async function run(): Promise<void> {
  const N = num('BROKER_BENCH_CONNECTIONS', 15_000);
  const holdS = num('BROKER_BENCH_HOLD_S', 12);
  const churnS = num('BROKER_BENCH_CHURN_S', 10);
  const lan = Object.values(networkInterfaces()).flat().find((i) => i && !i.internal && i.family === 'IPv4')?.address;
  if (!lan) {
    console.log('skipped: this machine has no non-loopback IPv4 address to dial from');
    return;
  }
  const built = spawnSync(process.execPath, [join(root, 'scripts', 'build-examples.mjs')], { stdio: 'inherit' });
  if (built.status !== 0) throw new Error('could not build the examples');

  const dir = await mkdtemp(join(tmpdir(), 'airssys-bench-broker-'));
  const port = await freePort();
  const config = await defaultConfig(root);
  config.gateway['data-dir'] = join(dir, 'var');
  Object.assign(config.mqtt, { 'embedded-port': port, 'embedded-host': '0.0.0.0', username: 'fleet', password: 'bench-secret' });
  config.log = { level: 'warn' };
  config.telemetry = { ...config.telemetry, 'health-interval-ms': 1000 };
  const configFile = join(dir, 'gateway.yaml');
  await writeFile(configFile, stringify(config));
  const id = config.gateway.id as string;

  const child = spawn(process.execPath, [join(root, 'bin', 'airssys.mjs'), 'start', '--config', configFile], { cwd: root, env: { ...process.env, AIRSSYS_FROM_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const pid = child.pid!;
  const sockets = new Set<Socket>();
  let sub: mqtt.MqttClient | undefined;
  try {
    await until(() => out.includes(`${id} running`) || child.exitCode !== null, 120_000, 'the gateway to start');
    if (child.exitCode !== null) throw new Error(`the gateway exited: ${out}`);
    let telemetry = 0;
    sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: 'fleet', password: 'bench-secret', protocolVersion: 4 });
    sub.on('message', () => telemetry++);
    await sub.subscribeAsync(`airssys/gw/${id}/telemetry/#`);
    await sleep(10_000); // warm-up: components built, first samples out
    const rate = async (ms: number) => {
      const t0 = telemetry;
      await sleep(ms);
      return Math.round(((telemetry - t0) * 1000) / ms);
    };
    const base = await rssKb(pid);
    const baseRate = await rate(3000);

    // 1. A burst of idle connections, held.
    let closedByGateway = 0;
    let failed = 0;
    let opened = 0;
    let churn = false;
    const open = () => {
      const s = connect({ host: lan, port });
      sockets.add(s);
      let connected = false;
      s.on('connect', () => {
        connected = true;
        opened++;
      });
      s.on('error', () => failed++);
      s.on('close', () => {
        sockets.delete(s);
        if (connected) closedByGateway++;
        // A connect error (ephemeral ports in TIME_WAIT) is not redialled: that would only spin the bench.
        if (churn && connected) setImmediate(open);
      });
    };
    let peak = base;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await rssKb(pid).catch(() => 0));
        await sleep(250);
      }
    })();
    const t0 = Date.now();
    for (let i = 0; i < N; i++) {
      open();
      if (i % 500 === 499) await sleep(10); // lets the kernel's accept queue drain
    }
    const openMs = Date.now() - t0;
    const burstRate = await rate(holdS * 1000);
    const stillOpen = sockets.size;
    const afterBurst = await rssKb(pid);
    const peakBurst = peak;
    const closedBurst = closedByGateway;

    // 2. Churn: every closed connection is dialled again at once.
    churn = true;
    const opened0 = opened;
    const failed0 = failed;
    for (let i = sockets.size; i < N; i++) {
      open();
      if (i % 500 === 499) await sleep(10);
    }
    const churnRate = await rate(churnS * 1000);
    const attempts = Math.round((opened - opened0) / churnS);
    const churnFailed = failed - failed0;
    churn = false;
    const afterChurn = await rssKb(pid);
    const closedAll = closedByGateway;
    sampling = false;
    await sampler;
    const peakAll = peak;
    for (const s of sockets) s.destroy();
    sockets.clear();
    await sleep(2000);
    const h = await healthOf(sub, id);

    const mb = (kb: number) => (kb / 1024).toFixed(1);
    console.table([
      { phase: 'before', 'RSS MB': mb(base), 'peak RSS MB': mb(base), 'telemetry/s': baseRate, 'held open': 0, 'closed by gateway': 0 },
      { phase: `${N} idle (opened in ${openMs} ms), held ${holdS} s`, 'RSS MB': mb(afterBurst), 'peak RSS MB': mb(peakBurst), 'telemetry/s': burstRate, 'held open': stillOpen, 'closed by gateway': closedBurst },
      { phase: `top up to ${N}, reopen on close, ${churnS} s (${attempts} connects/s, ${churnFailed} failed)`, 'RSS MB': mb(afterChurn), 'peak RSS MB': mb(peakAll), 'telemetry/s': churnRate, 'held open': '', 'closed by gateway': closedAll },
    ]);
    console.log(`peak RSS growth: +${mb(peakAll - base)} MB; connect errors: ${failed}; gateway alive: ${child.exitCode === null}; health.refused: ${JSON.stringify(h?.refused ?? null)}`);
  } finally {
    for (const s of sockets) s.destroy();
    await sub?.endAsync(true).catch(() => undefined);
    if (child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([gone, sleep(15_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  }
}

/** The retained health message, read on the bench's existing connection. */
async function healthOf(client: mqtt.MqttClient, id: string): Promise<Record<string, any> | undefined> {
  const topic = `airssys/gw/${id}/health`;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 5000);
    client.on('message', (t, payload) => {
      if (t !== topic) return;
      clearTimeout(timer);
      resolve(JSON.parse(payload.toString()) as Record<string, any>);
    });
    void client.subscribeAsync(topic);
  });
}
