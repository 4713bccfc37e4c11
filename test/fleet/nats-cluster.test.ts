import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { parse, stringify } from 'yaml';
import { BIN, cliProcess } from '../helpers/cli.js';
import { NatsCluster } from '../helpers/nats-cluster.js';
import { waitFor } from '../helpers/wait.js';
import { COMPONENT, fleetFixture, FleetSim, type FleetFixture } from './helpers.js';

/**
 * Beyond one broker: the gateway, `push` and `rollout` on a three-node NATS cluster (JetStream,
 * MQTT 3.1.1 on every node, loopback ports). Two real gateways per node (one `fleet-sim` per node,
 * ids a-*, b-*, c-*), each with the other nodes as mqtt.fallback-urls; the CLI on node 1. Node 2
 * is stopped (SIGTERM; NATS_STOP_SIGNAL=SIGKILL crashes it) in the middle of a rollout: the
 * rollout still completes, the gateways that were on node 2 reconnect to another node and commit,
 * and every gateway is online and on the new version afterwards. Debugging: NATS_KEEP_LOGS=DIR
 * keeps the nodes', simulators' and rollout's output; NATS_DEBUG=1 (or trace) makes the nodes verbose.
 */
let cluster: NatsCluster;
let fx: FleetFixture;
const sims: FleetSim[] = [];
const PREFIXES = ['a', 'b', 'c'];
const PER_NODE = 2;
/** How node 2 is stopped (NATS_STOP_SIGNAL=SIGKILL for a crash; see docs/fleet.md for what that did here). */
const STOP_SIGNAL = (process.env.NATS_STOP_SIGNAL ?? 'SIGTERM') as NodeJS.Signals;
const ids = PREFIXES.flatMap((p) => Array.from({ length: PER_NODE }, (_, i) => `${p}-${i + 1}`));
const lines = (s: string) => s.split('\n').filter(Boolean);

/**
 * One field of a retained JSON topic per gateway (`airssys/gw/<id>/…`), read through node `via`.
 * NATS refuses a subscription (SUBACK 0x80) while JetStream cannot create its consumer yet, for a
 * while after a node died: asked for again, as the gateway's own connection does.
 */
