import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../runtime/engine.js';
import { readPrivateKeyFile } from '../../gateway/ota/keys.js';
import { buildRelease } from '../../gateway/ota/release.js';
import { Mosquitto } from '../helpers/mosquitto.js';
import { Recorder } from '../helpers/subscriber.js';
import { GatewayProcess } from '../helpers/gateway-process.js';
import { cliProcess } from '../helpers/cli.js';
import { buildMeter, COMPONENT, GATEWAY_ID, gatewayConfig, GatewayWatch, meterManifest, publishRaw, until, writeKeys, writeRelease } from './helpers.js';
import { bucketWithCount, buildMeterV2, meterV2Manifest, POLICY_V2, SIM_BME280 } from './storage-meter.js';

/**
 * OTA across world versions with storage (contract 7 and 7.1), on the real gateway process and a
 * real Mosquitto: `meter` moves from its 0.1.0 build to a 0.2.0 build that reads the simulated
 * BME280 over i2c and keeps a counter in storage; a 0.2.0 build that crashes in probation goes back
 * to the 0.1.0 build with the bucket as it stood at the swap; and a gateway SIGKILLed in probation
 * comes back on the old version with the bucket as it stood at the swap (the set-aside copy is on
 * disk). The bucket is read the way an operator would, with `airssys storage` (a child process),
 * while the gateway runs and after it stopped.
 */
let dir: string;
let broker: Mosquitto;
let operator: MqttClient;
let keys: { key: string; pub: string };
let v010: { wasm: string; yaml: string };
let warmCache: string;
const gateways = new Set<GatewayProcess>();

interface Built {
  bytes: Uint8Array;
  envelope: string;
  sha256: string;
}
const builds: Record<string, Uint8Array> = {};

function release(bytes: Uint8Array, manifest: Record<string, unknown>): Built {
  const env = buildRelease({ bytes, manifest, keys: [readPrivateKeyFile(keys.key)], chunkSize: 4096 });
  return { bytes, envelope: JSON.stringify(env), sha256: env.manifest.sha256 };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-ota-storage-'));
  broker = await new Mosquitto().start();
  operator = await mqtt.connectAsync(broker.url);
  keys = await writeKeys(dir, 'ota');
  builds.v010 = await buildMeter({ marker: 1 });
  v010 = await writeRelease(dir, 'v010', builds.v010, meterManifest('1.0.0'));
  builds.good = await buildMeterV2({ marker: 2, step: 1 });
  builds.jump = await buildMeterV2({ marker: 2, step: 1000 });
  builds.bad = await buildMeterV2({ marker: 3, step: 1000, trapAtTick: 10 });
  builds.base = await buildMeterV2({ marker: 1, step: 1 });
  // A warm compile cache per run: what is tested is the OTA, not how long a cold transpile takes.
  warmCache = join(dir, 'warm-cache');
  const engine = new Engine({ cacheDir: warmCache });
  for (const b of Object.values(builds)) await engine.prepare(b, { memoryMb: 16 });
}, 180_000);

