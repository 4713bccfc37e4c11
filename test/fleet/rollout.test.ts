import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Mosquitto } from '../helpers/mosquitto.js';
import { BIN, cliProcess } from '../helpers/cli.js';
import { Recorder } from '../helpers/subscriber.js';
import { waitFor } from '../helpers/wait.js';
import { sha256Hex } from '../../gateway/ota/envelope.js';
import { COMPONENT, fleetFixture, FleetSim, TEMPLATE_ID, type FleetFixture } from './helpers.js';

/**
 * `airssys rollout`, `rollout status|resume`, `fleet ls` against six real gateways (`airssys
 * fleet-sim` as a child process) on a real Mosquitto. The rollout CLI runs as a real process too.
 */
const N = 6;
const ids = Array.from({ length: N }, (_, i) => `${TEMPLATE_ID}-${i + 1}`);

let broker: Mosquitto;
let fx: FleetFixture;
let sim: FleetSim;
/** Every OTA status and every envelope publication, from before the first rollout. */
let statuses: Recorder;
let envelopes: Recorder;

const envelopeSha = async (file: string) => sha256Hex(Buffer.from(JSON.stringify(JSON.parse(await readFile(file, 'utf8')))));
const rollout = (args: string[]) => cliProcess(['rollout', ...args, '--broker', broker.url], { timeoutMs: 150_000 });
const lines = (s: string) => s.split('\n').filter(Boolean);

/** The latest retained-or-live OTA status per gateway about one envelope. */
function statusesAbout(sha: string): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const m of statuses.messages) {
    const body = JSON.parse(m.payload) as Record<string, unknown>;
    if (body.envelope === sha) out.set(m.topic.split('/')[2]!, body);
  }
  return out;
}

async function componentVersions(): Promise<Record<string, string>> {
  const c = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  const out: Record<string, string> = {};
  c.on('message', (topic, payload) => {
    if (payload.length) out[topic.split('/')[2]!] = (JSON.parse(payload.toString()) as { version: string }).version;
  });
  await c.subscribeAsync(`airssys/gw/+/components/${COMPONENT}/state`, { qos: 1 });
  await new Promise((r) => setTimeout(r, 500));
  await c.endAsync();
  return out;
}

beforeAll(async () => {
  broker = await new Mosquitto().start();
  fx = await fleetFixture({ url: broker.url, probationMs: 1500 });
  statuses = await new Recorder(broker.url, `airssys/gw/+/ota/${COMPONENT}/status`).start();
  envelopes = await new Recorder(broker.url, `airssys/gw/+/ota/${COMPONENT}`).start();
  sim = await FleetSim.start(fx.template, N);
}, 180_000);

afterAll(async () => {
  await statuses?.stop();
  await envelopes?.stop();
  if (sim) expect(await sim.stop()).toBe(0);
  await broker?.dispose();
}, 60_000);

describe('fleet ls', () => {
  it('lists every simulated gateway with its groups, online flag and component versions', async () => {
    const r = await cliProcess(['fleet', 'ls', '--broker', broker.url]);
    expect(r.code, r.stderr).toBe(0);
    const rows = lines(r.stdout);
    expect(rows[0]!.split(/\s+/)).toEqual(['ID', 'GROUPS', 'ONLINE', 'COMPONENTS']);
    expect(rows.slice(1).map((l) => l.split(/\s+/))).toEqual(ids.map((id) => [id, 'lab', 'yes', `${COMPONENT}@1.0.0`]));
  });
});

