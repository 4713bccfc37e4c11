import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { supervisor } from '../../runtime/supervision/builder.js';
import { brokerVerdict, supervisorProbe, Watchdog } from '../../gateway/service/watchdog.js';
import { notifierFromEnv } from '../../gateway/service/notify.js';
import { BIN } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';
import { buildMeter, CHANNEL, COMPONENT, meterManifest, writeRelease } from '../ota-e2e/helpers.js';

/**
 * The systemd notify protocol and the liveness-checked watchdog, against a unix datagram socket the
 * test binds and hands to the real gateway process as NOTIFY_SOCKET (as systemd does).
 */

interface UnixSocket {
  fd: number;
  on(ev: 'message', cb: (buf: Buffer) => void): void;
  on(ev: 'error', cb: (err: Error) => void): void;
  bind(path: string): void;
  close(): void;
}
const unix = createRequire(import.meta.url)('unix-dgram') as { createSocket(t: 'unix_dgram'): UnixSocket };

/** What systemd's end of NOTIFY_SOCKET would see: every datagram, parsed, with its arrival time. */
class NotifyListener {
  readonly messages: Array<{ at: number; fields: Record<string, string> }> = [];
  readonly socket = unix.createSocket('unix_dgram');
  constructor() {
    this.socket.on('message', (buf) => {
      const fields: Record<string, string> = {};
      for (const line of buf.toString().split('\n')) {
        const i = line.indexOf('=');
        if (i > 0) fields[line.slice(0, i)] = line.slice(i + 1);
      }
      this.messages.push({ at: Date.now(), fields });
    });
    this.socket.on('error', () => undefined);
  }
  bind(path: string): this {
    this.socket.bind(path);
    return this;
  }
  count(key: string, since = 0): number {
    return this.messages.filter((m) => m.at >= since && key in m.fields).length;
  }
  first(key: string): number {
    return this.messages.findIndex((m) => key in m.fields);
  }
  close(): void {
    this.socket.close();
  }
}

let dir: string;
let release: { wasm: string; yaml: string };
const children = new Set<ChildProcess>();
const listeners: NotifyListener[] = [];
let blackHole: Server;
let blackHolePort: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-wd-'));
  release = await writeRelease(dir, COMPONENT, await buildMeter({ marker: 1 }), meterManifest('1.0.0', { 'tick-ms': 100 }));
  // A "broker" that accepts TCP and never answers CONNACK: down as far as MQTT goes.
  blackHole = createServer(() => undefined);
  await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', r));
  blackHolePort = (blackHole.address() as { port: number }).port;
}, 60_000);

afterAll(async () => {
  for (const c of children) {
    c.kill('SIGCONT');
    c.kill('SIGKILL');
  }
  for (const l of listeners) l.close();
  blackHole?.close();
  await rm(dir, { recursive: true, force: true });
});

