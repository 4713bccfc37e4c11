import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../gateway/config/index.js';
import { Gateway } from '../../gateway/gateway.js';
import { main } from '../../gateway/cli/main.js';
import { BIN } from '../helpers/cli.js';
import { Mosquitto } from '../helpers/mosquitto.js';
import { buildMeter, cliPush, COMPONENT, GATEWAY_ID, gatewayConfig, meterManifest, writeKeys, writeRelease } from '../ota-e2e/helpers.js';

/**
 * `airssys push` against a real gateway on a real Mosquitto: the target check before anything is
 * published, the probation countdown and one line per status, and the retained envelope cleared
 * whenever the push does not end committed (rejection, timeout, Ctrl-C).
 */
let dir: string;
let broker: Mosquitto;
let gateway: Gateway;
let operator: MqttClient;
let keys: { key: string; pub: string };
/** The broker's address the way operators type it: no scheme. */
let bare: string;
const PROBATION_MS = 3000;
const files: Record<string, { wasm: string; yaml: string }> = {};

async function release(name: string, version: string, marker: number) {
  files[name] = await writeRelease(dir, name, await buildMeter({ marker }), meterManifest(version));
}

const signed = (name: string) => [files[name]!.wasm, '--key', keys.key, '--manifest', files[name]!.yaml, '--chunk-size', '1024'];

/** What a late subscriber finds retained on `topic` (undefined: nothing). */
async function retained(topic: string): Promise<Buffer | undefined> {
  const c = await mqtt.connectAsync(broker.url);
  let got: Buffer | undefined;
  c.on('message', (t, p, packet) => {
    if (t === topic && packet.retain && p.length > 0) got = p;
  });
  await c.subscribeAsync(topic, { qos: 1 });
  await new Promise((r) => setTimeout(r, 500));
  await c.endAsync();
  return got;
}

/** Everything retained under a filter: topics with a non-empty retained payload. */
async function retainedTopics(filter: string): Promise<string[]> {
  const c = await mqtt.connectAsync(broker.url);
  const topics = new Set<string>();
  c.on('message', (t, p, packet) => {
    if (packet.retain && p.length > 0) topics.add(t);
  });
  await c.subscribeAsync(filter, { qos: 1 });
  await new Promise((r) => setTimeout(r, 500));
  await c.endAsync();
  return [...topics];
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-cli-push-'));
  broker = await new Mosquitto().start();
  bare = `127.0.0.1:${broker.port}`;
  keys = await writeKeys(dir, 'ota');
  await release('v100', '1.0.0', 1);
  await release('v110', '1.1.0', 2);
  await release('ghost', '2.0.0', 3);
  const config = parseConfig(gatewayConfig({ url: broker.url, dataDir: join(dir, 'var'), pub: keys.pub, probationMs: PROBATION_MS }), { baseDir: dir });
  gateway = new Gateway({ config });
  await gateway.start();
  operator = await mqtt.connectAsync(broker.url);
  // A gateway that reported once and went quiet: known, but nobody will answer for it.
  await operator.publishAsync('airssys/gw/gw-ghost/state', JSON.stringify({ state: 'online', version: '0.1.0', groups: ['attic'], ts: Date.now() }), { qos: 1, retain: true });
}, 120_000);

afterAll(async () => {
  await operator?.endAsync();
  await gateway?.stop();
  await broker?.dispose();
});

describe('airssys push: the target must exist', () => {
  it('an unknown --gateway fails at once, naming the gateways that exist, and publishes nothing', async () => {
    const r = await cliPush([...signed('v100'), '--broker', bare, '--gateway', 'gw-typo']);
    expect(r.code).toBe(2);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/^error: gateway gw-typo has never reported on mqtt:\/\/127\.0\.0\.1:\d+; known gateways: .*gw-e2e\b.*\(online\).*gw-ghost \[attic\] \(online\)/);
    expect(r.err[0]).toMatch(/check --gateway/);
    expect(await retainedTopics('airssys/gw/gw-typo/#')).toEqual([]);
    expect(await retainedTopics('airssys/artifacts/#')).toEqual([]);
  });

  it('a --group no known gateway is in fails the same way', async () => {
    // Gateway states as contract 7.4 has them (with groups), under a prefix of their own.
    for (const [id, groups] of [['gw-a', ['lab']], ['gw-b', ['field', 'lab']]] as const) {
      await operator.publishAsync(`fleet/gw/${id}/state`, JSON.stringify({ state: 'online', version: '0.2.0', groups, ts: Date.now() }), { qos: 1, retain: true });
    }
    const r = await cliPush([...signed('v100'), '--broker', bare, '--prefix', 'fleet', '--group', 'roof']);
    expect(r.code).toBe(2);
    expect(r.err).toEqual(['error: no known gateway is in group roof on ' + `mqtt://${bare}` + '; known gateways: gw-a [lab] (online), gw-b [field, lab] (online); check --group (or --prefix)']);
    expect(await retainedTopics('fleet/#')).toEqual(['fleet/gw/gw-a/state', 'fleet/gw/gw-b/state']);
  });

  it('a broker nobody reported to says so', async () => {
    const empty = await new Mosquitto().start();
    try {
      const r = await cliPush([...signed('v100'), '--broker', `localhost:${empty.port}`, '--gateway', GATEWAY_ID]);
      expect(r.code).toBe(2);
      expect(r.err).toEqual([expect.stringMatching(/no gateway has ever reported on mqtt:\/\/localhost:\d+ .*check --broker and --prefix/)]);
    } finally {
      await empty.dispose();
    }
  });
});

