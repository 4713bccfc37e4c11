import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Outbox } from '../../gateway/telemetry/outbox.js';
import { until } from '../helpers/mosquitto.js';
import { fillDisk, mountTmpfs, unmountTmpfs } from '../helpers/tmpfs.js';

/**
 * The outbox alone on a small tmpfs that a filler file fills up (needs root: skipped otherwise).
 * A channel declared before the disk filled is taken and readable (publishable) from memory while it
 * is full; one first heard of then has no durable seq reservation, so it is dropped as disk-full
 * (never numbered from memory: a stop could reuse those numbers), without stopping the others, and
 * is created by its first sample once the disk takes writes again; the retry notices the space even
 * when nothing is waiting to be stored.
 */
let dir: string;
let at: string;
let skipReason: string | undefined;
let mounted = false;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'airssys-outbox-full-'));
  at = join(dir, 'mnt');
  skipReason = mountTmpfs(at, '1m');
  mounted = skipReason === undefined;
});

afterAll(async () => {
  if (mounted) await unmountTmpfs(at);
  rmSync(dir, { recursive: true, force: true });
});

const readSeqs = (o: Outbox, component: string, channel: string) => {
  const s = o.streams().find((x) => x.component === component && x.channel === channel);
  return s ? o.read(s.id, 0, 1_000_000).map((r) => r.seq) : [];
};

describe('the outbox on a full filesystem', () => {
  it('declared channels go on from memory, a new one is dropped as disk-full until space is freed, then created', async (ctx) => {
    if (skipReason) return ctx.skip(skipReason);
    const o = new Outbox({ path: join(at, 'telemetry.db'), commitIntervalMs: 50, log: () => {} });
    const filler = join(at, 'filler');
    try {
      o.declare('c', ['live', 'err']);
      expect(o.streams().map((s) => s.channel).sort()).toEqual(['err', 'live']);
      expect(o.append('c', 'live', { value: 0 })).toBe(1);
      o.flush();
      fillDisk(filler);
      // Uses up whatever the last file pages still had room for, until a commit is refused.
      const big = JSON.stringify({ pad: 'x'.repeat(2000) });
      for (let i = 0; i < 200 && o.stats().writable; i++) {
        o.append('c', 'live', { json: big });
        o.flush();
      }
      expect(o.stats().writable).toBe(false);
      const before = o.stats().dropped['disk-full'];

      // Declared before the disk filled: numbered and readable from memory (the publisher sends it).
      expect(o.append('c', 'err', { value: 103 })).toBe(1);
      expect(o.append('c', 'err', { value: 103 })).toBe(2);
      expect(readSeqs(o, 'c', 'err')).toEqual([1, 2]);
      // First heard of now: no reservation can be made, dropped and counted; the others go on.
      expect(o.append('c', 'new', { value: 1 })).toBe(0);
      expect(o.streams().some((s) => s.channel === 'new')).toBe(false);
      expect(o.stats().dropped['disk-full']).toBe(before + 1);
      const liveSeq = o.append('c', 'live', { value: 2 });
      expect(liveSeq).toBeGreaterThan(1);

      // Space freed: the 1 s retry stores what is held, and the new channel starts at 1.
      rmSync(filler);
      await until(() => o.stats().writable, 10_000, 'the outbox writable again');
      expect(o.stats().memory).toBe(0);
      expect(o.append('c', 'new', { value: 2 })).toBe(1);
      expect(readSeqs(o, 'c', 'err')).toEqual([1, 2]);
      expect(readSeqs(o, 'c', 'live').at(-1)).toBe(liveSeq);

      // Full again with nothing waiting to be stored (only channels declared): the retry still
      // writes, so it notices when the space comes back.
      o.flush();
      expect(o.stats().memory).toBe(0);
      fillDisk(filler);
      for (let i = 0; i < 200 && o.stats().writable; i++) o.declare('c', [`late-${i}`]);
      expect(o.stats().writable).toBe(false);
      rmSync(filler);
      await until(() => o.stats().writable, 10_000, 'the outbox writable again with nothing held');
    } finally {
      o.close();
      rmSync(filler, { force: true });
    }
  }, 60_000);
});
