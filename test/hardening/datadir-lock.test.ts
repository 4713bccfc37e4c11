import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_FILE, processStartTime } from '../../gateway/datadir/lock.js';
import { Mosquitto } from '../helpers/mosquitto.js';
import { buildMeter, GatewayWatch, meterManifest, writeKeys, writeRelease } from '../ota-e2e/helpers.js';
import { killAll, launch, setupGateway, signal, stackLines, warmCache, type Setup } from './helpers.js';

/**
 * One gateway per data directory, with real gateway processes: a second `airssys start` on the
 * same data dir refuses with one line naming the holder; a lock left by a SIGKILLed gateway (or
 * naming a PID that now belongs to another process) is taken over; a clean stop releases it.
 */
let dir: string;
let broker: Mosquitto;
let run: Setup;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-lock-'));
  broker = await new Mosquitto().start();
  const keys = await writeKeys(dir, 'ota');
  const bytes = await buildMeter({ marker: 1 });
  const v100 = await writeRelease(dir, 'v100', bytes, meterManifest('1.0.0'));
  const cache = await warmCache(dir, [bytes]);
  run = await setupGateway(dir, 'lock', { url: broker.url, pub: keys.pub, cache, components: [{ source: v100.wasm, manifest: v100.yaml }] });
}, 120_000);

afterAll(async () => {
  killAll();
  await broker?.dispose();
});

const lockPath = () => join(run.dataDir, LOCK_FILE);

describe('one gateway per data directory', () => {
  it('a second start on the same data dir exits 1 with one line naming the holder; the first keeps running', async () => {
    const watch = await GatewayWatch.start(broker.url, run.prefix);
    try {
      const g1 = launch(run.config);
      await g1.running();
      const held = JSON.parse(await readFile(lockPath(), 'utf8')) as { pid: number; host: string };
      expect(held).toMatchObject({ pid: g1.child.pid, host: hostname() });

      const g2 = launch(run.config);
      expect(await g2.exited).toBe(1);
      const lines = g2.output().trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^error: data directory .* is in use by another gateway \(pid \d+/);
      expect(lines[0]).toContain(`pid ${g1.child.pid}`);
      expect(lines[0]).toContain(`kill ${g1.child.pid}`);
      expect(stackLines(g2.output())).toEqual([]);

      // The first one was not disturbed: it still publishes, and the lock is still its own.
      await watch.more(5);
      expect(g1.child.exitCode).toBeNull();
      expect(JSON.parse(await readFile(lockPath(), 'utf8')).pid).toBe(g1.child.pid);

      // Clean stop releases the lock.
      await signal(g1.child, 'SIGTERM');
      expect(await g1.exited).toBe(0);
      expect(existsSync(lockPath())).toBe(false);
    } finally {
      await watch.stop();
    }
  }, 180_000);

  it('a lock left by a SIGKILLed gateway is taken over, with a log line saying so', async () => {
    const g1 = launch(run.config);
    await g1.running();
    await signal(g1.child, 'SIGKILL');
    expect(JSON.parse(await readFile(lockPath(), 'utf8')).pid).toBe(g1.child.pid);

    const g2 = launch(run.config);
    await g2.running();
    expect(g2.output()).toContain('took over the data directory lock');
    expect(g2.output()).toContain(`pid ${g1.child.pid} is not running`);
    expect(JSON.parse(await readFile(lockPath(), 'utf8')).pid).toBe(g2.child.pid);
    await signal(g2.child, 'SIGTERM');
    expect(existsSync(lockPath()), `lock left after a clean stop: ${existsSync(lockPath()) ? await readFile(lockPath(), 'utf8') : ''} (g2 pid ${g2.child.pid}, exit ${g2.child.exitCode}); output: ${g2.output()}`).toBe(false);
  }, 180_000);

  it('a lock naming a live PID with another start time (PID reused) is taken over; a torn lock too', async () => {
    // This test process is alive; the lock claims it started at another time: the PID was reused.
    await writeFile(lockPath(), JSON.stringify({ pid: process.pid, start: '1', host: hostname(), since: 'then' }));
    const g1 = launch(run.config);
    await g1.running();
    expect(g1.output()).toContain(`pid ${process.pid} is now another process (reused)`);
    await signal(g1.child, 'SIGTERM');

    await writeFile(lockPath(), '{"pid":12'); // a power cut while the lock was being created
    const g2 = launch(run.config);
    await g2.running();
    expect(g2.output()).toContain('unreadable lock file');
    await signal(g2.child, 'SIGTERM');
  }, 180_000);

  it('two gateways started at the same moment on a data dir with a stale lock: exactly one runs', async () => {
    await writeFile(lockPath(), JSON.stringify({ pid: 999_999_999, start: '1', host: hostname(), since: 'long ago' }));
    const a = launch(run.config);
    const b = launch(run.config);
    // The loser exits 1 naming the winner; the winner runs.
    const loser = await Promise.race([a.exited.then(() => a), b.exited.then(() => b)]);
    const winner = loser === a ? b : a;
    expect(loser.child.exitCode).toBe(1);
    expect(loser.output()).toContain(`in use by another gateway (pid ${winner.child.pid}`);
    await winner.running();
    expect(JSON.parse(await readFile(lockPath(), 'utf8')).pid).toBe(winner.child.pid);
    await signal(winner.child, 'SIGTERM');
    expect(existsSync(lockPath())).toBe(false);
  }, 180_000);

  it('a lock naming a live process with its real start time is respected', async () => {
    const start = processStartTime(process.pid);
    expect(start, '/proc is readable here').toBeDefined();
    await writeFile(lockPath(), JSON.stringify({ pid: process.pid, start, host: hostname(), since: 'now' }));
    const g = launch(run.config);
    expect(await g.exited).toBe(1);
    expect(g.output()).toContain(`in use by another gateway (pid ${process.pid}`);
    // The refused gateway did not remove the lock it does not own.
    expect(JSON.parse(await readFile(lockPath(), 'utf8')).pid).toBe(process.pid);
  }, 120_000);
});