describe('bad input', () => {
  it('exits 2 with one line and publishes nothing', async () => {
    // An offline gateway of its own group (as a gateway's LWT would leave it).
    const c = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    await c.publishAsync('airssys/gw/ghost-1/state', JSON.stringify({ state: 'offline', version: '0.1.0', groups: ['ghosts'], ts: Date.now() }), { qos: 1, retain: true });
    await c.endAsync();
    await writeFile(join(fx.dir, 'garbage.json'), '{ not json');
    const all = await new Recorder(broker.url, '#').start();
    await new Promise((r) => setTimeout(r, 500)); // the retained burst
    const before = all.messages.length;
    const cases: [string, string[]][] = [
      ['unknown group', [fx.good, '--group', 'nope', '--waves', '1,100', '--max-failures', '0']],
      ['no online targets', [fx.good, '--group', 'ghosts', '--waves', '100', '--max-failures', '0']],
      ['waves not increasing', [fx.good, '--group', 'lab', '--waves', '50,10,100', '--max-failures', '0']],
      ['waves not ending at 100', [fx.good, '--group', 'lab', '--waves', '1,10', '--max-failures', '0']],
      ['waves not numbers', [fx.good, '--group', 'lab', '--waves', '1,x,100', '--max-failures', '0']],
      ['bad max-failures', [fx.good, '--group', 'lab', '--waves', '100', '--max-failures', 'many']],
      ['unreadable release', [join(fx.dir, 'missing.json'), '--group', 'lab', '--waves', '100', '--max-failures', '0']],
      ['malformed release', [join(fx.dir, 'garbage.json'), '--group', 'lab', '--waves', '100', '--max-failures', '0']],
    ];
    const unreachable = await cliProcess(['rollout', fx.good, '--group', 'lab', '--waves', '100', '--max-failures', '0', '--broker', 'mqtt://127.0.0.1:1']);
    expect(unreachable.code, unreachable.stderr).toBe(2);
    expect(lines(unreachable.stderr)).toHaveLength(1);
    for (const [what, args] of cases) {
      const r = await rollout(args);
      expect(r.code, `${what}: ${r.stderr}`).toBe(2);
      expect(lines(r.stderr), what).toHaveLength(1);
      expect(r.stderr, what).toMatch(/^error: /);
      expect(r.stdout, what).toBe('');
    }
    await new Promise((r) => setTimeout(r, 300));
    // What the gateways publish themselves (presence, health, component states) is not the CLI's.
    const fromCli = all.messages.slice(before).filter((m) => !/^airssys\/gw\/[^/]+\/(state|health|components\/[^/]+\/state)$/.test(m.topic));
    await all.stop();
    expect(fromCli).toEqual([]);
  }, 120_000);
});