afterAll(async () => {
  for (const g of gateways) g.kill();
  await operator?.endAsync();
  await broker?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Run {
  prefix: string;
  config: string;
  dataDir: string;
  telemetry: Recorder;
  watch: GatewayWatch;
}

async function setup(name: string, o: { components: unknown[]; bucket?: number; probationMs?: number }): Promise<Run> {
  const prefix = `ota-storage-${name}`;
  const dataDir = join(dir, name, 'var');
  await mkdir(join(dataDir, 'storage'), { recursive: true });
  await cp(warmCache, join(dataDir, 'cache'), { recursive: true });
  if (o.bucket !== undefined) await writeFile(join(dataDir, 'storage', `${COMPONENT}.json`), bucketWithCount(o.bucket));
  const config = join(dir, name, 'gateway.yaml');
  const raw = { ...gatewayConfig({ url: broker.url, dataDir, pub: keys.pub, prefix, probationMs: o.probationMs ?? 3000, components: o.components }), board: SIM_BME280, policy: POLICY_V2, storage: { 'flush-ms': 100 } };
  await writeFile(config, toYaml(raw));
  const telemetry = await new Recorder(broker.url, `${prefix}/gw/${GATEWAY_ID}/telemetry/${COMPONENT}/#`).start();
  const watch = await GatewayWatch.start(broker.url, prefix);
  return { prefix, config, dataDir, telemetry, watch };
}

async function dispose(run: Run): Promise<void> {
  await run.telemetry.stop();
  await run.watch.stop();
}

function start(run: Run, env: NodeJS.ProcessEnv = {}): GatewayProcess {
  const g = new GatewayProcess(run.config, GATEWAY_ID, { AIRSSYS_OTA_PAUSE_AT: '', ...env });
  gateways.add(g);
  g.child.once('exit', () => gateways.delete(g));
  return g;
}

const values = (run: Run, channel: string) => run.telemetry.json(`/${channel}`).map((m) => m.body.value as number);

/** `airssys storage get meter count --json` as an operator runs it; the counter, or the exit code and stderr. */
async function storedCount(run: Run, ...extra: string[]): Promise<{ count?: number; code: number; stderr: string }> {
  const r = await cliProcess(['storage', 'get', COMPONENT, 'count', '--config', run.config, '--json', ...extra]);
  if (r.code !== 0) return { code: r.code, stderr: r.stderr };
  const body = JSON.parse(r.stdout.trim()) as { base64?: string };
  return { count: Buffer.from(body.base64 ?? '', 'base64').readUInt32LE(0), code: 0, stderr: r.stderr };
}

async function countOnDisk(run: Run, cond: (n: number) => boolean, what: string, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last: Awaited<ReturnType<typeof storedCount>> | undefined;
  while (Date.now() < deadline) {
    last = await storedCount(run);
    if (last.count !== undefined && cond(last.count)) return last.count;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for the stored count to be ${what}; last: ${JSON.stringify(last)}`);
}

async function settlesOn(run: Run, marker: number, n = 10): Promise<void> {
  await until(() => {
    const tail = run.watch.samples.slice(-n);
    return tail.length === n && tail.every((s) => s.value === marker);
  }, 20_000, `${n} samples in a row from marker ${marker}; last: ${JSON.stringify(run.watch.samples.slice(-3))}`);
}

/**
 * After a rollback of a release that started on a bucket of 41: the swap-time bucket was written back
 * at once and the set-aside copy is gone; a clean stop leaves it at 41.
 */
async function expectSwapTimeBucket(run: Run, g: GatewayProcess): Promise<void> {
  expect((await storedCount(run)).count).toBe(41);
  expect(existsSync(join(run.dataDir, 'storage', `${COMPONENT}.at-swap.json`))).toBe(false);
  expect(await g.stop()).toBe(0);
  expect((await storedCount(run)).count).toBe(41);
}

describe('OTA from a 0.1.0 build to a 0.2.0 build (i2c and storage) and back', () => {
  it('the 0.2.0 build is committed, reads the BME280 over i2c and counts in storage; `airssys storage` reads the bucket while the gateway runs and after it stopped', async () => {
    const run = await setup('commit', { components: [{ source: v010.wasm, manifest: v010.yaml }] });
    try {
      const g = start(run);
      await g.running(90_000);
      await until(() => run.watch.samples.length >= 5, 30_000, 'telemetry from the 0.1.0 build');
      // The 0.1.0 build has no storage: its bucket is empty, and that is not an error.
      const empty = await cliProcess(['storage', 'ls', COMPONENT, '--config', run.config]);
      expect(empty).toMatchObject({ code: 0, stdout: '' });
      expect(empty.stderr).toMatch(/^0 key\(s\), 0 bytes in .*meter\.json \(nothing stored yet\)/);

      const good = release(builds.good!, meterV2Manifest('2.0.0'));
      const sha = await publishRaw(operator, { envelope: good.envelope, bytes: good.bytes, sha256: good.sha256, chunkSize: 4096, prefix: run.prefix });
      expect(await run.watch.final(sha, 0, 60_000)).toMatchObject({ phase: 'committed', version: '2.0.0' });
      await settlesOn(run, 2);
      // i2c: the simulated BME280's chip id; storage: a counter from 1, one per tick, no error.
      expect(values(run, 'chip').length).toBeGreaterThan(5);
      expect(new Set(values(run, 'chip'))).toEqual(new Set([0x60]));
      expect(values(run, 'err')).toEqual([]);
      const counts = values(run, 'count');
      expect(counts.slice(0, 5)).toEqual([1, 2, 3, 4, 5]);
      // The swapped-in build's channels got their seq reservations at the swap, as a started
      // component's do (docs/telemetry.md, "Full disk"): `err` too, though it published nothing, so
      // it can report a storage failure on a full disk. The reservation record beside the outbox shows it.
      const reserved = (JSON.parse(readFileSync(join(run.dataDir, 'telemetry.db.seq'), 'utf8')) as { streams: Array<{ channel: string }> }).streams.map((r) => r.channel);
      expect(reserved).toContain('err');

      // While the gateway runs (read-only, no lock): what was flushed, at most flush-ms behind.
      const seen = await countOnDisk(run, (n) => n >= 10, 'at least 10');
      expect(seen).toBeLessThanOrEqual(Math.max(...values(run, 'count')));
      const ls = await cliProcess(['storage', 'ls', COMPONENT, '--config', run.config, '--json']);
      expect(ls.code).toBe(0);
      expect(JSON.parse(ls.stdout)).toMatchObject({ component: COMPONENT, keys: [{ key: 'count', bytes: 4 }] });

      // A clean stop flushes everything: the bucket holds the last count published.
      expect(await g.stop()).toBe(0);
      expect((await storedCount(run)).count).toBe(Math.max(...values(run, 'count')));
    } finally {
      await dispose(run);
    }
  }, 240_000);

  it('a 0.2.0 build that crashes in probation goes back to the 0.1.0 build, and the bucket is as it stood at the swap', async () => {
    // The bucket an earlier tenure left: the 0.2.0 build counts on from it, the rollback puts it back.
    const run = await setup('rollback', { components: [{ source: v010.wasm, manifest: v010.yaml }], bucket: 41 });
    try {
      const g = start(run);
      await g.running(90_000);
      await until(() => run.watch.samples.length >= 5, 30_000, 'telemetry from the 0.1.0 build');
      const bad = release(builds.bad!, meterV2Manifest('2.0.0'));
      const sha = await publishRaw(operator, { envelope: bad.envelope, bytes: bad.bytes, sha256: bad.sha256, chunkSize: 4096, prefix: run.prefix });
      const final = await run.watch.final(sha, 0, 60_000);
      expect(final).toMatchObject({ phase: 'rolled-back', version: '2.0.0', reason: 'crashed-in-probation' });
      expect(final.detail).toMatch(/trap/);
      await settlesOn(run, 1);
      await until(() => run.watch.states.at(-1)?.version === '1.0.0', 10_000, 'retained state 1.0.0');
      // The 0.2.0 build did write: it counted on from 41 in steps of 1000 before it crashed.
      expect(values(run, 'count')[0]).toBe(1041);
      expect(values(run, 'count').length).toBeGreaterThanOrEqual(10);
      await expectSwapTimeBucket(run, g);
    } finally {
      await dispose(run);
    }
  }, 240_000);

  it('a first install over OTA that crashes in probation is removed, and the bucket an earlier install left is as it was', async () => {
    const run = await setup('install', { components: [], bucket: 41 });
    try {
      const g = start(run);
      await g.running(90_000);
      const bad = release(builds.bad!, meterV2Manifest('2.0.0'));
      const sha = await publishRaw(operator, { envelope: bad.envelope, bytes: bad.bytes, sha256: bad.sha256, chunkSize: 4096, prefix: run.prefix });
      expect(await run.watch.final(sha, 0, 60_000)).toMatchObject({ phase: 'rolled-back', version: '2.0.0', reason: 'crashed-in-probation' });
      expect(values(run, 'count')[0]).toBe(1041);
      await until(() => run.watch.states.at(-1)?.state === 'stopped', 10_000, `retained state stopped; saw ${JSON.stringify(run.watch.states.slice(-2))}`);
      await expectSwapTimeBucket(run, g);
    } finally {
      await dispose(run);
    }
  }, 240_000);

  it('SIGKILL in probation: after the restart the old version runs on the bucket as it stood at the swap', async () => {
    // A 0.2.0 base counting by 1; the release counts by 1000, so whose writes the bucket holds is plain.
    const base = await writeRelease(join(dir), 'base', builds.base!, meterV2Manifest('1.5.0'));
    const run = await setup('kill', { components: [{ source: base.wasm, manifest: base.yaml }] });
    try {
      const g1 = start(run, { AIRSSYS_OTA_PAUSE_AT: 'probation' });
      await g1.running(90_000);
      await until(() => values(run, 'count').length >= 5, 30_000, 'counts from 1.5.0');
      const jump = release(builds.jump!, meterV2Manifest('2.0.0'));
      await publishRaw(operator, { envelope: jump.envelope, bytes: jump.bytes, sha256: jump.sha256, chunkSize: 4096, prefix: run.prefix });
      await until(() => g1.stdout.includes('paused at probation'), 60_000, `the pause hook at probation; stdout: ${g1.stdout.slice(-1500)}`);
      // The copy kept aside at the swap is on disk; the operator can read it (the swap-time count).
      const aside = await storedCount(run, '--at-swap');
      expect(aside.code).toBe(0);
      const atSwap = aside.count!;
      expect(atSwap).toBeGreaterThanOrEqual(5);
      // 2.0.0 serves and its writes reach the disk before the power goes.
      await countOnDisk(run, (n) => n >= atSwap + 3000, `at least ${atSwap + 3000} (2.0.0's writes flushed)`);
      await g1.sigkill();
      expect((await storedCount(run, '--at-swap')).count).toBe(atSwap);

      const restartAt = run.watch.statuses.length;
      const countsBefore = values(run, 'count').length;
      const g2 = start(run);
      await g2.running(90_000);
      await until(() => run.watch.statuses.slice(restartAt).some((s) => s.phase === 'rolled-back'), 30_000, `rolled-back after the restart; stdout: ${g2.stdout.slice(-1500)}`);
      expect(run.watch.statuses.slice(restartAt).find((s) => s.phase === 'rolled-back')?.detail).toMatch(/gateway restarted during probation of 2\.0\.0; back on the configured version/);
      expect(g2.matching(/restored the bucket of meter as it stood when 2\.0\.0 was swapped in/)).toHaveLength(1);
      await until(() => values(run, 'count').slice(countsBefore).some((v) => v > atSwap && v < atSwap + 1000), 30_000, 'a count from 1.5.0 after the restart');
      // 1.5.0 counts on from the swap-time value (2.0.0's samples still in the outbox may come again:
      // at-least-once; they are the ones ≥ atSwap + 1000).
      const resumed = values(run, 'count').slice(countsBefore).filter((v) => v > atSwap && v < atSwap + 1000);
      expect(resumed[0]).toBe(atSwap + 1);
      resumed.forEach((v, i) => expect(v).toBe(atSwap + 1 + i));
      const noCopy = await storedCount(run, '--at-swap');
      expect(noCopy.code).toBe(1);
      expect(noCopy.stderr).toMatch(/^error: no copy of meter's bucket is kept aside/);
      expect(await g2.stop()).toBe(0);
      // The clean stop flushed the last count 1.5.0 published.
      const final = (await storedCount(run)).count!;
      const lastPublished = () => Math.max(...values(run, 'count').slice(countsBefore).filter((v) => v < atSwap + 1000));
      await until(() => lastPublished() === final, 10_000, `the last published count to be the stored ${final}`);
    } finally {
      await dispose(run);
    }
  }, 300_000);
});
