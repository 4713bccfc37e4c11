import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createHostApi } from '../../drivers/pipeline/host-calls.js';
import { compileGrant } from '../../drivers/policy/grant.js';
import { checkManifestAgainstPolicy, parsePolicy } from '../../drivers/policy/policy.js';
import { createSimBoard } from '../../drivers/sim-board.js';
import { FileStore, MemoryStore, type BucketStore } from '../../drivers/storage/store.js';
import { HostCallError, type HostErrorTag } from '../../runtime/errors.js';
import { parseManifest } from '../../runtime/manifest.js';

const dir = mkdtempSync(join(tmpdir(), 'airssys-storage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sinks = { telemetry: () => undefined, message: () => undefined, log: () => undefined };
const board = createSimBoard();
function api(name: string, store: BucketStore, storage: Record<string, number> | null = { 'max-bytes': 1024, 'max-keys': 4 }) {
  const manifest = parseManifest({ name, version: '1.0.0', capabilities: storage ? { storage } : {} });
  return createHostApi({ component: { name, version: '1.0.0' }, grant: compileGrant(manifest), board, sinks, storage: store });
}
function tagOf(fn: () => unknown): HostErrorTag | 'ok' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof HostCallError) return err.tag;
    throw err;
  }
}
const bytes = (s: string) => new Uint8Array(Buffer.from(s));

describe('storage host functions', () => {
  it('set, get, delete and list-keys on the component\'s bucket; get returns a copy', () => {
    const a = api('counter', new MemoryStore());
    expect(a.storageGet('x')).toBeUndefined();
    a.storageSet('cal/zero', bytes('12'));
    a.storageSet('cal/span', bytes('900'));
    a.storageSet('total', bytes('7'));
    expect(Buffer.from(a.storageGet('cal/span')!).toString()).toBe('900');
    expect(a.storageListKeys('cal/')).toEqual(['cal/span', 'cal/zero']);
    expect(a.storageListKeys('')).toEqual(['cal/span', 'cal/zero', 'total']);
    const got = a.storageGet('total')!;
    got[0] = 0;
    expect(Buffer.from(a.storageGet('total')!).toString()).toBe('7');
    expect(a.storageDelete('total')).toBe(true);
    expect(a.storageDelete('total')).toBe(false);
    expect(a.storageGet('total')).toBeUndefined();
  });

  it('keys of 1-256 bytes and values up to 65536 bytes, else invalid', () => {
    const a = api('counter', new MemoryStore(), { 'max-bytes': 1_000_000, 'max-keys': 10 });
    expect(tagOf(() => a.storageSet('', bytes('v')))).toBe('invalid');
    expect(tagOf(() => a.storageSet('k'.repeat(257), bytes('v')))).toBe('invalid');
    expect(tagOf(() => a.storageSet('é'.repeat(129), bytes('v')))).toBe('invalid'); // 258 UTF-8 bytes
    expect(tagOf(() => a.storageSet('k'.repeat(256), bytes('v')))).toBe('ok');
    expect(tagOf(() => a.storageSet('big', new Uint8Array(65_537)))).toBe('invalid');
    expect(tagOf(() => a.storageSet('big', new Uint8Array(65_536)))).toBe('ok');
    expect(tagOf(() => a.storageGet(''))).toBe('invalid');
  });

  it('the manifest quota (keys and bytes) gives limited; replacing a key within it is fine', () => {
    const a = api('counter', new MemoryStore(), { 'max-bytes': 20, 'max-keys': 2 });
    a.storageSet('a', bytes('123456789')); // 10 bytes
    a.storageSet('b', bytes('12345')); // 6 bytes
    expect(tagOf(() => a.storageSet('c', bytes('1')))).toBe('limited'); // a third key
    expect(tagOf(() => a.storageSet('b', bytes('12345678910')))).toBe('limited'); // 10 + 12 > 20
    expect(tagOf(() => a.storageSet('b', bytes('123456789')))).toBe('ok'); // 10 + 10 = 20
    expect(a.storageDelete('a')).toBe(true);
    expect(tagOf(() => a.storageSet('c', bytes('1')))).toBe('ok');
  });

  it('a component without capabilities.storage is denied', () => {
    const a = api('plain', new MemoryStore(), null);
    expect(tagOf(() => a.storageGet('x'))).toBe('denied');
    expect(tagOf(() => a.storageSet('x', bytes('1')))).toBe('denied');
  });

  it('a bucket is invisible to every other component sharing the store', () => {
    const store = new MemoryStore();
    const a = api('alpha', store);
    const b = api('beta', store);
    a.storageSet('secret', bytes('a'));
    expect(b.storageGet('secret')).toBeUndefined();
    expect(b.storageListKeys('')).toEqual([]);
    expect(b.storageDelete('secret')).toBe(false);
    expect(Buffer.from(a.storageGet('secret')!).toString()).toBe('a');
  });
});