async function retainedField(via: number, filter: string, field: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const deadline = Date.now() + 60_000;
  for (;;) {
    let c: mqtt.MqttClient | undefined;
    try {
      // allowRetries false: otherwise a CONNECT that times out leaves connectAsync pending forever.
      c = await mqtt.connectAsync(cluster.mqttUrl(via), { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 }, false);
      c.on('message', (topic, payload) => {
        if (payload.length) out[topic.split('/')[2]!] = String((JSON.parse(payload.toString()) as Record<string, unknown>)[field]);
      });
      await c.subscribeAsync(filter, { qos: 1 });
      await new Promise((r) => setTimeout(r, 1000));
      await c.endAsync();
      return out;
    } catch (err) {
      c?.end(true);
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
const componentVersions = (via: number) => retainedField(via, `airssys/gw/+/components/${COMPONENT}/state`, 'version');

beforeAll(async () => {
  cluster = await NatsCluster.start(3);
  fx = await fleetFixture({ url: cluster.mqttUrl(0), probationMs: 2000 });
  const base = parse(await readFile(fx.template, 'utf8')) as Record<string, any>;
  const urls = cluster.mqttUrls;
  await Promise.all(
    PREFIXES.map(async (p, node) => {
      const t = structuredClone(base);
      t.gateway = { ...t.gateway, id: p, 'data-dir': join(fx.dir, `var-${p}`) };
      // Its own node first, the others as failover: any node of the cluster serves the same topics.
      t.mqtt = { url: urls[node], 'fallback-urls': urls.filter((_, i) => i !== node) };
      // The fixture's 5 s chunk timeout is for fast failure tests; a download that spans a node's
      // death and the cluster's re-election needs the production order of magnitude.
      t.ota = { ...t.ota, 'chunk-timeout-ms': 60_000 };
      const file = join(fx.dir, `template-${p}.yaml`);
      await writeFile(file, stringify(t));
      sims.push(await FleetSim.start(file, PER_NODE, { timeoutMs: 180_000 }));
    }),
  );
  // A gateway is ready once its node acknowledged its birth; each other node learns the retained
  // state through JetStream a little later (each node keeps its own copy of the retained messages,
  // fed by a consumer). Wait until node 3 serves all six, so the tests below start from a settled cluster.
  const deadline = Date.now() + 60_000;
  while (Object.keys(await retainedField(2, 'airssys/gw/+/state', 'state')).length < ids.length) {
    if (Date.now() > deadline) throw new Error('node 3 never served the retained states of all six gateways');
  }
}, 300_000);

afterAll(async () => {
  for (const s of sims) await s.stop();
  // NATS_KEEP_LOGS=DIR also keeps each simulator's stderr (the gateways' logs) beside the nodes' logs.
  const keep = process.env.NATS_KEEP_LOGS;
  if (keep) await Promise.all(sims.map((s, i) => writeFile(join(keep, `sim-${PREFIXES[i]}.log`), s.stderr)));
  await cluster?.dispose();
}, 60_000);

describe('NATS cluster (MQTT 3.1.1 on JetStream)', () => {
  it('gateways on every node are listed through any node', async () => {
    const r = await cliProcess(['fleet', 'ls', '--broker', cluster.mqttUrl(2), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('"c-2"');
    for (const id of ids) expect(r.stdout, id).toContain(`"${id}"`);
  }, 60_000);

  it('push from node 1 reaches a gateway on node 3 and follows it to committed', async () => {
    const r = await cliProcess(['push', fx.good, '--broker', cluster.mqttUrl(0), '--gateway', 'c-1'], { timeoutMs: 150_000 });
    expect(r.code, r.stderr).toBe(0);
    expect((await componentVersions(1))['c-1']).toBe('1.1.0');
  }, 180_000);

  // NATS_STOP_SIGNAL=SIGKILL crashes node 2 instead of stopping it (docs/fleet.md, "NATS — tested").
  it('a rollout across all nodes completes although node 2 dies in its middle; no gateway is stranded', async () => {
    // Waves 1,50,100 over a-1 a-2 b-1 b-2 c-1 c-2: [a-1] [a-2 b-1] [b-2 c-1 c-2]. Node 2 (b-*) dies
    // as soon as wave 1 has committed, before the waves that hold its gateways are decided.
    const statuses: string[] = [];
    const watch = await mqtt.connectAsync(cluster.mqttUrl(2), { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 }, false);
    watch.on('message', (topic, payload) => statuses.push(`${new Date().toISOString()} ${topic} ${payload.toString()}`));
    await watch.subscribeAsync(`airssys/gw/+/ota/${COMPONENT}/status`, { qos: 1 });

    const t0 = Date.now();
    const proc = spawn(process.execPath, [BIN, 'rollout', fx.good2, '--broker', cluster.mqttUrl(0), '--group', 'lab', '--waves', '1,50,100', '--max-failures', '0', '--wave-timeout', '120', '--json'], {
      env: { ...process.env, AIRSSYS_FROM_SOURCE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));

    await waitFor(() => statuses.some((s) => s.includes(` airssys/gw/a-1/ota/${COMPONENT}/status`) && s.includes('"1.3.0"') && s.includes('"committed"')), 'wave 1 (a-1) committed', 120_000);
    const killedAt = Date.now();
    await cluster.stop(1, STOP_SIGNAL);

    const code = await exited;
    const doneAt = Date.now();
    await watch.endAsync();
    if (process.env.NATS_KEEP_LOGS) await writeFile(join(process.env.NATS_KEEP_LOGS, 'rollout.log'), `${stderr}\n${stdout}\n${statuses.join('\n')}\n`);
    if (code !== 0) {
      const st = await cliProcess(['rollout', 'status', /^rollout (\S+)/.exec(stdout)![1]!, '--broker', cluster.mqttUrl(0)]);
      expect(code, `${stderr}\n${stdout}\n${st.stdout}\n${statuses.filter((l) => /"(rejected|rolled-back)"/.test(l)).join('\n')}`).toBe(0);
    }
    const summary = JSON.parse(lines(stdout).pop()!) as { rollout: Record<string, unknown> };
    expect(summary.rollout).toMatchObject({ state: 'completed', targets: ids.length, touched: ids.length, committed: ids.length, failed: 0 });
    // Every gateway, those of the dead node included, runs 1.3.0 and is online again (through node 1 or 3).
    const versions = await componentVersions(0);
    expect(Object.fromEntries(ids.map((id) => [id, versions[id]]))).toEqual(Object.fromEntries(ids.map((id) => [id, '1.3.0'])));
    const online = await retainedField(2, 'airssys/gw/+/state', 'state');
    for (const id of ids) expect(online[id], id).toBe('online');
    console.log(`nats rollout: ${((doneAt - t0) / 1000).toFixed(1)} s in all, node 2 killed at ${((killedAt - t0) / 1000).toFixed(1)} s, done ${((doneAt - killedAt) / 1000).toFixed(1)} s later`);
  }, 300_000);
});
