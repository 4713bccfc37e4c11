import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { fullCollection, MemoryExtension, type ReclaimResult } from '../../gateway/extensions/core/memory.js';
import { GatewayEvents } from '../../gateway/extensions/events.js';
import type { ExtensionContext } from '../../gateway/extensions/extension.js';
import type { OtaStatus } from '../../gateway/ota/updater.js';

/**
 * The memory extension: one full collection after a version is replaced (OTA committed or rolled
 * back, component removed), folded and spaced so that no stream of events makes it a GC loop.
 */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const status = (phase: OtaStatus['phase'], version = '1.1.0'): OtaStatus => ({ version, phase, reason: '', detail: '', ts: Date.now(), envelope: 'e' });

function harness(o: { delayMs: number; minIntervalMs: number }) {
  const events = new GatewayEvents();
  const results: ReclaimResult[] = [];
  let collected = 0;
  const ext = new MemoryExtension({ ...o, collect: () => collected++, onCollected: (r) => results.push(r) });
  const ctx = { events, log: pino({ level: 'silent' }) } as unknown as ExtensionContext;
  return { events, ext, results, collected: () => collected, start: () => ext.start(ctx) };
}

async function waitFor(cond: () => boolean, ms = 5_000): Promise<void> {
  for (const deadline = Date.now() + ms; !cond(); await sleep(10)) if (Date.now() > deadline) throw new Error('timed out');
}

describe('MemoryExtension', () => {
  it('collects after a commit, a rollback or a removal, never for the phases in between', async () => {
    const h = harness({ delayMs: 10, minIntervalMs: 0 });
    await h.start();
    for (const p of ['received', 'downloading', 'verifying', 'staged', 'activating', 'probation', 'rejected'] as const) h.events.ota('meter', status(p));
    await sleep(60);
    expect(h.collected()).toBe(0);
    h.events.ota('meter', status('committed'));
    await waitFor(() => h.collected() === 1);
    h.events.ota('meter', status('rolled-back', '1.2.0'));
    await waitFor(() => h.collected() === 2);
    h.events.removed('probe');
    await waitFor(() => h.collected() === 3);
    expect(h.results.map((r) => r.reason)).toEqual(['meter 1.1.0 committed', 'meter 1.2.0 rolled-back', 'probe removed']);
    expect(h.ext.stats()).toMatchObject({ collections: 3, lastCollection: { reason: 'probe removed' } });
    await h.ext.stop();
  });

  it('folds requests into one and keeps minIntervalMs between collections', async () => {
    // A generous interval: the checks below must fall inside it even on a loaded machine.
    const h = harness({ delayMs: 10, minIntervalMs: 3_000 });
    await h.start();
    h.events.ota('a', status('committed'));
    h.events.ota('b', status('committed'));
    h.events.removed('c');
    await waitFor(() => h.collected() === 1);
    await sleep(50);
    expect(h.collected()).toBe(1);
    expect(h.results[0]!.reason).toBe('a 1.1.0 committed, b 1.1.0 committed, c removed');
    // Right after one collection: the next waits for the interval, and takes everything asked meanwhile.
    for (let i = 0; i < 100; i++) h.events.ota('flood', status('rolled-back', `1.0.${i}`));
    await sleep(100);
    expect(h.collected()).toBe(1);
    await waitFor(() => h.collected() === 2, 10_000);
    expect(h.results[1]!.reason.split(', ')).toHaveLength(100);
    await h.ext.stop();
  });

  it('a pending collection is cancelled by stop, and none starts after it', async () => {
    const h = harness({ delayMs: 50, minIntervalMs: 0 });
    await h.start();
    h.events.ota('a', status('committed'));
    await h.ext.stop();
    h.ext.request('after stop');
    await sleep(150);
    expect(h.collected()).toBe(0);
  });

  it("the default collection is V8's full GC: an unreachable old-space object is gone after it", async () => {
    const gc = fullCollection();
    let target: { data: number[] } | undefined = { data: Array.from({ length: 50_000 }, (_, i) => i) };
    const ref = new WeakRef(target);
    // Promote it out of the young generation first, so no scavenge can be what frees it.
    gc();
    target = undefined;
    await sleep(0); // WeakRef targets are kept until the end of the job that created them
    gc();
    expect(ref.deref()).toBeUndefined();
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });
});
