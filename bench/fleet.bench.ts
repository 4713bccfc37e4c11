/**
 * Fleet benchmark (issue "Fleet rollouts", item 5): 1,000 simulated gateways (`airssys fleet-sim`,
 * one process) on one local Mosquitto, driven by the real `airssys rollout` CLI:
 *
 * - good: beacon 1.1.0, waves 1,10,100, --max-failures 0 → time until all 1,000 committed;
 * - crashing: beacon 1.2.0 traps on its first tick in probation, waves 1,10,100, --max-failures 20% →
 *   aborted after wave 1; how many gateways ever received it (envelopes seen on the broker); that all
 *   of those are back on 1.1.0;
 * - memory: the simulator's RSS with 1 gateway and with N (steady, after `ready`), per gateway
 *   beyond the first, and peak RSS of the simulator and of each rollout CLI.
 *
 * Probation is shortened to PROBATION_MS (stated in the output) and the component ticks once a
 * second. FLEET_N overrides the 1,000 (e.g. FLEET_N=100 for a quick run).
 * Run: `npm run bench -- fleet`. Results in docs/fleet.md.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { sha256Hex } from '../gateway/ota/envelope.js';
import { Mosquitto } from '../test/helpers/mosquitto.js';
import { Recorder } from '../test/helpers/subscriber.js';
import { BIN } from '../test/helpers/cli.js';
import { COMPONENT, fleetFixture, FleetSim } from '../test/fleet/helpers.js';

const N = Number(process.env.FLEET_N ?? 1000);
const PROBATION_MS = 3000;
const TICK_MS = 1000;
const preload = fileURLToPath(new URL('./maxrss-preload.mjs', import.meta.url));

const rssKb = async (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
const maxRss = (stderr: string) => Number(/maxrss-kb (\d+)/.exec(stderr)?.[1] ?? NaN);
const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;

/** The rollout CLI as a real process; `waves`: seconds from start to each `wave k/n: … committed` end line. */
function rollout(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; ms: number; waves: string }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', preload, BIN, 'rollout', ...args, '--json'], { env: { ...process.env, AIRSSYS_FROM_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const waves: string[] = [];
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d: Buffer) => {
      stderr += d;
      for (const m of d.toString().matchAll(/wave (\d+)\/\d+: \d+ gateway\(s\): \d+ committed, \d+ failed/g)) waves.push(`wave ${m[1]} ended at ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    });
    p.on('exit', (code) => resolve({ code, stdout, stderr, ms: performance.now() - t0, waves: waves.join(', ') }));
  });
}

async function componentVersions(url: string): Promise<Map<string, string>> {
  const c = await mqtt.connectAsync(url, { protocolVersion: 4 });
  const out = new Map<string, string>();
  c.on('message', (topic, payload) => payload.length && out.set(topic.split('/')[2]!, (JSON.parse(payload.toString()) as { version: string }).version));
  await c.subscribeAsync(`airssys/gw/+/components/${COMPONENT}/state`, { qos: 1 });
  await new Promise((r) => setTimeout(r, 2000));
  await c.endAsync();
  return out;
}

export async function run(): Promise<void> {
  const broker = await new Mosquitto().start();
  const fx = await fleetFixture({ url: broker.url, probationMs: PROBATION_MS, tickMs: TICK_MS, logLevel: 'error' });
  console.log(`fleet: ${N} simulated gateways, one Mosquitto on ${broker.url}; probation ${PROBATION_MS} ms, tick ${TICK_MS} ms; ulimit -n ${process.env.ULIMIT_N ?? 'inherited'}`);
  try {
    // Baseline: one gateway, on a warm component cache (the first run fills it, and its build
    // worker, jco included, would otherwise be counted).
    await (await FleetSim.start(fx.template, 1)).stop();
    const one = await FleetSim.start(fx.template, 1, { nodeArgs: ['--import', preload] });
    await new Promise((r) => setTimeout(r, 2000));
    const rss1 = await rssKb(one.proc.pid!);
    await one.stop();
    console.log(`fleet-sim 1 gateway: RSS ${mb(rss1)}`);

    const envelopes = await new Recorder(broker.url, `airssys/gw/+/ota/${COMPONENT}`).start();
    const t0 = performance.now();
    const sim = await FleetSim.start(fx.template, N, { nodeArgs: ['--import', preload], timeoutMs: 600_000 });
    const readyMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 3000));
    const rssN = await rssKb(sim.proc.pid!);
    console.log(`fleet-sim ${N} gateways: ready in ${(readyMs / 1000).toFixed(1)} s; RSS ${mb(rssN)} → ${((rssN - rss1) / 1024 / Math.max(1, N - 1)).toFixed(2)} MB per gateway beyond the first`);

    const good = await rollout([fx.good, '--broker', broker.url, '--group', 'lab', '--waves', '1,10,100', '--max-failures', '0', '--wave-timeout', '300']);
    const goodSummary = JSON.parse(good.stdout.trim().split('\n').pop()!) as { rollout: Record<string, unknown> };
    console.log(`good release, waves 1,10,100: exit ${good.code} in ${(good.ms / 1000).toFixed(1)} s (CLI start to exit); ${JSON.stringify(goodSummary.rollout)}; rollout CLI peak RSS ${mb(maxRss(good.stderr))}; ${good.waves}`);

    const crashSha = sha256Hex(Buffer.from(JSON.stringify(JSON.parse(await readFile(fx.crashing, 'utf8')))));
    const bad = await rollout([fx.crashing, '--broker', broker.url, '--group', 'lab', '--waves', '1,10,100', '--max-failures', '20%', '--wave-timeout', '300']);
    const badSummary = JSON.parse(bad.stdout.trim().split('\n').pop()!) as { rollout: Record<string, unknown> };
    console.log(`crashing release, waves 1,10,100, --max-failures 20%: exit ${bad.code} in ${(bad.ms / 1000).toFixed(1)} s; ${JSON.stringify(badSummary.rollout)}; rollout CLI peak RSS ${mb(maxRss(bad.stderr))}; ${bad.waves}`);
    await new Promise((r) => setTimeout(r, 2000));
    const received = new Set(envelopes.messages.filter((m) => m.payload && sha256Hex(Buffer.from(m.payload)) === crashSha).map((m) => m.topic.split('/')[2]!));
    const versions = await componentVersions(broker.url);
    const back = [...received].filter((id) => versions.get(id) === '1.1.0').length;
    const onGood = [...versions.values()].filter((v) => v === '1.1.0').length;
    console.log(`crashing release reached ${received.size} gateway(s) (envelopes seen on the broker); ${back} of them back on 1.1.0; ${onGood} of ${N} gateways run 1.1.0`);

    const code = await sim.stop();
    console.log(`fleet-sim ${N} gateways: peak RSS ${mb(maxRss(sim.stderr))} (includes the build worker that transpiled the two releases); exit ${code}`);
    await envelopes.stop();
  } finally {
    await broker.dispose();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await run();