describe('rollout', () => {
  it('rolls a good release out in waves 1,50,100 to every gateway', async () => {
    const sha = await envelopeSha(fx.good);
    const r = await rollout([fx.good, '--group', 'lab', '--waves', '1,50,100', '--max-failures', '0', '--wave-timeout', '90', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = lines(r.stdout);
    const id = /^rollout (\S+)$/.exec(out[0]!)![1]!;
    expect(JSON.parse(out[out.length - 1]!)).toEqual({
      rollout: {
        id,
        state: 'completed',
        targets: N,
        touched: N,
        committed: N,
        failed: 0,
        waves: [
          { size: 1, committed: 1, failed: 0, pending: 0 },
          { size: 2, committed: 2, failed: 0, pending: 0 },
          { size: 3, committed: 3, failed: 0, pending: 0 },
        ],
      },
    });
    await waitFor(() => [...statusesAbout(sha).values()].filter((s) => s.phase === 'committed').length === N, 'every gateway committed 1.1.0');
    expect(Object.values(await componentVersions())).toEqual(ids.map(() => '1.1.0'));

    const st = await cliProcess(['rollout', 'status', id, '--broker', broker.url, '--json']);
    expect(st.code, st.stderr).toBe(0);
    expect(lines(st.stdout)[0]).toBe(`rollout ${id}`);
    expect(JSON.parse(lines(st.stdout).pop()!)).toEqual(JSON.parse(out[out.length - 1]!));
  }, 150_000);

  it('aborts a release that crashes in probation after its first wave; nobody else receives it', async () => {
    const sha = await envelopeSha(fx.crashing);
    const r = await rollout([fx.crashing, '--group', 'lab', '--waves', '1,10,100', '--max-failures', '0', '--wave-timeout', '90', '--json']);
    expect(r.code, r.stderr).toBe(1);
    const out = lines(r.stdout);
    const id = /^rollout (\S+)$/.exec(out[0]!)![1]!;
    expect(JSON.parse(out[out.length - 1]!)).toEqual({
      rollout: {
        id,
        state: 'aborted',
        targets: N,
        touched: 1,
        committed: 0,
        failed: 1,
        waves: [
          { size: 1, committed: 0, failed: 1, pending: 0 },
          { size: 1, committed: 0, failed: 0, pending: 1 },
          { size: 4, committed: 0, failed: 0, pending: 4 },
        ],
      },
    });
    // Give a stray envelope time to show up before concluding none was sent.
    await new Promise((res) => setTimeout(res, 1500));
    const about = statusesAbout(sha);
    expect([...about.keys()]).toEqual([ids[0]]);
    expect(about.get(ids[0]!)).toMatchObject({ phase: 'rolled-back', reason: 'crashed-in-probation' });
    const received = envelopes.messages.filter((m) => m.payload && sha256Hex(Buffer.from(m.payload)) === sha).map((m) => m.topic.split('/')[2]);
    expect(received).toEqual([ids[0]]);
    // The failed one is back on the version it ran before; the others never left it.
    expect(await componentVersions()).toEqual(Object.fromEntries(ids.map((id) => [id, '1.1.0'])));
  }, 150_000);

  it('resumes after the CLI was killed, without sending again to gateways that already reported', async () => {
    const sha = await envelopeSha(fx.good2);
    const states = await new Recorder(broker.url, 'airssys/rollouts/+/state').start();
    const proc = spawn(process.execPath, [BIN, 'rollout', fx.good2, '--broker', broker.url, '--group', 'lab', '--waves', '20,50,100', '--max-failures', '0', '--wave-timeout', '90'], {
      env: { ...process.env, AIRSSYS_FROM_SOURCE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    proc.stdout!.on('data', (d) => (stdout += d));
    const exited = new Promise((res) => proc.once('exit', res));
    await waitFor(() => /^rollout \S+\n/.test(stdout), 'the rollout id', 60_000);
    const id = /^rollout (\S+)/.exec(stdout)![1]!;
    // Killed once wave 2 went out and its gateway reported on it (wave 1, 2 gateways; wave 2, 1).
    await waitFor(() => statusesAbout(sha).has(ids[2]!), 'the wave-2 gateway reporting', 90_000, 20);
    proc.kill('SIGKILL');
    await exited;

    const st = await cliProcess(['rollout', 'status', id, '--broker', broker.url]);
    expect(st.code, st.stderr).toBe(0);
    expect(lines(st.stdout)[0]).toBe(`rollout ${id}`);
    expect(lines(st.stdout)[1]).toMatch(new RegExp(`^rollout ${id} running: 6 target\\(s\\), 3 touched`));

    const r = await cliProcess(['rollout', 'resume', id, '--broker', broker.url, '--json'], { timeoutMs: 150_000 });
    expect(r.code, r.stderr).toBe(0);
    const out = lines(r.stdout);
    expect(out[0]).toBe(`rollout ${id}`);
    expect(JSON.parse(out[out.length - 1]!)).toMatchObject({ rollout: { id, state: 'completed', targets: N, touched: N, committed: N, failed: 0 } });
    // Exactly one envelope publication per gateway, across the killed CLI and the resumed one.
    const received = envelopes.messages.filter((m) => m.payload && sha256Hex(Buffer.from(m.payload)) === sha).map((m) => m.topic.split('/')[2]!);
    expect(received.sort()).toEqual([...ids].sort());
    expect(await componentVersions()).toEqual(Object.fromEntries(ids.map((i) => [i, '1.3.0'])));
    const last = JSON.parse(states.messages.filter((m) => m.topic === `airssys/rollouts/${id}/state`).pop()!.payload) as { state: string };
    expect(last.state).toBe('completed');
    await states.stop();
  }, 200_000);

  it('counts a target that never answers as failed once its wave times out; an earlier decision counts as is', async () => {
    // A gateway whose retained state says online but that never reports (as one that dropped off
    // right after the targets were fixed would).
    const c = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    await c.publishAsync('airssys/gw/phantom-1/state', JSON.stringify({ state: 'online', version: '0.1.0', groups: ['lab'], ts: Date.now() }), { qos: 1, retain: true });
    await c.endAsync();
    // sim-1 committed this very envelope in the resume test: its retained status says so.
    const r = await rollout([fx.good2, '--gateway', ids[0]!, '--gateway', 'phantom-1', '--waves', '100', '--max-failures', '0', '--wave-timeout', '3', '--json']);
    expect(r.code, r.stderr).toBe(1);
    const out = lines(r.stdout);
    const id = /^rollout (\S+)$/.exec(out[0]!)![1]!;
    expect(JSON.parse(out[out.length - 1]!)).toEqual({
      rollout: { id, state: 'aborted', targets: 2, touched: 2, committed: 1, failed: 1, waves: [{ size: 2, committed: 1, failed: 1, pending: 0 }] },
    });
    expect(r.stderr).toMatch(/1 timed out/);
  }, 60_000);
});
