import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fillDisk, mountTmpfs } from '../helpers/tmpfs.js';
import { createHostApi } from '../../drivers/pipeline/host-calls.js';
import { compileGrant } from '../../drivers/policy/grant.js';
import { createSimBoard } from '../../drivers/sim-board.js';
import { FileStore, type BucketStore } from '../../drivers/storage/store.js';
import { HostCallError } from '../../runtime/errors.js';
import { parseManifest } from '../../runtime/manifest.js';

/**
 * FileStore's two duties beyond coalescing (contract 7.1, issue 12):
 * - the copy of a bucket kept aside at a version swap is on disk, so a process that dies in the new
 *   version's probation (reverted at the next start) gets the swap-time bucket back;
 * - on a full filesystem (a real tmpfs, filled) nothing throws, sets are refused as `limited`, what
 *   was set stays in memory, and persistence resumes by itself once space is freed.
 */
const dir = mkdtempSync(join(tmpdir(), 'airssys-storage-swap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sinks = { telemetry: () => undefined, message: () => undefined, log: () => undefined };
const board = createSimBoard();
function api(name: string, store: BucketStore) {
  const manifest = parseManifest({ name, version: '1.0.0', capabilities: { storage: { 'max-bytes': 65536, 'max-keys': 64 } } });
  return createHostApi({ component: { name, version: '1.0.0' }, grant: compileGrant(manifest), board, sinks, storage: store });
}
const bytes = (s: string) => new Uint8Array(Buffer.from(s));
const text = (v: Uint8Array | undefined) => (v === undefined ? undefined : Buffer.from(v).toString());
const onDisk = (d: string, name: string) => {
  const entries = JSON.parse(readFileSync(join(d, `${name}.json`), 'utf8')).entries as Record<string, string>;
  return Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
};

describe('the copy kept aside at a swap', () => {
  it('is written durably at the swap, put back (and written) on restore, and gone after', () => {
    const d = join(dir, 'restore');
    const store = new FileStore({ dir: d, flushMs: 60_000 });
    const a = api('meter', store);
    a.storageSet('count', bytes('7'));
    // Not flushed yet: the set-aside copy must hold it anyway (it is what stood at the swap).
    store.setAside('meter', '2.0.0');
    expect(JSON.parse(readFileSync(join(d, 'meter.at-swap.json'), 'utf8'))).toMatchObject({ component: 'meter', forVersion: '2.0.0' });
    a.storageSet('count', bytes('1007'));
    a.storageSet('junk', bytes('x'));
    store.flush();
    expect(onDisk(d, 'meter')).toEqual({ count: '1007', junk: 'x' });
    expect(store.restoreAside('meter')).toBe(true);
    expect(text(a.storageGet('count'))).toBe('7');
    expect(a.storageGet('junk')).toBeUndefined();
    // Written at once, not on the timer; then the copy goes.
    expect(onDisk(d, 'meter')).toEqual({ count: '7' });
    expect(existsSync(join(d, 'meter.at-swap.json'))).toBe(false);
    expect(store.restoreAside('meter')).toBe(false);
    store.close();
  });

  it('after a restart it is put back only for the version that was reverted; leftovers go', () => {
    const d = join(dir, 'restart');
    const first = new FileStore({ dir: d, flushMs: 60_000 });
    const a = api('meter', first);
    a.storageSet('count', bytes('41'));
    first.setAside('meter', '2.1.0');
    const b = api('other', first);
    b.storageSet('k', bytes('kept'));
    first.setAside('other', '3.0.0');
    a.storageSet('count', bytes('9999'));
    b.storageSet('k', bytes('new'));
    first.flush();
    // SIGKILL: `first` is simply abandoned (its timer is unref'd; nothing more is written).

    const second = new FileStore({ dir: d, flushMs: 60_000 });
    // The OTA store reverted meter 2.1.0 (it was pending); other's 3.0.0 had been committed.
    const settled = second.settleAside(new Map([['meter', '2.1.0']]));
    expect(settled.sort((x, y) => x.component.localeCompare(y.component))).toEqual([
      { component: 'meter', forVersion: '2.1.0', restored: true },
      { component: 'other', forVersion: '3.0.0', restored: false },
    ]);
    expect(onDisk(d, 'meter')).toEqual({ count: '41' });
    expect(onDisk(d, 'other')).toEqual({ k: 'new' });
    expect(readdirSync(d).filter((f) => f.includes('at-swap'))).toEqual([]);
    expect(text(api('meter', second).storageGet('count'))).toBe('41');
    second.close();
  });

  it('a copy for another version than the reverted one, or a torn copy, is never put back', () => {
    const d = join(dir, 'mismatch');
    const first = new FileStore({ dir: d, flushMs: 60_000 });
    api('meter', first).storageSet('count', bytes('1'));
    first.setAside('meter', '2.0.0');
    api('meter', first).storageSet('count', bytes('2'));
    first.close();
    mkdirSync(d, { recursive: true });
    const torn = openSync(join(d, 'gauge.at-swap.json'), 'w');
    writeSync(torn, '{"version":1,"forVers');
    closeSync(torn);
    const second = new FileStore({ dir: d, flushMs: 60_000 });
    const settled = second.settleAside(new Map([['meter', '2.0.1'], ['gauge', '1.0.0']]));
    expect(settled.every((s) => !s.restored)).toBe(true);
    expect(onDisk(d, 'meter')).toEqual({ count: '2' });
    expect(readdirSync(d).filter((f) => f.includes('at-swap'))).toEqual([]);
  });

  it('dropAside (a commit) removes the copy; the bucket keeps what the new version wrote', () => {
    const d = join(dir, 'commit');
    const store = new FileStore({ dir: d, flushMs: 60_000 });
    const a = api('meter', store);
    a.storageSet('count', bytes('1'));
    store.setAside('meter', '2.0.0');
    a.storageSet('count', bytes('2'));
    store.dropAside('meter');
    expect(existsSync(join(d, 'meter.at-swap.json'))).toBe(false);
    expect(store.restoreAside('meter')).toBe(false);
    store.close();
    expect(onDisk(d, 'meter')).toEqual({ count: '2' });
  });
});

describe('a full filesystem (a real 512 KiB tmpfs)', () => {
  const mnt = join(dir, 'small');
  const skip = mountTmpfs(mnt, '512k');
  afterAll(() => {
    if (!skip) execFileSync('umount', ['-l', mnt]);
  });

  it.skipIf(skip !== undefined)(`sets are refused as limited, nothing throws, and persistence resumes once space is freed${skip ? ` (skipped: ${skip})` : ''}`, async () => {
    const d = join(mnt, 'storage');
    const events: string[] = [];
    const store = new FileStore({
      dir: d,
      flushMs: 50,
      retryMs: 100,
      onWriteFailed: (problem, full) => events.push(`failed full=${full} ${problem.split(':')[0]}`),
      onWriteResumed: () => events.push('resumed'),
    });
    const a = api('meter', store);
    a.storageSet('count', bytes('1'));
    expect(store.flush()).toBe(true);

    const filler = join(mnt, 'filler');
    fillDisk(filler);
    // Accepted in memory; the flush that follows fails (ENOSPC), once reported, never thrown.
    a.storageSet('count', bytes('2'.repeat(4000)));
    expect(store.flush()).toBe(false);
    expect(events).toEqual(['failed full=true ENOSPC']);
    expect(store.refusal()).toMatch(/filesystem is full/);
    let tag: string | undefined;
    try {
      a.storageSet('count', bytes('3'));
    } catch (err) {
      tag = err instanceof HostCallError ? err.tag : String(err);
    }
    expect(tag).toBe('limited');
    // Reads and deletes still answer; the value set before the disk filled is still there.
    expect(text(a.storageGet('count'))).toBe('2'.repeat(4000));
    expect(readdirSync(d).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(onDisk(d, 'meter')).toEqual({ count: '1' });
    // Retries on their own (the timer): still full, still one report.
    await new Promise((r) => setTimeout(r, 400));
    expect(events).toEqual(['failed full=true ENOSPC']);

    rmSync(filler);
    const freedAt = Date.now();
    // By itself: the retry timer (retryMs here; at most 1 s by default) finds the space.
    while (!events.includes('resumed') && Date.now() - freedAt < 30_000) await new Promise((r) => setTimeout(r, 20));
    expect(events).toEqual(['failed full=true ENOSPC', 'resumed']);
    expect(onDisk(d, 'meter')).toEqual({ count: '2'.repeat(4000) });
    expect(store.refusal()).toBeUndefined();
    a.storageSet('count', bytes('4'));
    store.close();
    expect(onDisk(d, 'meter')).toEqual({ count: '4' });
  });

  it.skipIf(skip !== undefined)('a swap on a full disk is refused with code no-space and changes nothing', () => {
    const d = join(mnt, 'storage-swap');
    const store = new FileStore({ dir: d, flushMs: 60_000 });
    const a = api('gauge', store);
    a.storageSet('big', new Uint8Array(20_000).fill(65));
    store.flush();
    const filler = join(mnt, 'filler2');
    fillDisk(filler);
    try {
      let code: string | undefined;
      try {
        store.setAside('gauge', '2.0.0');
      } catch (err) {
        code = (err as { code?: string }).code;
        expect((err as Error).message).toMatch(/free space on the data directory's filesystem/);
      }
      expect(code).toBe('STORAGE_NO_SPACE');
      expect(existsSync(join(d, 'gauge.at-swap.json'))).toBe(false);
      expect(store.restoreAside('gauge')).toBe(false);
    } finally {
      rmSync(filler);
      store.close();
    }
  });

  it.skipIf(skip !== undefined)('a component swap on a full disk does not happen: no-space, the old version keeps serving and its bucket', { timeout: 180_000 }, async () => {
    const { ComponentService } = await import('../../gateway/component/component-service.js');
    const { Engine } = await import('../../runtime/engine.js');
    const { storageCounter } = await import('../helpers/storage-components.js');
    const engine = new Engine({ cacheDir: join(dir, 'cache') });
    const prepared = await engine.prepare(await storageCounter(), { memoryMb: 16 });
    const d = join(mnt, 'storage-svc');
    const store = new FileStore({ dir: d, flushMs: 60_000 });
    const m = (version: string) => parseManifest({ name: 'counter', version, 'tick-ms': 10, capabilities: { telemetry: ['*'], storage: { 'max-bytes': 1024, 'max-keys': 8 } } });
    const counts: number[] = [];
    const svc = new ComponentService({
      manifest: m('1.0.0'),
      prepared,
      board,
      storage: store,
      sinks: { telemetry: (channel, s) => void (channel === 'count' && counts.push((s as { value: number }).value)), message: () => {}, log: () => {} },
    });
    await svc.start();
    const filler = join(mnt, 'filler3');
    try {
      while (counts.length < 3) await new Promise((r) => setTimeout(r, 10));
      fillDisk(filler);
      let code: string | undefined;
      try {
        await svc.swap(m('2.0.0'), prepared);
      } catch (err) {
        code = (err as { code?: string }).code;
      }
      expect(code).toBe('STORAGE_NO_SPACE');
      expect(svc.host.version).toBe('1.0.0');
      const n = counts.length;
      while (counts.length < n + 3) await new Promise((r) => setTimeout(r, 10));
      // Counting on from its own bucket: nothing was restored or lost.
      counts.forEach((v, i) => expect(v).toBe(i + 1));
    } finally {
      await svc.stop();
      rmSync(filler, { force: true });
      store.close();
    }
  });
});