describe('airssys push to a real gateway', () => {
  it('prints each phase once, counts down probation, and the outcome once on stdout', async () => {
    const r = await cliPush([...signed('v100'), '--broker', bare, '--gateway', GATEWAY_ID, '--timeout', '60']);
    expect(r.code, r.err.join('\n')).toBe(0);
    expect(r.out).toEqual([`${GATEWAY_ID}: committed`]);
    const phaseLines = r.err.filter((l) => l.startsWith(`${GATEWAY_ID}: `) && !/probation: \d+ s left|downloading \d/.test(l));
    expect(phaseLines.map((l) => l.split(' ')[1])).toEqual(['received', 'verifying', 'staged', 'activating', 'probation']);
    // The first downloading report, then the countdown: at least its first line, never a line twice.
    expect(r.err).toContainEqual(expect.stringMatching(new RegExp(`^${GATEWAY_ID}: probation: \\d+ s left$`)));
    expect(new Set(r.err).size).toBe(r.err.length);
    // A committed release stays retained, for the gateway's next start.
    expect(await retained(`airssys/gw/${GATEWAY_ID}/ota/${COMPONENT}`)).toBeDefined();
  }, 90_000);

  it('a rejected release (downgrade) exits 1 with the reason and leaves no retained envelope', async () => {
    expect((await cliPush([...signed('v110'), '--broker', bare, '--gateway', GATEWAY_ID, '--timeout', '60'])).code).toBe(0);
    const r = await cliPush([...signed('v100'), '--broker', bare, '--gateway', GATEWAY_ID, '--timeout', '60']);
    expect(r.code).toBe(1);
    expect(r.out).toEqual([expect.stringMatching(new RegExp(`^${GATEWAY_ID}: rejected \\(downgrade\\): version 1\\.0\\.0 is not above 1\\.1\\.0`))]);
    expect(r.err.at(-1)).toMatch(/^error: 1 of 1 gateway\(s\) did not commit meter 1\.0\.0: rejected downgrade$/);
    expect(await retained(`airssys/gw/${GATEWAY_ID}/ota/${COMPONENT}`)).toBeUndefined();
    expect(gateway.services.get(COMPONENT)?.host.version).toBe('1.1.0');
  }, 120_000);

  it('a timeout exits 1 and clears the envelope', async () => {
    const r = await cliPush([...signed('ghost'), '--broker', bare, '--gateway', 'gw-ghost', '--timeout', '2']);
    expect(r.code).toBe(1);
    expect(r.err.at(-1)).toMatch(/^error: timeout after 2 s: no gateway reported on this release; .*raise --timeout/);
    expect(await retained(`airssys/gw/gw-ghost/ota/${COMPONENT}`)).toBeUndefined();
  });

  it('Ctrl-C after the envelope went out: exit 130, envelope cleared', async () => {
    const child = spawn(process.execPath, [BIN, 'push', ...signed('ghost'), '--broker', bare, '--gateway', 'gw-ghost'], { env: { ...process.env, AIRSSYS_FROM_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const deadline = Date.now() + 60_000;
    while (!/envelope published/.test(stderr) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    expect(stderr).toMatch(/envelope published on airssys\/gw\/gw-ghost\/ota\/meter/);
    expect(await retained(`airssys/gw/gw-ghost/ota/${COMPONENT}`)).toBeDefined();
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr.trim().split('\n').at(-1)).toMatch(/^error: interrupted \(no gateway had reported yet\); the retained envelope is cleared/);
    expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(await retained(`airssys/gw/gw-ghost/ota/${COMPONENT}`)).toBeUndefined();
  }, 90_000);
});

describe('--broker without a scheme', () => {
  it('host:port and a bare host mean mqtt://', async () => {
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l) };
    expect(await main(['status', '--broker', bare, '--gateway', GATEWAY_ID, '--wait-ms', '300', '--json'], io)).toBe(0);
    expect(JSON.parse(out[0]!)).toMatchObject({ gateway: GATEWAY_ID, state: 'online' });
  });
});
