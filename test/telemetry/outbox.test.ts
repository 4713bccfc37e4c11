import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Outbox } from '../../gateway/telemetry/outbox.js';

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'airssys-outbox-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const readAll = (o: Outbox, component: string, channel: string) => {
  const s = o.streams().find((x) => x.component === component && x.channel === channel)!;
  return o.read(s.id, 0, 1_000_000);
};

describe('telemetry outbox', () => {
  it('assigns seq per (component, channel) and keeps counting across reopen', () => {
    const path = join(dir, 'o.db');
    let o = new Outbox({ path });
    expect(o.append('a', 'x', { value: 1 })).toBe(1);
    expect(o.append('a', 'x', { value: 2 })).toBe(2);
    expect(o.append('a', 'y', { value: 3 })).toBe(1);
    expect(o.append('b', 'x', { json: '{"k":1}' })).toBe(1);
    o.close();
    o = new Outbox({ path });
    expect(o.append('a', 'x', { value: 4 })).toBe(3);
    expect(o.append('a', 'y', { value: 5 })).toBe(2);
    o.flush();
    expect(readAll(o, 'a', 'x').map((r) => [r.seq, r.payload, r.kind])).toEqual([[1, '1', 0], [2, '2', 0], [3, '4', 0]]);
    expect(readAll(o, 'b', 'x').map((r) => [r.seq, r.payload, r.kind])).toEqual([[1, '{"k":1}', 1]]);
    o.close();
  });

  it('seq continues after acked samples are deleted and the table empties', () => {
    const path = join(dir, 'o.db');
    let o = new Outbox({ path });
    for (let i = 0; i < 5; i++) o.append('a', 'x', { value: i });
    o.flush();
    for (const r of readAll(o, 'a', 'x')) o.ack(r.id);
    o.flush();
    expect(o.stats().depth).toBe(0);
    o.close();
    o = new Outbox({ path });
    expect(o.append('a', 'x', { value: 9 })).toBe(6);
    o.flush();
    // ids keep growing too, so a publisher cursor from before never skips new rows
    expect(readAll(o, 'a', 'x')[0]!.id).toBeGreaterThan(5);
    o.close();
  });

  it('group-commits: many appends in one turn are one transaction, and durable after it', async () => {
    const path = join(dir, 'o.db');
    const o = new Outbox({ path, commitIntervalMs: 0, exclusive: false });
    for (let i = 0; i < 1000; i++) o.append('a', 'x', { value: i });
    expect(o.stats().commits).toBe(0);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(o.stats().commits).toBe(1);
    expect(o.stats().depth).toBe(1000);
    // Another handle sees them: they are on disk, not in memory.
    const other = new Outbox({ path, exclusive: false });
    expect(other.stats().depth).toBe(1000);
    other.close();
    o.close();
  });

  it('a full queue commits at once', () => {
    const o = new Outbox({ path: join(dir, 'o.db'), maxBatch: 100 });
    for (let i = 0; i < 250; i++) o.append('a', 'x', { value: i });
    expect(o.stats().commits).toBe(2);
    o.close();
  });

  it('acks remove samples; an ack for an evicted sample is harmless', () => {
    const o = new Outbox({ path: join(dir, 'o.db') });
    for (let i = 0; i < 3; i++) o.append('a', 'x', { value: i });
    o.flush();
    const rows = readAll(o, 'a', 'x');
    o.ack(rows[1]!.id);
    o.ack(rows[1]!.id);
    o.ack(999_999);
    o.flush();
    expect(readAll(o, 'a', 'x').map((r) => r.seq)).toEqual([1, 3]);
    expect(o.stats().depth).toBe(2);
    o.close();
  });

  it('evicts oldest first when over the byte bound and counts the drops (persisted)', () => {
    const path = join(dir, 'o.db');
    let o = new Outbox({ path, maxBytes: 2000 });
    for (let i = 0; i < 200; i++) o.append('comp', 'ch', { value: i });
    o.flush();
    const s = o.stats();
    expect(s.bytes).toBeLessThanOrEqual(2000);
    expect(s.droppedFull).toBeGreaterThan(0);
    expect(s.depth + s.droppedFull).toBe(200);
    const left = readAll(o, 'comp', 'ch').map((r) => r.seq);
    // the newest survive, contiguous up to the last
    expect(left[left.length - 1]).toBe(200);
    expect(left[0]).toBe(200 - left.length + 1);
    expect(left[0]).toBe(s.droppedFull + 1);
    o.close();
    o = new Outbox({ path, maxBytes: 2000 });
    expect(o.stats().droppedFull).toBe(s.droppedFull);
    expect(o.stats().depth).toBe(s.depth);
    o.close();
  });

  it('evicts samples older than the age bound and counts them', () => {
    let now = 1_000_000;
    const o = new Outbox({ path: join(dir, 'o.db'), maxAgeMs: 60_000, now: () => now });
    for (let i = 0; i < 10; i++) o.append('a', 'x', { value: i });
    o.flush();
    now += 30_000;
    for (let i = 0; i < 5; i++) o.append('a', 'x', { value: i });
    o.flush();
    expect(o.stats().droppedAge).toBe(0);
    now += 40_000; // the first 10 are now 70 s old, the last 5 are 40 s old
    o.flush();
    expect(o.stats().droppedAge).toBe(10);
    expect(o.stats().depth).toBe(5);
    expect(readAll(o, 'a', 'x').map((r) => r.seq)).toEqual([11, 12, 13, 14, 15]);
    o.close();
  });

  it('rejects invalid JSON and stores NaN as null', () => {
    const o = new Outbox({ path: join(dir, 'o.db') });
    expect(() => o.append('a', 'j', { json: '{nope' })).toThrow(SyntaxError);
    o.append('a', 'x', { value: NaN });
    o.flush();
    expect(readAll(o, 'a', 'x')[0]!.payload).toBe('null');
    o.close();
  });
});

