import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWat } from '../../runtime/build/wat.js';
import { parseConfig } from '../../gateway/config/index.js';
import { Gateway } from '../../gateway/gateway.js';
import { BIN } from '../helpers/cli.js';
import { Mosquitto, sleep, until } from '../helpers/mosquitto.js';
import { OK, sensorWat, strings } from '../helpers/sensor-wat.js';
import { GatewayProcess, retainedHealth } from '../helpers/gateway-process.js';

/**
 * Issue "Hardening" 4: a gateway (real process) whose broker is down says so once, says when it is
 * back and after how long, and does not log every retry; `airssys telemetry` says on stderr when it
 * loses the broker and when it has it again, and carries on tailing.
 */
const ID = 'gw-vis';
const S = { temp: 'temperature' };
const T = strings(S);

let dir: string;
let broker: Mosquitto;
let gw: GatewayProcess;
let tail: ChildProcess | undefined;
let tailOut = '';
let tailErr = '';
let configFile: string;

const outageLines = (from: number) => gw.records().slice(from).filter((r) => /broker (unreachable|connection lost)/.test(String(r.msg)));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-vis-'));
  broker = new Mosquitto();
  await broker.start();
  await broker.stop(); // the port is kept: the gateway starts with its broker down
  const wasm = join(dir, 'ticker.wasm');
  await writeFile(wasm, await buildWat(sensorWat({ strings: S, onTick: `i32.const ${T.ptr('temp')} i32.const ${T.len('temp')} f64.const 21.5 i32.const 32 call $publish ${OK}` })));
  configFile = join(dir, 'gateway.yaml');
  await writeFile(configFile, toYaml({
    gateway: { id: ID, 'data-dir': join(dir, 'var') },
    mqtt: { url: broker.url },
    board: 'sim',
    policy: { roles: { r: { telemetry: ['*'] } }, components: { ticker: ['r'] } },
    components: [{ source: wasm, manifest: { name: 'ticker', version: '1.0.0', 'tick-ms': 100, capabilities: { telemetry: ['temperature'] } } }],
    telemetry: { 'health-interval-ms': 300 },
    log: { level: 'warn' },
  }));
}, 60_000);

afterAll(async () => {
  tail?.kill('SIGKILL');
  await gw?.stop();
  gw?.kill();
  await broker?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('broker visibility', () => {
  it('health says since when the broker is unreachable (in-process view of the same state)', async () => {
    const g = new Gateway({ config: parseConfig({ gateway: { id: 'gw-vis-inproc', 'data-dir': join(dir, 'var-inproc') }, mqtt: { url: broker.url }, log: { level: 'error' } }, { baseDir: dir }) });
    try {
      await g.start();
      await until(() => (g.health().broker as { lastError?: string } | undefined)?.lastError !== undefined, 20_000, 'a failed attempt');
      const b = g.health().broker as Record<string, unknown>;
      expect(b.connected).toBe(false);
      expect(typeof b.unreachableSince).toBe('number');
      expect(String(b.lastError)).toMatch(/connection refused/);
    } finally {
      await g.stop();
    }
  }, 60_000);

  it('a broker down from the start is reported once, then "connected again after N s, M attempts"', async () => {
    gw = new GatewayProcess(configFile, ID);
    await gw.running();
    const first = await gw.waitFor(/broker unreachable since/, 30_000);
    expect(first.msg).toMatch(/connection refused/);
    await sleep(4000); // several retries (backoff from 500 ms)
    expect(outageLines(0)).toHaveLength(1);
    await broker.start();
    const back = await gw.waitFor(/broker connected again after \d+ s, \d+ attempts?/, 60_000);
    expect(back.attempts).toBeGreaterThan(1);
  }, 120_000);

  it('a broker lost while running: the gateway and `airssys telemetry` each say so once, and again when it is back', async () => {
    tail = spawn(process.execPath, [BIN, 'telemetry', '--broker', broker.url, '--gateway', ID], { env: { ...process.env, AIRSSYS_FROM_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    tail.stdout!.on('data', (d) => (tailOut += d));
    tail.stderr!.on('data', (d) => (tailErr += d));
    await until(() => tailOut.split('\n').length > 3, 60_000, `telemetry lines; stderr: ${tailErr}`);
    const from = gw.records().length;
    await broker.stop();
    await gw.waitFor(/broker connection lost/, 30_000);
    await until(() => /lost the broker/.test(tailErr), 30_000, `the telemetry verb to notice; stderr: ${tailErr}`);
    await sleep(4000);
    // "lost", then "unreachable since … (connection refused)" once: not a line per retry.
    expect(outageLines(from).length).toBeLessThanOrEqual(2);
    expect(tailErr.trim().split('\n')).toHaveLength(1);
    await broker.start();
    await until(() => gw.records().slice(from).some((r) => /broker connected again after/.test(String(r.msg))), 60_000, 'the gateway back');
    await until(() => /reconnected to/.test(tailErr), 60_000, `the telemetry verb back; stderr: ${tailErr}`);
    const before = tailOut.length;
    await until(() => tailOut.length > before + 50, 30_000, 'telemetry flowing again');
    expect(tailErr.trim().split('\n')).toHaveLength(2);
    expect(tailErr).not.toMatch(/at .*\.ts:\d+/); // no stack traces
    const h = await retainedHealth(broker.url, ID);
    expect(h.broker).toMatchObject({ connected: true, outages: 1 });
  }, 180_000);
});
