import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetrySample } from '../../drivers/pipeline/host-calls.js';
import { createSimBoard } from '../../drivers/sim-board.js';
import { FileStore, MemoryStore, type BucketStore } from '../../drivers/storage/store.js';
import { ComponentService } from '../../gateway/component/component-service.js';
import { Engine } from '../../runtime/engine.js';
import { parseManifest } from '../../runtime/manifest.js';
import { storageCounter } from '../helpers/storage-components.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A 0.2.0 component keeping a counter in storage, run by a ComponentService as the gateway runs it:
 * through the jco glue (inline) and through the worker channel (isolation: worker), across a crash.
 */
let engine: Engine;
let services: ComponentService[] = [];
beforeAll(async () => {
  engine = new Engine({ cacheDir: join(await mkdtemp(join(tmpdir(), 'airssys-storage-svc-')), 'cache') });
});
afterEach(async () => {
  for (const s of services) await s.stop();
  services = [];
});

interface Sample {
  channel: string;
  value: number;
}

async function start(name: string, store: BucketStore, extra: Record<string, unknown> = {}, config: Record<string, string> = {}) {
  const samples: Sample[] = [];
  const manifest = parseManifest({
    name,
    version: '1.0.0',
    'tick-ms': 10,
    capabilities: { telemetry: ['*'], storage: { 'max-bytes': 1024, 'max-keys': 8 }, messaging: { receive: ['#'] }, config },
    restart: { policy: 'permanent', intensity: 50, 'period-ms': 60_000 },
    ...extra,
  });
  const svc = new ComponentService({
    manifest,
    prepared: await engine.prepare(await storageCounter(), { memoryMb: 16 }),
    board: createSimBoard(),
    storage: store,
    sinks: { telemetry: (channel: string, s: TelemetrySample) => void samples.push({ channel, value: (s as { value: number }).value }), message: () => {}, log: () => {} },
    backoff: { baseMs: 5, maxMs: 20 },
  });
  services.push(svc);
  await svc.start();
  return { svc, samples, counts: () => samples.filter((s) => s.channel === 'count').map((s) => s.value) };
}

describe('storage from a 0.2.0 component', () => {
  for (const isolation of ['inline', 'worker'] as const) {
    it(`${isolation}: get and set keep a counter; delete and list-keys answer through the glue`, async () => {
      const store = new MemoryStore();
      const c = await start('counter', store, { isolation });
      await waitFor(() => c.counts().length >= 3, 30_000);
      expect(c.counts().slice(0, 3)).toEqual([1, 2, 3]);
      c.svc.deliverMessage('test', 'reset', new Uint8Array());
      await waitFor(() => c.samples.some((s) => s.channel === 'keys'), 30_000);
      expect(c.samples.find((s) => s.channel === 'deleted')?.value).toBe(1);
      expect(c.samples.find((s) => s.channel === 'keys')?.value).toBe(0);
    });
  }

  it('the bucket survives a crash of the component: the restarted instance counts on', async () => {
    const store = new FileStore({ dir: join(await mkdtemp(join(tmpdir(), 'airssys-crash-')), 'storage'), flushMs: 60_000 });
    // Traps right after storing 3: the restart must read 3, not start over.
    const c = await start('crasher', store, {}, { 'trap-at': '3' });
    await waitFor(() => c.counts().length >= 4, 30_000);
    expect(c.counts().slice(0, 4)).toEqual([1, 2, 4, 5]);
    expect(store.fsyncs).toBe(0); // nothing reached the disk yet: the set path never fsyncs
    store.close();
  });

  it('over the quota the guest sees limited', async () => {
    const c = await start('tiny', new MemoryStore(), { capabilities: { telemetry: ['*'], storage: { 'max-bytes': 8, 'max-keys': 8 } } });
    // "count" (5 bytes) + 4-byte value = 9 > 8.
    await waitFor(() => c.samples.some((s) => s.channel === 'err'), 30_000);
    expect(c.samples.find((s) => s.channel === 'err')?.value).toBe(103);
  });

  it('two components sharing a store see only their own bucket', async () => {
    const store = new MemoryStore();
    const a = await start('alpha', store);
    await waitFor(() => a.counts().length >= 5, 30_000);
    await a.svc.stop();
    const b = await start('beta', store);
    await waitFor(() => b.counts().length >= 1, 30_000);
    expect(b.counts()[0]).toBe(1);
  });
});

describe('storage across version swaps (contract 7.1)', () => {
  it('a failed init leaves the bucket as it was; a rollback restores it as it stood at the swap', { timeout: 120_000 }, async () => {
    const { buildWat } = await import('../../runtime/build/wat.js');
    const { sensorWatV2 } = await import('../helpers/sensor-wat-v2.js');
    const { strings, errWith } = await import('../helpers/sensor-wat.js');
    const S = { count: 'count', no: 'refused' };
    const T = strings(S);
    // init stores count = 999, then refuses to start.
    const badInit = sensorWatV2({
      v2: ['storage'],
      strings: S,
      init: `i32.const 64 i32.const 999 i32.store
        i32.const ${T.ptr('count')} i32.const ${T.len('count')} i32.const 64 i32.const 4 i32.const 16 call $storage_set
        ${errWith(T.ptr('no'), T.len('no'))}`,
    });
    const store = new MemoryStore();
    const c = await start('swapper', store);
    await waitFor(() => c.counts().length >= 2, 30_000);
    const m = (version: string) => parseManifest({ name: 'swapper', version, 'tick-ms': 10, capabilities: { telemetry: ['*'], storage: { 'max-bytes': 1024, 'max-keys': 8 } } });
    const failed = await c.svc.swap(m('2.0.0'), await engine.prepare(await buildWat(badInit), { memoryMb: 16 }));
    expect(failed.ok).toBe(false);
    const valueNow = () => Buffer.from(store.bucket('swapper').get('count')!).readUInt32LE(0);
    expect(valueNow()).not.toBe(999);
    expect(valueNow()).toBeLessThan(999);
    // A good new version counts on from the bucket as it is; a rollback puts back the bucket as it stood at that swap.
    const atSwap = valueNow();
    const good = await c.svc.swap(m('3.0.0'), await engine.prepare(await storageCounter(), { memoryMb: 16 }));
    expect(good.ok).toBe(true);
    await waitFor(() => valueNow() >= atSwap + 100, 60_000);
    const rolled = await c.svc.swap(m('1.0.0'), await engine.prepare(await storageCounter(), { memoryMb: 16 }), { force: true });
    expect(rolled.ok).toBe(true);
    // Restored to the swap-time value (the old version may already have counted a little since).
    expect(valueNow()).toBeLessThan(atSwap + 50);
  });
});