/** Runs `body` in a child process that exits without closing the outbox: an unclean stop. */
function uncleanRun(path: string, body: string): void {
  const script = `import { Outbox } from ${JSON.stringify(join(process.cwd(), 'gateway/telemetry/outbox.ts'))};
const o = new Outbox({ path: ${JSON.stringify(path)}, reserveBlock: 100 });
${body}
process.exit(0);`;
  execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: 'pipe' });
}

describe('seq across stops (contract 7.4: never reused)', () => {
  it('an unclean stop jumps above the reservation and announces it once with skipped; a clean close does not jump', () => {
    const path = join(dir, 'o.db');
    // 5 committed, 3 more held in memory only when the process ends without close().
    uncleanRun(path, `for (let i = 0; i < 5; i++) o.append('a', 'x', { value: i }); o.flush(); for (let i = 0; i < 3; i++) o.append('a', 'x', { value: i });`);
    let o = new Outbox({ path, reserveBlock: 100 });
    expect(readAll(o, 'a', 'x').map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(o.append('a', 'x', { value: 9 })).toBe(101);
    expect(o.append('a', 'x', { value: 10 })).toBe(102);
    const rows = readAll(o, 'a', 'x');
    expect(rows.map((r) => [r.seq, r.skipped])).toEqual([[1, undefined], [2, undefined], [3, undefined], [4, undefined], [5, undefined], [101, [6, 100]], [102, undefined]]);
    o.close();
    o = new Outbox({ path, reserveBlock: 100 });
    expect(o.append('a', 'x', { value: 11 })).toBe(103);
    // The stored jump announcement survives the reopen (it has not been acknowledged yet).
    expect(readAll(o, 'a', 'x').find((r) => r.seq === 101)!.skipped).toEqual([6, 100]);
    expect(readAll(o, 'a', 'x').find((r) => r.seq === 103)!.skipped).toBeUndefined();
    o.close();
  });

  it('a jump not yet announced when the gateway closes cleanly is announced after the next start', () => {
    const path = join(dir, 'o.db');
    uncleanRun(path, `o.append('a', 'x', { value: 1 }); o.flush();`);
    let o = new Outbox({ path, reserveBlock: 100 });
    o.close(); // no sample since the jump
    o = new Outbox({ path, reserveBlock: 100 });
    o.append('a', 'x', { value: 2 });
    expect(readAll(o, 'a', 'x').map((r) => [r.seq, r.skipped])).toEqual([[1, undefined], [101, [2, 100]]]);
    o.close();
  });

  it('crosses reservation blocks without a jump while running', () => {
    const path = join(dir, 'o.db');
    const o = new Outbox({ path, reserveBlock: 10 });
    const seqs = Array.from({ length: 45 }, (_, i) => o.append('a', 'x', { value: i }));
    expect(seqs).toEqual(Array.from({ length: 45 }, (_, i) => i + 1));
    o.close();
  });
});

describe('memory first', () => {
  it('samples acknowledged before their commit are never written; unacknowledged ones are', () => {
    const path = join(dir, 'o.db');
    const o = new Outbox({ path, commitIntervalMs: 60_000, exclusive: false });
    for (let i = 0; i < 10; i++) o.append('a', 'x', { value: i });
    const rows = readAll(o, 'a', 'x');
    expect(rows).toHaveLength(10); // readable (publishable) from memory before any commit
    for (const r of rows.slice(0, 8)) o.ack(r.id);
    expect(o.stats()).toMatchObject({ depth: 2, memory: 2, commits: 0 });
    o.flush();
    expect(o.stats()).toMatchObject({ depth: 2, memory: 0, commits: 1 });
    const other = new Outbox({ path, exclusive: false });
    expect(readAll(other, 'a', 'x').map((r) => r.seq)).toEqual([9, 10]);
    other.close();
    o.close();
  });
});

describe('a damaged outbox', () => {
  for (const damage of ['zero-length', 'garbage'] as const) {
    it(`${damage} telemetry.db: moved aside with one log line, seq continues above the reservation, announced`, () => {
      const path = join(dir, 'telemetry.db');
      let o = new Outbox({ path, reserveBlock: 100 });
      for (let i = 0; i < 5; i++) o.append('a', 'x', { value: i });
      o.close();
      for (const ext of ['-wal', '-shm']) rmSync(path + ext, { force: true });
      writeFileSync(path, damage === 'zero-length' ? '' : 'this is not a database, it was overwritten by something else entirely'.repeat(100));
      const lines: string[] = [];
      o = new Outbox({ path, reserveBlock: 100, log: (level, m) => lines.push(`${level}: ${m}`) });
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(path);
      expect(lines[0]).toMatch(/moved it aside to .*telemetry\.db\.damaged-/);
      expect(readdirSync(dir).some((f) => f.startsWith('telemetry.db.damaged-'))).toBe(true);
      expect(o.append('a', 'x', { value: 9 })).toBe(101);
      expect(readAll(o, 'a', 'x').map((r) => [r.seq, r.skipped])).toEqual([[101, [6, 100]]]);
      o.close();
    });
  }
});