async function startGateway(name: string, env: Record<string, string>, mqttUrl = 'embedded'): Promise<{ child: ChildProcess; stderr: () => string }> {
  const cfg = {
    gateway: { id: `gw-${name}`, 'data-dir': join(dir, name) },
    mqtt: mqttUrl === 'embedded' ? { url: 'embedded', 'embedded-port': 0 } : { url: mqttUrl },
    board: 'sim',
    policy: { roles: { metering: { telemetry: [CHANNEL] } }, components: { [COMPONENT]: ['metering'] } },
    components: [{ source: release.wasm, manifest: release.yaml }],
    log: { level: 'warn' },
  };
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, toYaml(cfg));
  const child = spawn(process.execPath, [BIN, 'start', '--config', file], { env: { ...process.env, AIRSSYS_FROM_SOURCE: '1', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  child.on('exit', () => children.delete(child));
  return { child, stderr: () => err };
}

const exited = (c: ChildProcess) => new Promise<number | null>((r) => (c.exitCode !== null ? r(c.exitCode) : c.once('exit', (code) => r(code))));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the gateway under systemd notify (real process, NOTIFY_SOCKET bound by the test)', () => {
  it('READY=1, then WATCHDOG=1 every WATCHDOG_USEC/2; none while the process is frozen (SIGSTOP); again after SIGCONT; STOPPING=1 on SIGTERM', async () => {
    const l = new NotifyListener().bind(join(dir, 'notify-1.sock'));
    listeners.push(l);
    const { child, stderr } = await startGateway('live', { NOTIFY_SOCKET: join(dir, 'notify-1.sock'), WATCHDOG_USEC: '400000' });
    await waitFor(() => l.first('READY') >= 0 || child.exitCode !== null, 'READY=1', 90_000);
    expect(child.exitCode, stderr()).toBeNull();
    expect(l.messages[l.first('READY')]!.fields.MAINPID).toBe(String(child.pid));
    expect(l.messages[l.first('READY')]!.fields.STATUS).toMatch(/1\/1 components running/);
    // No ping before READY: systemd arms the watchdog with the start-up done. (The first ping may
    // come a moment after READY, once the liveness probes have answered: wait for it.)
    await waitFor(() => l.first('WATCHDOG') >= 0, 'the first WATCHDOG=1', 30_000);
    expect(l.first('WATCHDOG')).toBeGreaterThan(l.first('READY'));
    const t = Date.now();
    await waitFor(() => l.count('WATCHDOG', t) >= 5, 'five pings', 30_000);

    // Frozen for real: the kernel stops the process, its event loop included.
    child.kill('SIGSTOP');
    await sleep(300); // a datagram already in flight may still land
    const frozenAt = Date.now();
    await sleep(2500);
    const duringFreeze = l.count('WATCHDOG', frozenAt);
    child.kill('SIGCONT');
    expect(duringFreeze).toBe(0);
    const thawed = Date.now();
    await waitFor(() => l.count('WATCHDOG', thawed) >= 3, 'pings after SIGCONT', 30_000);

    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
    const stopping = l.first('STOPPING');
    expect(stopping).toBeGreaterThan(0);
    // Nothing is pinged after STOPPING=1.
    expect(l.messages.slice(stopping + 1).filter((m) => 'WATCHDOG' in m.fields)).toEqual([]);
  }, 150_000);

  it('a dead broker is not a hang: pings go on while the connection retries (a broker that never answers CONNACK)', async () => {
    const l = new NotifyListener().bind(join(dir, 'notify-2.sock'));
    listeners.push(l);
    const { child, stderr } = await startGateway('nobroker', { NOTIFY_SOCKET: join(dir, 'notify-2.sock'), WATCHDOG_USEC: '400000' }, `mqtt://127.0.0.1:${blackHolePort}`);
    await waitFor(() => l.first('READY') >= 0 || child.exitCode !== null, 'READY=1', 90_000);
    expect(child.exitCode, stderr()).toBeNull();
    expect(l.messages[l.first('READY')]!.fields.STATUS).toMatch(/broker not connected/);
    // Longer than the gateway's connect timeout (10 s) plus a backoff, so at least one attempt failed.
    const t = Date.now();
    await sleep(14_000);
    const pings = l.messages.filter((m) => m.at >= t && 'WATCHDOG' in m.fields).map((m) => m.at);
    expect(pings.length).toBeGreaterThanOrEqual(10);
    // No gap anywhere near systemd's interval (0.4 s here; a loaded machine gets slack).
    const gaps = pings.slice(1).map((x, i) => x - pings[i]!);
    expect(Math.max(...gaps)).toBeLessThan(3000);
    expect(l.messages.some((m) => /^hung/.test(m.fields.STATUS ?? ''))).toBe(false);
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
  }, 150_000);

  it('WATCHDOG_PID naming another process: READY=1 but no pings (the watchdog is not ours)', async () => {
    const l = new NotifyListener().bind(join(dir, 'notify-3.sock'));
    listeners.push(l);
    const { child } = await startGateway('otherpid', { NOTIFY_SOCKET: join(dir, 'notify-3.sock'), WATCHDOG_USEC: '400000', WATCHDOG_PID: '1' });
    await waitFor(() => l.first('READY') >= 0 || child.exitCode !== null, 'READY=1', 90_000);
    await sleep(2000);
    expect(l.count('WATCHDOG')).toBe(0);
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
    expect(l.first('STOPPING')).toBeGreaterThan(0);
  }, 150_000);
});

