import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillDisk, mountTmpfs, unmountTmpfs } from '../helpers/tmpfs.js';
import { Engine } from '../../runtime/engine.js';
import { Mosquitto, sleep, until } from '../helpers/mosquitto.js';
import { Recorder } from '../helpers/subscriber.js';
import { backlogCommitted, walBytes } from '../helpers/outbox-wal.js';
import { buildMeter, CHANNEL, COMPONENT, GATEWAY_ID, gatewayConfig, meterManifest, writeRelease } from '../ota-e2e/helpers.js';

/**
 * The real gateway process with its data dir on a small tmpfs that a filler file fills up: the
 * process keeps running, telemetry that cannot be stored is held in memory up to
 * telemetry.memory-max-bytes and dropped beyond (counted as `disk-full` in the health topic), and once
 * the filler is gone samples are stored again: they survive a SIGKILL and are published after restart.
 * Needs root (mount); skipped with the reason otherwise.
 */
const PREFIX = 'diskfull';
const TICK_MS = 10; // 100 Hz

let dir: string;
let dataDir: string;
let mounted = false;
let skipReason: string | undefined;
let release: { wasm: string; yaml: string };
let warmCache: string;
const children = new Set<ChildProcess>();
let broker: Mosquitto | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airssys-diskfull-'));
  dataDir = join(dir, 'var');
  await mkdir(dataDir);
  // 3 MiB: the warm compile cache and the outbox fit, with room the filler then takes.
  skipReason = mountTmpfs(dataDir, '3m');
  if (skipReason) return;
  mounted = true;
  const bytes = await buildMeter({ marker: 1 });
  release = await writeRelease(dir, 'meter', bytes, meterManifest('1.0.0', { 'tick-ms': TICK_MS }));
  warmCache = join(dir, 'warm-cache');
  await new Engine({ cacheDir: warmCache }).prepare(bytes, { memoryMb: 16 });
  await cp(warmCache, join(dataDir, 'cache'), { recursive: true });
}, 60_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await broker?.dispose();
  if (mounted) await unmountTmpfs(dataDir);
  if (dir) await rm(dir, { recursive: true, force: true });
});

function launch(config: string) {
  const child = spawn(process.execPath, ['bin/airssys.mjs', 'start', '--config', config], { env: { ...process.env, AIRSSYS_FROM_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return {
    child,
    output: () => out,
    running: () => until(() => out.includes(`${GATEWAY_ID} running`) || child.exitCode !== null, 30_000, `the gateway to start; output: ${out}`).then(() => {
      if (child.exitCode !== null) throw new Error(`the gateway exited (${child.exitCode}): ${out}`);
    }),
  };
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

interface Health {
  outbox: { dropped: Record<string, number>; writable: boolean; storageError?: string };
}

describe('the real gateway with its data dir on a full filesystem', () => {
  it('keeps running, drops what does not fit as disk-full, and stores again once space is freed', async (ctx) => {
    if (skipReason) return ctx.skip(skipReason);
    broker = new Mosquitto({ persistence: true });
    await broker.start();
    const rec = await new Recorder(broker.url, `${PREFIX}/gw/${GATEWAY_ID}/#`, { clientId: 'rec-diskfull', persistent: true }).start();
    const samples = () => rec.json(`/telemetry/${COMPONENT}/${CHANNEL}`).map((m) => ({ seq: m.body.seq as number, ts: m.body.ts as number }));
    const healths = () => rec.json('/health').map((m) => m.body as unknown as Health);

    const raw = gatewayConfig({ url: broker.url, dataDir, pub: '', prefix: PREFIX, components: [{ source: release.wasm, manifest: release.yaml }] });
    delete raw.ota;
    // A small memory bound (~2 s of this component) so drops come quickly; a short flush interval.
    raw.telemetry = { ...(raw.telemetry as object), 'commit-interval-ms': 500, 'memory-max-bytes': 16384 };
    raw.log = { level: 'info' };
    const config = join(dir, 'gateway.yaml');
    await writeFile(config, toYaml(raw));

    const g1 = launch(config);
    const filler = join(dataDir, 'filler');
    try {
      await g1.running();
      await until(() => samples().length >= 20, 20_000, `live samples; output: ${g1.output()}`);

      // Full disk, broker away: nothing can be published nor stored.
      const filled = fillDisk(filler);
      expect(filled).toBeGreaterThan(0);
      await broker.stop();
      await until(() => g1.output().includes('cannot write'), 20_000, `the outbox to report the full disk; output: ${g1.output()}`);
      await sleep(4000); // > 2x what 16 KiB holds at 100 Hz: the oldest held samples are dropped
      expect(g1.child.exitCode, g1.output()).toBeNull();

      // Broker back, disk still full: the drops are in the health topic, the process is alive,
      // and live samples are published again straight from memory.
      await broker.start();
      const backAt = Date.now();
      await until(() => healths().some((h) => !h.outbox.writable && (h.outbox.dropped['disk-full'] ?? 0) > 0), 20_000, `health with disk-full drops; saw ${JSON.stringify(healths().slice(-1))}; output: ${g1.output()}`);
      await until(() => samples().some((s) => s.ts > backAt + 500), 20_000, `live samples on the full disk; output: ${g1.output()}`);
      expect(g1.child.exitCode, g1.output()).toBeNull();

      // Space freed: the outbox notices by itself (retries every second; docs say within 5 s).
      await rm(filler);
      const freedAt = Date.now();
      const seen = healths().length;
      await until(() => healths().slice(seen).some((h) => h.outbox.writable), 30_000, `health writable again; output: ${g1.output()}`);
      expect(g1.output()).toContain('writable again');

      // Stored again: with the broker away the samples go to disk, and survive a SIGKILL.
      const wal = walBytes(dataDir);
      await broker.stop();
      const downAt = Date.now();
      // One backlog commit (16 KiB held, ~2.7 s at 100 Hz; docs/telemetry.md), and a little more.
      await backlogCommitted(dataDir, wal, `a backlog commit before the SIGKILL; output: ${g1.output()}`);
      await sleep(500);
      await kill(g1.child);
      const killedAt = Date.now();
      expect(downAt).toBeGreaterThan(freedAt);

      await broker.start();
      const g2 = launch(config);
      await g2.running();
      // The samples made while the broker was down after the space came back arrive (from disk).
      await until(() => samples().filter((s) => s.ts > downAt + 200 && s.ts < killedAt - 1500).length > 50, 30_000, `stored samples after restart; output: ${g2.output()}`);
      await until(() => samples().some((s) => s.ts > Date.now() - 2000), 20_000, `live samples after restart; output: ${g2.output()}`);
      await kill(g2.child);
    } finally {
      await kill(g1.child);
      await rm(filler, { force: true });
      await rec.stop();
    }
  }, 150_000);
});