describe('FileStore', () => {
  it('a set never fsyncs; many sets coalesce into one durable write per flush, read back after reopening', () => {
    const d = join(dir, 'coalesce');
    const store = new FileStore({ dir: d, flushMs: 60_000 });
    const a = api('counter', store, { 'max-bytes': 4096, 'max-keys': 16 });
    for (let i = 0; i < 1000; i++) a.storageSet('n', bytes(String(i)));
    expect(store.fsyncs).toBe(0);
    store.flush();
    expect(store.fsyncs).toBe(2); // the file and its directory
    store.flush(); // nothing changed: nothing written
    expect(store.fsyncs).toBe(2);
    expect(readdirSync(d)).toEqual(['counter.json']);
    const again = api('counter', new FileStore({ dir: d, flushMs: 60_000 }));
    expect(Buffer.from(again.storageGet('n')!).toString()).toBe('999');
  });

  it('flushes by itself within flush-ms, and on close', async () => {
    const d = join(dir, 'timer');
    const store = new FileStore({ dir: d, flushMs: 50 });
    api('counter', store).storageSet('k', bytes('v'));
    await new Promise((r) => setTimeout(r, 1000));
    expect(JSON.parse(readFileSync(join(d, 'counter.json'), 'utf8')).entries).toEqual({ k: Buffer.from('v').toString('base64') });
    api('counter', store).storageSet('k2', bytes('w'));
    store.close();
    expect(Object.keys(JSON.parse(readFileSync(join(d, 'counter.json'), 'utf8')).entries)).toEqual(['k', 'k2']);
  });

  it('a damaged bucket file is kept aside, reported, and the bucket starts empty', () => {
    const d = join(dir, 'corrupt');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'counter.json'), '{"entries": {"k": 12');
    const reports: string[] = [];
    const store = new FileStore({ dir: d, flushMs: 60_000, onCorrupt: (c, keptAs) => reports.push(`${c} ${keptAs}`) });
    expect(api('counter', store).storageListKeys('')).toEqual([]);
    expect(reports).toHaveLength(1);
    expect(readdirSync(d).some((f) => f.startsWith('counter.json.corrupt-'))).toBe(true);
  });
});

describe('storage policy', () => {
  const policy = parsePolicy({ roles: { small: { storage: { 'max-bytes': 4096, 'max-keys': 16 } }, none: {} }, components: { a: ['small'], b: ['none'] } });
  it('roles cap the quota; a manifest asking more, or with no storage role, is refused naming it', () => {
    const m = (name: string, storage: Record<string, number>) => parseManifest({ name, version: '1.0.0', capabilities: { storage } });
    expect(checkManifestAgainstPolicy(m('a', { 'max-bytes': 4096, 'max-keys': 16 }), policy)).toEqual([]);
    expect(checkManifestAgainstPolicy(m('a', { 'max-bytes': 8192, 'max-keys': 16 }), policy)).toEqual(['component a: storage.max-bytes 8192 exceeds 4096 allowed by roles [small]']);
    expect(checkManifestAgainstPolicy(m('b', { 'max-bytes': 1, 'max-keys': 1 }), policy)).toEqual(['component b: storage is not granted by roles [none]']);
    expect(() => parsePolicy({ roles: { x: { storage: { 'max-bytes': -1 } } } })).toThrow(/policy.roles.x.storage.max-bytes: expected an integer/);
  });
});
