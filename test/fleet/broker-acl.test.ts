import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { parse, stringify } from 'yaml';
import { buildWat } from '../../runtime/build/wat.js';
import { cli, cliProcess } from '../helpers/cli.js';
import { Mosquitto } from '../helpers/mosquitto.js';
import { OK, sensorWat, strings } from '../helpers/sensor-wat.js';
import { waitFor } from '../helpers/wait.js';
import { fleetFixture, FleetSim, type FleetFixture } from './helpers.js';

/**
 * Fleet security through the broker: a real Mosquitto with the password file and ACL that
 * `airssys broker-creds` writes. A real gateway (fleet-sim, id sim-1) runs on its own account; the
 * operator's account drives push and rollout; a client logged in as sim-1 tries to speak for sim-2.
 * What counts is what the other side sees: Mosquitto drops an unauthorised publish silently
 * (3.1.1) and never delivers a message a subscriber may not read.
 */
let broker: Mosquitto;
let fx: FleetFixture;
let sim: FleetSim;
let creds: string;
const pw: Record<string, string> = {};
const clients: MqttClient[] = [];

interface Seen {
  topic: string;
  payload: string;
}

async function connectAs(user: string, o: { protocolVersion?: 4 | 5; clientId?: string } = {}): Promise<{ c: MqttClient; seen: Seen[] }> {
  const c = await mqtt.connectAsync(broker.url, {
    username: user,
    password: pw[user],
    protocolVersion: o.protocolVersion ?? 4,
    clientId: o.clientId ?? `test-${user}-${Math.random().toString(16).slice(2, 8)}`,
    reconnectPeriod: 0,
  });
  clients.push(c);
  const seen: Seen[] = [];
  c.on('message', (topic, payload) => seen.push({ topic, payload: payload.toString() }));
  return { c, seen };
}

const operatorFlags = () => ['--broker', broker.url, '--username', 'ops', '--password', pw.ops!];

beforeAll(async () => {
  creds = mkdtempSync(join(tmpdir(), 'airssys-creds-'));
  const made: [string, string[]][] = [
    ['sim-1', ['--gateway', 'sim-1', '--group', 'lab']],
    ['sim-2', ['--gateway', 'sim-2', '--group', 'lab']],
    ['ops', ['--operator', 'ops']],
  ];
  for (const [, args] of made) {
    const r = await cli(['broker-creds', ...args, '--out', creds]);
    if (r.code !== 0) throw new Error(r.err.join('\n'));
  }
  for (const id of ['sim-1', 'sim-2']) pw[id] = (parse(readFileSync(join(creds, `${id}.yaml`), 'utf8')) as { mqtt: { password: string } }).mqtt.password;
  pw.ops = /AIRSSYS_MQTT_PASSWORD=(\S+)/.exec(readFileSync(join(creds, 'ops.env'), 'utf8'))![1]!;

  // The helper's `max_queued_messages 0` makes mosquitto 2.0 drop the connection of a client whose
  // QoS 1 publish was denied; docs/fleet.md's configuration keeps the default queue, as here.
  broker = await new Mosquitto({ passwordFile: join(creds, 'passwd'), aclFile: join(creds, 'acl'), extra: ['max_queued_messages 1000'] }).start();
  fx = await fleetFixture({ url: broker.url, probationMs: 1000 });
  // The template's gateway sim-1 runs on its own account, with a second component that publishes telemetry.
  const S = { temp: 'temperature' };
  const T = strings(S);
  const sensor = join(fx.dir, 'sensor.wasm');
  await writeFile(sensor, await buildWat(sensorWat({ strings: S, onTick: `i32.const ${T.ptr('temp')} i32.const ${T.len('temp')} f64.const 21.5 i32.const 32 call $publish ${OK}` })));
  const t = parse(await readFile(fx.template, 'utf8')) as Record<string, any>;
  t.mqtt = { ...t.mqtt, username: 'sim-1', password: pw['sim-1'] };
  t.components.push({ source: sensor, manifest: { name: 'sensor', version: '1.0.0', 'tick-ms': 200, capabilities: { telemetry: ['temperature'] } } });
  t.policy = { roles: { sensing: { telemetry: ['*'] } }, components: { sensor: ['sensing'] } };
  await writeFile(fx.template, stringify(t));
  sim = await FleetSim.start(fx.template, 1);
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.endAsync(true).catch(() => {});
  if (sim) await sim.stop();
  await broker?.dispose();
}, 60_000);

