import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactTopic } from '../../gateway/ota/chunks.js';
import { sha256Hex } from '../../gateway/ota/envelope.js';
import { readPrivateKeyFile } from '../../gateway/ota/keys.js';
import { buildRelease } from '../../gateway/ota/release.js';
import { OtaStore } from '../../gateway/ota/store.js';
import { OtaUpdater, type UpdaterOptions } from '../../gateway/ota/updater.js';
import { Mosquitto } from '../helpers/mosquitto.js';
import { fakeComponent, FakeHost, makeRelease, newKey, Watcher, type ReleaseFixture } from '../ota/helpers.js';
import { buildMeter, GatewayWatch, meterManifest, publishRaw, until, writeKeys, writeRelease } from '../ota-e2e/helpers.js';
import { killAll, launch, setupGateway, signal, warmCache } from './helpers.js';
import { topics } from '../../gateway/mqtt/topics.js';

/**
 * `no-space` (contract 7.4): a data directory that cannot hold a release. On a real, small tmpfs:
 * the forecast before the download (real gateway process), ENOSPC while chunks are written and
 * while the release is staged (updater with the real store and a real Mosquitto; the disk is
 * filled at the exact moment through the test's host). Each time: rejected with `no-space`, the
 * partial files gone, the running version still running, nothing on disk changed but the status.
 */
let dir: string;
let broker: Mosquitto;
let operator: MqttClient;
let tmpfsProblem: string | undefined;
const mounts: string[] = [];
const key = newKey();
let n = 0;

function mountTmpfs(kb: number): string {
  const at = mkdtempSync(join(tmpdir(), 'airssys-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${kb}k`, 'tmpfs', at], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount -t tmpfs failed: ${(r.stderr || r.error?.message || '').trim()}`);
  mounts.push(at);
  return at;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airssys-nospace-'));
  try {
    const probe = mountTmpfs(64);
    spawnSync('umount', [probe]);
    mounts.pop();
  } catch (err) {
    tmpfsProblem = (err as Error).message;
    console.warn(`no-space tests skipped: ${tmpfsProblem} (they need root to mount a small tmpfs)`);
  }
  broker = await new Mosquitto().start();
  operator = await mqtt.connectAsync(broker.url);
}, 60_000);

afterAll(async () => {
  killAll();
  for (const m of mounts) spawnSync('umount', ['-l', m]);
  await operator?.endAsync();
  await broker?.dispose();
});

/** Fills the filesystem holding `at` to the last byte; returns the ballast file. */
function fill(at: string): string {
  const file = join(at, 'ballast');
  const fd = openSync(file, 'a');
  const block = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  }
  // The last partial block.
  try {
    for (;;) writeSync(fd, block.subarray(0, 1));
  } catch {
    /* full */
  }
  closeSync(fd);
  return file;
}

/** Every file under `root` (but the ballast) with the SHA-256 of its bytes: "what is on disk". */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (e === 'ballast') continue;
      if (statSync(p).isDirectory()) {
        out[`${p.slice(root.length)}/`] = '';
        walk(p);
      } else out[p.slice(root.length)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(root);
  return out;
}

/** An updater on the real store in `dataDir` (a tmpfs), a host running thermo 1.0.0, Mosquitto. */
async function rig(dataDir: string, over: Partial<UpdaterOptions> = {}) {
  const prefix = `nospace${++n}`;
  const store = await OtaStore.open(dataDir);
  const gw = await mqtt.connectAsync(broker.url);
  const host = new FakeHost({ thermo: '1.0.0' });
  const updater = new OtaUpdater({ mqtt: gw, store, host, gatewayId: 'gw-1', prefix, trustedKeys: [key.pub], probationMs: 200, chunkIdleTimeoutMs: 3000, spaceMarginBytes: 0, ...over });
  await updater.start();
  const status = await Watcher.on(broker.url, `${prefix}/gw/gw-1/ota/+/status`);
  const topic = topics.ota(prefix, 'gw-1', 'thermo');
  const publishChunks = async (rel: ReleaseFixture, which: (i: number) => boolean) => {
    const m = rel.manifest;
    for (let i = 0; i < m.chunks; i++) {
      if (!which(i)) continue;
      await operator.publishAsync(artifactTopic(prefix, m.sha256, i), Buffer.from(rel.bytes.subarray(i * m.chunkSize, Math.min(m.size, (i + 1) * m.chunkSize))), { qos: 1, retain: true });
    }
  };
  const final = (rel: ReleaseFixture) => status.next((m) => m.body.envelope === sha256Hex(rel.payload) && ['committed', 'rejected', 'rolled-back'].includes(m.body.phase as string));
  const phases = (rel: ReleaseFixture) => status.json().map((m) => m.body).filter((b) => b.envelope === sha256Hex(rel.payload)).map((b) => b.phase);
  const close = async () => {
    await updater.stop();
    await status.close();
    await gw.endAsync();
  };
  return { prefix, store, host, updater, status, topic, publishChunks, final, phases, close };
}

const rel = (version: string, size: number, chunkSize: number) => makeRelease({ version, keys: [key.priv], bytes: fakeComponent(version, size), chunkSize });
const partialFiles = (dataDir: string) => {
  try {
    return readdirSync(join(dataDir, 'ota-partial'), { recursive: true });
  } catch {
    return [];
  }
};

