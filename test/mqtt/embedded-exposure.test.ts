import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliProcess } from '../helpers/cli.js';
import { freePort } from '../helpers/mosquitto.js';
import { GatewayProcess } from '../helpers/gateway-process.js';

/**
 * Contract 7.4 with the real gateway process: the embedded broker listens on 127.0.0.1 unless
 * `mqtt.embedded-host` says otherwise, and then only with `mqtt.username` and `mqtt.password`,
 * which become its only account; without them the gateway refuses to start (one line).
 */
const ID = 'gw-emb';
let dir: string;
const procs: GatewayProcess[] = [];
/** An address of this machine that is not loopback (what a neighbour on the LAN would dial). */
const lan = Object.values(networkInterfaces()).flat().find((i) => i && !i.internal && i.family === 'IPv4')?.address;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-emb-'));
});

afterAll(async () => {
  for (const p of procs) {
    await p.stop();
    p.kill();
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function configFile(name: string, mqttConfig: Record<string, unknown>): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, toYaml({ gateway: { id: ID, 'data-dir': join(dir, name) }, mqtt: { url: 'embedded', ...mqttConfig }, log: { level: 'warn' } }));
  return file;
}

/** Resolves 'connected' or the error code/message of a single connection attempt. */
async function tryConnect(url: string, opts: { username?: string; password?: string } = {}): Promise<string> {
  try {
    const c = await mqtt.connectAsync(url, { ...opts, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 });
    await c.endAsync(true);
    return 'connected';
  } catch (err) {
    const e = err as Error & { code?: string | number };
    return String(e.code ?? e.message);
  }
}

describe('embedded broker exposure', () => {
  it('listens on 127.0.0.1 only by default', async () => {
    const port = await freePort();
    const gw = new GatewayProcess(await configFile('default', { 'embedded-port': port }), ID);
    procs.push(gw);
    await gw.running();
    expect(await tryConnect(`mqtt://127.0.0.1:${port}`)).toBe('connected');
    if (lan) expect(await tryConnect(`mqtt://${lan}:${port}`)).toBe('ECONNREFUSED');
    await gw.stop();
  }, 90_000);

  it('with embedded-host 0.0.0.0 and credentials: anonymous clients are refused, the account works', async () => {
    const port = await freePort();
    const gw = new GatewayProcess(await configFile('open', { 'embedded-port': port, 'embedded-host': '0.0.0.0', username: 'fleet', password: 's3cret' }), ID);
    procs.push(gw);
    await gw.running();
    const refused = await tryConnect(`mqtt://127.0.0.1:${port}`);
    expect(refused).not.toBe('connected');
    expect(refused).toMatch(/^(4|5)$|Bad username|Not authorized/i);
    expect(await tryConnect(`mqtt://127.0.0.1:${port}`, { username: 'fleet', password: 'wrong' })).not.toBe('connected');
    expect(await tryConnect(`mqtt://127.0.0.1:${port}`, { username: 'fleet', password: 's3cret' })).toBe('connected');
    if (lan) expect(await tryConnect(`mqtt://${lan}:${port}`, { username: 'fleet', password: 's3cret' })).toBe('connected');
    await gw.stop();
  }, 90_000);

  it('refuses to start with embedded-host beyond loopback and no credentials: one line, non-zero exit', async () => {
    const r = await cliProcess(['start', '--config', await configFile('bare', { 'embedded-port': await freePort(), 'embedded-host': '0.0.0.0' })]);
    expect(r.code).not.toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/mqtt\.embedded-host: "0\.0\.0\.0" opens the embedded broker.*set mqtt\.username and mqtt\.password/);
  }, 60_000);
});
