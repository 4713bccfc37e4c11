import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillDisk, mountTmpfs, unmountTmpfs } from '../helpers/tmpfs.js';
import { Engine } from '../../runtime/engine.js';
import { GatewayProcess } from '../helpers/gateway-process.js';
import { Mosquitto, sleep, until } from '../helpers/mosquitto.js';
import { storageCounter } from '../helpers/storage-components.js';
import { Recorder } from '../helpers/subscriber.js';

/**
 * Issue 12, storage part: the real gateway process with its data dir on a small tmpfs that a filler
 * file fills up. The component's storage sets are refused as `limited` (it publishes err = 103), the
 * gateway keeps running and says so once, and when the filler goes the bucket is written again by
 * itself and the component counts on. Needs root (mount); skipped with the reason otherwise.
 */
const ID = 'gw-store-full';
let dir: string;
let dataDir: string;
let skipReason: string | undefined;
let mounted = false;
let broker: Mosquitto | undefined;
let gw: GatewayProcess | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-store-full-'));
  dataDir = join(dir, 'var');
  await mkdir(dataDir);
  skipReason = mountTmpfs(dataDir, '3m');
  if (skipReason) return;
  mounted = true;
  const bytes = await storageCounter();
  await writeFile(join(dir, 'counter.wasm'), bytes);
  // Compiled into the tmpfs before it fills: what is tested is storage, not a cold build.
  await new Engine({ cacheDir: join(dataDir, 'cache') }).prepare(bytes, { memoryMb: 16 });
  await writeFile(join(dir, 'counter.yaml'), toYaml({ name: 'counter', version: '1.0.0', 'tick-ms': 50, capabilities: { telemetry: ['count', 'err'], storage: { 'max-bytes': 1024, 'max-keys': 8 } }, limits: { 'memory-mb': 16 } }));
  broker = await new Mosquitto().start();
}, 120_000);

afterAll(async () => {
  gw?.kill();
  await broker?.dispose();
  if (mounted) await unmountTmpfs(dataDir);
  if (dir) await rm(dir, { recursive: true, force: true });
});

const storedCount = (): number | undefined => {
  try {
    const entries = JSON.parse(readFileSync(join(dataDir, 'storage', 'counter.json'), 'utf8')).entries as Record<string, string>;
    return Buffer.from(entries.count!, 'base64').readUInt32LE(0);
  } catch {
    return undefined;
  }
};

describe('storage on a full filesystem, in the real gateway', () => {
  it('sets are refused as limited, the gateway keeps running, and persistence resumes once space is freed', async (ctx) => {
    if (skipReason) return ctx.skip(skipReason);
    const rec = await new Recorder(broker!.url, `airssys/gw/${ID}/telemetry/counter/#`).start();
    const counts = () => rec.json('/count').map((m) => m.body.value as number);
    const errs = () => rec.json('/err').map((m) => m.body.value as number);
    const config = join(dir, 'gateway.yaml');
    await writeFile(config, toYaml({
      gateway: { id: ID, 'data-dir': dataDir },
      mqtt: { url: broker!.url },
      board: 'sim',
      storage: { 'flush-ms': 200 },
      telemetry: { 'commit-interval-ms': 500 },
      policy: { roles: { r: { telemetry: ['*'], storage: { 'max-bytes': 4096, 'max-keys': 64 } } }, components: { counter: ['r'] } },
      components: [{ source: join(dir, 'counter.wasm'), manifest: join(dir, 'counter.yaml') }],
      log: { level: 'info' },
    }));
    const filler = join(dataDir, 'filler');
    try {
      gw = new GatewayProcess(config, ID);
      await gw.running(90_000);
      await until(() => (storedCount() ?? 0) >= 5, 60_000, `a flushed count; stdout: ${gw.stdout.slice(-1500)}`);

      fillDisk(filler);
      await until(() => errs().length >= 5, 30_000, `limited refusals; stdout: ${gw.stdout.slice(-1500)}`);
      expect(new Set(errs())).toEqual(new Set([103])); // 100 + limited
      expect(gw.matching(/filesystem is full/)).toHaveLength(1);
      const full = gw.matching(/filesystem is full/)[0]!;
      expect(full).toMatchObject({ source: 'storage', full: true });
      expect(full.msg).toMatch(/refused as limited.*free space on it$/);
      await sleep(1500); // retries (every second) are not logged again
      expect(gw.matching(/filesystem is full/)).toHaveLength(1);
      expect(gw.child.exitCode, gw.stdout.slice(-1500)).toBeNull();
      const lastBefore = Math.max(...counts());
      const countsWhileFull = counts().length;

      await rm(filler);
      await gw.waitFor(/buckets are written again/, 30_000);
      // Counting on, from where the bucket stood (nothing lost, nothing counted twice)...
      await until(() => counts().length > countsWhileFull, 30_000, 'counts after the space came back');
      const after = counts().slice(countsWhileFull);
      expect(after[0]).toBeGreaterThan(lastBefore);
      expect(after[0]).toBeLessThanOrEqual(lastBefore + 2); // at most the one set accepted before the flush failed
      after.forEach((v, i) => expect(v).toBe(after[0]! + i));
      // ...and durably: the file follows.
      await until(() => (storedCount() ?? 0) >= after[0]!, 30_000, 'the bucket file written again');
      expect(await gw.stop()).toBe(0);
      await until(() => storedCount() === Math.max(...counts()), 10_000, `the last count stored (${storedCount()} vs ${Math.max(...counts())})`);
    } finally {
      gw?.kill();
      await rm(filler, { force: true });
      await rec.stop();
    }
  }, 300_000);
});