describe('liveness probes', () => {
  it('a supervisor whose queue is stuck (a child start that never settles) stops the pings; a healthy one does not', async () => {
    const l = new NotifyListener().bind(join(dir, 'notify-4.sock'));
    listeners.push(l);
    const notifier = notifierFromEnv({ NOTIFY_SOCKET: join(dir, 'notify-4.sock') })!;
    const handle = { stop: async () => undefined, kill: () => undefined, onExit: () => undefined };
    const healthy = await supervisor('healthy').child('a', async () => handle).start();
    const wedged = await supervisor('wedged').start();
    const services = [
      { name: 'healthy', ping: () => healthy.ping() },
      { name: 'wedged', ping: () => wedged.ping() },
    ];
    let wedge = false;
    const wd = new Watchdog({ notify: (f) => notifier.send(f), intervalMs: 100, probes: [supervisorProbe(() => services.filter((s) => wedge || s.name === 'healthy'), 500)] });
    wd.start();
    await waitFor(() => l.count('WATCHDOG') >= 5, 'pings from a healthy tree', 10_000);

    // A child whose start never resolves: the supervisor's queue stops there, as it would behind a
    // component init that never returns.
    void wedged.startChild({ id: 'stuck', restart: 'permanent', shutdownMs: 0, start: () => new Promise(() => undefined) }).catch(() => undefined);
    wedge = true;
    await waitFor(() => l.messages.some((m) => /^hung: component wedged: its supervisor has not answered/.test(m.fields.STATUS ?? '')), 'STATUS=hung', 10_000);
    const t = Date.now();
    await sleep(1000);
    expect(l.count('WATCHDOG', t)).toBe(0);
    expect(wd.stats.withheld).toBeGreaterThan(3);
    wd.stop();
    notifier.close();
    await healthy.stop();
  });

  it('broker verdicts: down and retrying is alive; connected-but-silent or a stalled retry loop is hung', () => {
    const base = { connected: false, retrying: true, lastPacketAt: 0, lastProgressAt: 1_000_000, keepaliveMs: 30_000, connectBoundMs: 40_000 };
    expect(brokerVerdict(base, 1_000_000 + 45_000)).toBeUndefined(); // waiting out a backoff
    expect(brokerVerdict(base, 1_000_000 + 60_000)).toMatch(/no connect attempt for 60 s/);
    expect(brokerVerdict({ ...base, retrying: false }, 1_000_000 + 600_000)).toBeUndefined(); // stopped: nothing to wait for
    const up = { ...base, connected: true, lastPacketAt: 1_000_000 };
    expect(brokerVerdict(up, 1_000_000 + 80_000)).toBeUndefined();
    expect(brokerVerdict(up, 1_000_000 + 91_000)).toMatch(/connected but nothing received for 91 s/);
  });
});

const hasPython = spawnSync('python3', ['-c', 'import socket'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!hasPython)('abstract NOTIFY_SOCKET (@name)', () => {
  it('sends to an abstract socket from this process', async () => {
    // The test's receiving end is an abstract socket too: bound by python3 on a descriptor it shares.
    const l = new NotifyListener();
    listeners.push(l);
    const name = `airssys-test-${process.pid}-${Date.now()}`;
    const r = spawnSync('python3', ['-c', 'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM,0,3)\ns.bind("\\0"+sys.argv[1])\ns.detach()', name], { stdio: ['ignore', 'ignore', 'inherit', l.socket.fd] });
    expect(r.status).toBe(0);
    const n = notifierFromEnv({ NOTIFY_SOCKET: `@${name}` })!;
    n.send({ READY: 1, STATUS: 'abstract ok' });
    await waitFor(() => l.first('READY') >= 0, 'READY=1 on the abstract socket', 5000);
    expect(l.messages[0]!.fields.STATUS).toBe('abstract ok');
    n.close();
  });

  it('a NOTIFY_SOCKET that is neither a path nor @name is one clear line', () => {
    expect(() => notifierFromEnv({ NOTIFY_SOCKET: 'relative/path' })).toThrow(/^NOTIFY_SOCKET=relative\/path is neither a path .*; unset it or let systemd set it$/);
  });
});