describe('broker-creds', () => {
  it('writes a mosquitto $7$ password line, pattern rules for %u and a user block per account', () => {
    const passwd = readFileSync(join(creds, 'passwd'), 'utf8').trim().split('\n');
    expect(passwd.map((l) => l.split(':')[0])).toEqual(['sim-1', 'sim-2', 'ops']);
    for (const l of passwd) expect(l).toMatch(/^[\w-]+:\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
    const acl = readFileSync(join(creds, 'acl'), 'utf8');
    expect(acl).toContain('pattern write airssys/gw/%u/state');
    expect(acl).toContain('user sim-1\ntopic read airssys/group/lab/ota/+');
    expect(acl).toContain('user ops\ntopic read airssys/#');
  });

  it('refuses to replace an account without --force, with one line', async () => {
    const r = await cliProcess(['broker-creds', '--gateway', 'sim-1', '--out', creds]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--force');
    const bad = await cliProcess(['broker-creds', '--gateway', 'gw/+', '--out', creds]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('a gateway on its own account', () => {
  it('publishes its state and telemetry, and the operator account rolls a release out to it', async () => {
    const { c, seen } = await connectAs('ops');
    await c.subscribeAsync('airssys/gw/sim-1/#', { qos: 1 });
    await waitFor(() => seen.some((m) => m.topic === 'airssys/gw/sim-1/state' && JSON.parse(m.payload).state === 'online'), 'sim-1 online');
    await waitFor(() => seen.some((m) => m.topic === 'airssys/gw/sim-1/telemetry/sensor/temperature' && JSON.parse(m.payload).value === 21.5), 'sim-1 telemetry');

    // Without an account the CLI is refused; with the gateway's account it may not send OTA.
    const anon = await cliProcess(['push', fx.good, '--broker', broker.url, '--gateway', 'sim-1'], { timeoutMs: 30_000 });
    expect(anon.code).not.toBe(0);
    expect(anon.stderr).toMatch(/credentials/);

    const push = await cliProcess(['push', fx.good, ...operatorFlags(), '--gateway', 'sim-1'], { timeoutMs: 120_000 });
    expect(push.code, push.stderr).toBe(0);
    const ro = await cliProcess(['rollout', fx.good2, ...operatorFlags(), '--group', 'lab', '--waves', '100', '--max-failures', '0', '--wave-timeout', '90', '--json'], { timeoutMs: 150_000 });
    expect(ro.code, ro.stderr).toBe(0);
    const last = JSON.parse(ro.stdout.trim().split('\n').pop()!) as { rollout: Record<string, unknown> };
    expect(last.rollout).toMatchObject({ state: 'completed', targets: 1, committed: 1, failed: 0 });
    await waitFor(() => seen.some((m) => m.topic === 'airssys/gw/sim-1/components/beacon/state' && JSON.parse(m.payload).version === '1.3.0'), 'beacon 1.3.0 running on sim-1');
  }, 240_000);
});

describe("another gateway's account", () => {
  it("cannot publish sim-2's state, OTA status or telemetry, nor OTA, artifacts or rollouts (3.1.1 and 5)", async () => {
    const ops = await connectAs('ops');
    await ops.c.subscribeAsync('airssys/#', { qos: 1 });
    await new Promise((r) => setTimeout(r, 500)); // the retained burst
    for (const protocolVersion of [4, 5] as const) {
      const before = ops.seen.length;
      const { c } = await connectAs('sim-1', { protocolVersion });
      const forged = [
        ['airssys/gw/sim-2/state', JSON.stringify({ state: 'offline', version: '6.6.6', groups: ['lab'], ts: Date.now() })],
        ['airssys/gw/sim-2/ota/beacon/status', JSON.stringify({ version: '6.6.6', phase: 'committed', ts: Date.now() })],
        ['airssys/gw/sim-2/telemetry/sensor/temperature', JSON.stringify({ value: 666, ts: Date.now(), seq: 1 })],
        ['airssys/gw/sim-2/cmd/sensor/x', 'forged'],
        ['airssys/gw/sim-1/ota/beacon', 'forged'],
        ['airssys/group/lab/ota/beacon', 'forged'],
        ['airssys/artifacts/00/0', 'forged'],
        ['airssys/rollouts/forged/state', 'forged'],
      ] as const;
      const refused: string[] = [];
      for (const [topic, payload] of forged) {
        // MQTT 5: mosquitto answers "not authorized" in the PUBACK; 3.1.1 has no way to say so.
        await c.publishAsync(topic, payload, { qos: 1, retain: topic.endsWith('state') || topic.endsWith('status') }).catch(() => refused.push(topic));
      }
      // Its own subtree is allowed: once this marker arrives, everything sent before it has been decided.
      const marker = `airssys/gw/sim-1/telemetry/probe/v${protocolVersion}`;
      await c.publishAsync(marker, 'marker', { qos: 1 });
          await waitFor(() => ops.seen.slice(before).some((m) => m.topic === marker), `the marker (MQTT ${protocolVersion})`);
      const fromForger = ops.seen.slice(before).filter((m) => m.payload === 'forged' || m.payload.includes('6.6.6') || m.payload.includes('666'));
      expect(fromForger, `MQTT ${protocolVersion}`).toEqual([]);
      // MQTT 5 says so in the PUBACK (reason 135, not authorized); 3.1.1 cannot, the publish just vanishes.
      expect(refused, `MQTT ${protocolVersion}`).toEqual(protocolVersion === 5 ? forged.map(([t]) => t) : []);
    }
    // The retained state of sim-2 was never written: a fresh subscriber finds none.
    const fresh = await connectAs('ops');
    await fresh.c.subscribeAsync('airssys/gw/sim-2/#', { qos: 1 });
    await new Promise((r) => setTimeout(r, 700));
    expect(fresh.seen).toEqual([]);
  }, 60_000);

  it("reads its own commands and its group's OTA, never sim-2's commands or another group's OTA", async () => {
    const gw = await connectAs('sim-1');
    for (const f of ['airssys/gw/sim-2/cmd/#', 'airssys/group/other/ota/+', 'airssys/gw/sim-2/ota/+', 'airssys/group/lab/ota/+', 'airssys/gw/sim-1/cmd/#', 'airssys/#']) {
      await gw.c.subscribeAsync(f, { qos: 1 });
    }
    const ops = await connectAs('ops');
    // Not retained and not an envelope: the real sim-1 just rejects it as bad-envelope.
    const sent = [
      ['airssys/gw/sim-2/cmd/sensor/secret', 'for sim-2 only'],
      ['airssys/gw/sim-2/ota/sensor', 'for sim-2 only'],
      ['airssys/group/other/ota/sensor', 'for group other only'],
      ['airssys/group/lab/ota/nothing', 'for group lab'],
      ['airssys/gw/sim-1/cmd/nothing/x', 'for sim-1'],
    ] as const;
    for (const [topic, payload] of sent) await ops.c.publishAsync(topic, payload, { qos: 1 });
    await waitFor(() => gw.seen.some((m) => m.payload === 'for group lab') && gw.seen.some((m) => m.payload === 'for sim-1'), 'its own command and group OTA');
    await new Promise((r) => setTimeout(r, 500));
    expect(gw.seen.filter((m) => m.payload.includes('only'))).toEqual([]);
    // Nor does a wildcard show it another gateway's retained state.
    expect(gw.seen.filter((m) => /^airssys\/gw\/sim-[2-9]\//.test(m.topic))).toEqual([]);
  }, 60_000);
});