describe('no-space: the data directory cannot hold the release', () => {
  it('forecast before the download (real gateway on a small tmpfs): rejected, the running version keeps running', async (ctx) => {
    if (tmpfsProblem) return ctx.skip();
    const keys = await writeKeys(dir, 'ota');
    const bytes = await buildMeter({ marker: 1 });
    const v100 = await writeRelease(dir, 'v100', bytes, meterManifest('1.0.0'));
    const cache = await warmCache(dir, [bytes]);
    const dataDir = mountTmpfs(6 * 1024);
    const run = await setupGateway(dir, 'forecast', { url: broker.url, pub: keys.pub, cache, dataDir, maxArtifactBytes: 8_000_000, components: [{ source: v100.wasm, manifest: v100.yaml }] });
    const watch = await GatewayWatch.start(broker.url, run.prefix);
    try {
      const g = launch(run.config);
      await g.running();
      await watch.more(5);
      // 3 MB declared: 3 × 3 MB + 1 MiB headroom cannot fit in 6 MiB. No chunk needs to exist.
      const big = buildRelease({ bytes: fakeComponent('big', 3_000_000), manifest: meterManifest('1.1.0'), keys: [readPrivateKeyFile(keys.key)], chunkSize: 65536 });
      const envSha = await publishRaw(operator, { envelope: JSON.stringify(big), prefix: run.prefix });
      const final = await watch.final(envSha);
      expect(final).toMatchObject({ phase: 'rejected', reason: 'no-space', version: '1.1.0' });
      expect(final.detail).toContain(`the data directory ${dataDir} has`);
      expect(watch.about(envSha).map((s) => s.phase)).toEqual(['received', 'rejected']);
      // Still 1.0.0, still publishing; nothing of the release on disk.
      const after = await watch.more(5);
      expect(after.every((s) => s.value === 1)).toBe(true);
      expect(partialFiles(dataDir)).toEqual([]);
      expect(() => readdirSync(join(dataDir, 'components'))).toThrow();
      await signal(g.child, 'SIGTERM');
      expect(await g.exited).toBe(0);
    } finally {
      await watch.stop();
    }
  }, 180_000);

  it('ENOSPC while chunks are written: rejected no-space, partial chunks removed; after freeing space the same release commits', async (ctx) => {
    if (tmpfsProblem) return ctx.skip();
    const dataDir = mountTmpfs(1024);
    const r = await rig(dataDir);
    try {
      const v11 = rel('1.1.0', 100_000, 8192);
      const before = snapshot(dataDir);
      await r.publishChunks(v11, (i) => i < 3);
      await operator.publishAsync(r.topic, v11.payload, { qos: 1, retain: true });
      await until(() => partialFiles(dataDir).filter((f) => String(f).endsWith('.chunk')).length === 3, 20_000, 'three chunks on disk');
      const ballast = fill(dataDir);
      await r.publishChunks(v11, (i) => i >= 3);
      const final = await r.final(v11);
      expect(final).toMatchObject({ phase: 'rejected', reason: 'no-space' });
      expect(final.detail).toMatch(/writing chunk \d+ to .*ENOSPC/);
      expect(partialFiles(dataDir)).toEqual([]);
      // The (now empty) partial-download folder itself may stay; nothing in it does.
      const after = snapshot(dataDir);
      delete after['/ota-partial/'];
      expect(after).toEqual(before);
      expect(r.host.running.get('thermo')).toBe('1.0.0');
      expect(r.host.calls).toEqual([]);

      // Space freed: the retained envelope, seen again, goes through (no-space is not remembered as final).
      rmSync(ballast);
      await operator.publishAsync(r.topic, v11.payload, { qos: 1, retain: true });
      await until(() => r.phases(v11).includes('committed'), 20_000, `committed after freeing space; saw ${JSON.stringify(r.phases(v11))}`);
      expect(r.host.running.get('thermo')).toBe('1.1.0');
    } finally {
      await r.close();
    }
  }, 120_000);

  it('ENOSPC while the release is staged: rejected no-space, the store exactly as it was, the committed version still runs', async (ctx) => {
    if (tmpfsProblem) return ctx.skip();
    const dataDir = mountTmpfs(1024);
    const r = await rig(dataDir);
    try {
      // A committed 1.1.0 first, so "as it was" has pointers, a floor and a version directory.
      const v11 = rel('1.1.0', 20_000, 8192);
      await r.publishChunks(v11, () => true);
      await operator.publishAsync(r.topic, v11.payload, { qos: 1, retain: true });
      expect(await r.final(v11)).toMatchObject({ phase: 'committed' });
      const before = snapshot(dataDir);

      const v12 = rel('1.2.0', 100_000, 8192);
      // The disk fills up while the downloaded release is being verified, i.e. right before staging.
      let ballast = '';
      const validate = r.host.validate.bind(r.host);
      r.host.validate = async (bytes, manifest) => {
        await validate(bytes, manifest);
        ballast = fill(dataDir);
      };
      await r.publishChunks(v12, () => true);
      await operator.publishAsync(r.topic, v12.payload, { qos: 1, retain: true });
      const final = await r.final(v12);
      expect(final).toMatchObject({ phase: 'rejected', reason: 'no-space' });
      expect(final.detail).toContain(`storing thermo 1.2.0 in ${r.store.versionDir('thermo', '1.2.0')}`);
      expect(r.phases(v12)).toContain('verifying');
      expect(snapshot(dataDir)).toEqual(before);
      expect(r.host.running.get('thermo')).toBe('1.1.0');
      expect(r.store.state('thermo')).toMatchObject({ current: { version: '1.1.0' }, floor: '1.1.0' });
      expect(r.store.state('thermo').pending).toBeUndefined();
      rmSync(ballast);
    } finally {
      await r.close();
    }
  }, 120_000);
});

