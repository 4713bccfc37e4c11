import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { GatewayError } from '../../runtime/errors.js';

/**
 * The durable telemetry outbox: every sample is written here first, published at QoS 1, and removed
 * only when the broker acknowledges it (at-least-once).
 *
 * - `seq` per (component, channel) is assigned at append time from a counter stored in the same
 *   transaction as the sample, so after any crash the next seq is exactly one more than the last
 *   stored sample: consumers see no gaps.
 * - Group commit: appends and acks are queued in memory and written in one transaction every
 *   `commitIntervalMs` (or at once when `maxBatch` rows are queued), so a component publishing at
 *   kHz costs a handful of transactions per second, not one per sample. A SIGKILL loses at most the
 *   samples of the last few ms (never acknowledged to anyone, never given a stored seq).
 * - Bounded by bytes and age: the oldest samples go first and are counted (`droppedFull`,
 *   `droppedAge`, persisted across restarts) so the gateway can publish what it lost.
 */

export type SampleBody = { value: number } | { json: string };

export interface OutboxOptions {
  /** SQLite file (its folder is created). */
  path: string;
  maxBytes?: number;
  maxAgeMs?: number;
  /** Group-commit interval; 0 commits on the next turn of the event loop. */
  commitIntervalMs?: number;
  /** Queue length that forces an immediate commit. */
  maxBatch?: number;
  synchronous?: 'normal' | 'full';
  /** Injectable clock for the age bound (tests). */
  now?: () => number;
}

export interface StreamInfo {
  id: number;
  component: string;
  channel: string;
}

export interface OutboxRow {
  id: number;
  stream: number;
  seq: number;
  ts: number;
  /** 0: `value` (payload is the number as JSON text), 1: `json` (payload is the JSON text). */
  kind: 0 | 1;
  payload: string;
  bytes: number;
}

export interface OutboxStats {
  /** Samples stored and not yet acknowledged (including those queued for the next commit). */
  depth: number;
  bytes: number;
  droppedFull: number;
  droppedAge: number;
  /** Since this process opened the outbox. */
  appended: number;
  acked: number;
  commits: number;
  oldestAgeMs: number | undefined;
}

type FlushListener = (streams: ReadonlySet<number>) => void;

/** Per-row overhead beyond the payload text, so the byte bound tracks real disk use roughly. */
const ROW_OVERHEAD = 40;

export class Outbox {
  private readonly db: Database.Database;
  private readonly maxBytes: number;
  private readonly maxAgeMs: number;
  private readonly commitIntervalMs: number;
  private readonly maxBatch: number;
  private readonly now: () => number;
  private readonly streamsByKey = new Map<string, { info: StreamInfo; seq: number; dirty: boolean }>();
  private readonly streamsById = new Map<number, StreamInfo>();
  private queue: OutboxRow[] = [];
  private acks: number[] = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private readonly listeners = new Set<FlushListener>();
  private nextId: number;
  private storedRows: number;
  private storedBytes: number;
  private droppedFull: number;
  private droppedAge: number;
  private appended = 0;
  private acked = 0;
  private commits = 0;
  private lastAgeCheck = 0;
  private closed = false;
  private readonly ageTimer: NodeJS.Timeout;
  private readonly stmt: Record<'insert' | 'del' | 'seq' | 'read' | 'oldest' | 'delUpTo' | 'setCounter' | 'oldestAt', Database.Statement>;
  private readonly commit: () => void;

  constructor(opts: OutboxOptions) {
    this.maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
    this.maxAgeMs = opts.maxAgeMs ?? 7 * 86_400_000;
    this.commitIntervalMs = opts.commitIntervalMs ?? 2;
    this.maxBatch = opts.maxBatch ?? 8192;
    this.now = opts.now ?? Date.now;
    try {
      mkdirSync(dirname(opts.path), { recursive: true });
      this.db = new Database(opts.path);
      this.db.pragma('journal_mode = WAL');
    } catch (err) {
      throw new GatewayError('OUTBOX_OPEN', `cannot open the telemetry outbox ${opts.path} (${(err as Error).message}); check gateway.data-dir is writable and not used by another gateway`, { cause: err });
    }
    // NORMAL in WAL mode: a commit survives a process crash; only power loss can take the last ones.
    this.db.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS streams (id INTEGER PRIMARY KEY, component TEXT NOT NULL, channel TEXT NOT NULL, seq INTEGER NOT NULL, UNIQUE (component, channel));
      CREATE TABLE IF NOT EXISTS samples (id INTEGER PRIMARY KEY, stream INTEGER NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, at INTEGER NOT NULL, kind INTEGER NOT NULL, payload TEXT NOT NULL, bytes INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS samples_by_stream ON samples (stream, id);
      CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    `);
    for (const r of this.db.prepare('SELECT id, component, channel, seq FROM streams').all() as Array<StreamInfo & { seq: number }>) {
      const info = { id: r.id, component: r.component, channel: r.channel };
      this.streamsByKey.set(key(r.component, r.channel), { info, seq: r.seq, dirty: false });
      this.streamsById.set(r.id, info);
    }
    const counter = (name: string) => (this.db.prepare('SELECT value FROM counters WHERE name = ?').get(name) as { value: number } | undefined)?.value ?? 0;
    const agg = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b, COALESCE(MAX(id), 0) AS m FROM samples').get() as { n: number; b: number; m: number };
    this.storedRows = agg.n;
    this.storedBytes = agg.b;
    // Ids only grow, even when the table empties, so the publisher's per-stream cursors stay valid.
    this.nextId = Math.max(agg.m, counter('last-id')) + 1;
    this.droppedFull = counter('dropped-full');
    this.droppedAge = counter('dropped-age');
    this.stmt = {
      insert: this.db.prepare('INSERT INTO samples (id, stream, seq, ts, at, kind, payload, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      del: this.db.prepare('DELETE FROM samples WHERE id = ? RETURNING bytes'),
      seq: this.db.prepare('UPDATE streams SET seq = ? WHERE id = ?'),
      read: this.db.prepare('SELECT id, stream, seq, ts, kind, payload, bytes FROM samples WHERE stream = ? AND id > ? ORDER BY id LIMIT ?'),
      oldest: this.db.prepare('SELECT id, at, bytes FROM samples WHERE id > ? ORDER BY id LIMIT ?'),
      delUpTo: this.db.prepare('DELETE FROM samples WHERE id <= ?'),
      setCounter: this.db.prepare('INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value'),
      oldestAt: this.db.prepare('SELECT at FROM samples ORDER BY id LIMIT 1'),
    };
    this.commit = this.db.transaction(() => this.commitTx());
    // The age bound must hold even when nothing is being published.
    this.ageTimer = setInterval(() => this.flush(), 1000);
    this.ageTimer.unref();
  }

  /**
   * Queues one sample; returns its seq. Durable after the next group commit (a few ms).
   * `json` must be valid JSON text (it is embedded verbatim in the published payload).
   */
  append(component: string, channel: string, body: SampleBody, ts: number = Date.now()): number {
    if (this.closed) throw new GatewayError('OUTBOX_CLOSED', 'the telemetry outbox is closed; the gateway is shutting down');
    let kind: 0 | 1;
    let payload: string;
    if ('json' in body) {
      JSON.parse(body.json); // throws SyntaxError: the caller turns it into `invalid`
      kind = 1;
      payload = body.json;
    } else {
      kind = 0;
      // JSON has no NaN or Infinity; publish null rather than an unparseable payload.
      payload = Number.isFinite(body.value) ? String(body.value) : 'null';
    }
    const s = this.stream(component, channel);
    const seq = ++s.seq;
    s.dirty = true;
    this.queue.push({ id: this.nextId++, stream: s.info.id, seq, ts, kind, payload, bytes: payload.length + component.length + channel.length + ROW_OVERHEAD });
    this.appended++;
    if (this.queue.length >= this.maxBatch) this.flush();
    else this.schedule();
    return seq;
  }

  /** Marks a sample delivered (PUBACK); deleted at the next group commit. */
  ack(id: number): void {
    if (this.closed) return;
    this.acks.push(id);
    this.acked++;
    this.schedule();
  }

  /** Commits everything queued now (the publisher calls it before re-reading after a reconnect). */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = undefined;
    }
    if (this.closed) return;
    const now = this.now();
    const ageCheck = now - this.lastAgeCheck >= 1000;
    if (this.queue.length === 0 && this.acks.length === 0 && !ageCheck) return;
    const touched = new Set<number>();
    for (const r of this.queue) touched.add(r.stream);
    this.commit();
    this.commits++;
    if (touched.size > 0) for (const l of this.listeners) l(touched);
  }

  /** Called after each commit that stored new samples, with the streams that got them. */
  onFlush(listener: FlushListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stored samples of one stream after `afterId`, oldest first. */
  read(stream: number, afterId: number, limit: number): OutboxRow[] {
    return this.stmt.read.all(stream, afterId, limit) as OutboxRow[];
  }

  streamInfo(id: number): StreamInfo | undefined {
    return this.streamsById.get(id);
  }

  streams(): StreamInfo[] {
    return [...this.streamsById.values()];
  }

  /** The last seq handed out for a channel (0 if none). */
  lastSeq(component: string, channel: string): number {
    return this.streamsByKey.get(key(component, channel))?.seq ?? 0;
  }

  stats(): OutboxStats {
    const oldest = this.storedRows > 0 ? (this.stmt.oldestAt.get() as { at: number } | undefined)?.at : this.queue[0] ? this.now() : undefined;
    return {
      depth: this.storedRows + this.queue.length,
      bytes: this.storedBytes + this.queue.reduce((n, r) => n + r.bytes, 0),
      droppedFull: this.droppedFull,
      droppedAge: this.droppedAge,
      appended: this.appended,
      acked: this.acked,
      commits: this.commits,
      oldestAgeMs: oldest === undefined ? undefined : Math.max(0, this.now() - oldest),
    };
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    clearInterval(this.ageTimer);
    this.closed = true;
    this.listeners.clear();
    this.db.close();
  }

  private stream(component: string, channel: string): { info: StreamInfo; seq: number; dirty: boolean } {
    const k = key(component, channel);
    let s = this.streamsByKey.get(k);
    if (!s) {
      // Rare (first sample of a channel ever): insert the stream row at once to get its id.
      const id = Number(this.db.prepare('INSERT INTO streams (component, channel, seq) VALUES (?, ?, 0)').run(component, channel).lastInsertRowid);
      s = { info: { id, component, channel }, seq: 0, dirty: false };
      this.streamsByKey.set(k, s);
      this.streamsById.set(id, s.info);
    }
    return s;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = this.commitIntervalMs > 0
      ? setTimeout(() => { this.timer = undefined; this.flush(); }, this.commitIntervalMs)
      : setImmediate(() => { this.timer = undefined; this.flush(); });
  }

  private commitTx(): void {
    const now = this.now();
    const rows = this.queue;
    const acks = this.acks;
    this.queue = [];
    this.acks = [];
    const insert = this.stmt.insert;
    for (const r of rows) {
      insert.run(r.id, r.stream, r.seq, r.ts, now, r.kind, r.payload, r.bytes);
      this.storedRows++;
      this.storedBytes += r.bytes;
    }
    for (const s of this.streamsByKey.values()) {
      if (s.dirty) {
        this.stmt.seq.run(s.seq, s.info.id);
        s.dirty = false;
      }
    }
    if (rows.length > 0) this.stmt.setCounter.run('last-id', this.nextId - 1);
    const del = this.stmt.del;
    for (const id of acks) {
      // An evicted sample can still be acknowledged; only count what was really there.
      const gone = del.get(id) as { bytes: number } | undefined;
      if (gone) {
        this.storedRows--;
        this.storedBytes -= gone.bytes;
      }
    }
    if (this.storedBytes > this.maxBytes) {
      const n = this.evictOldest((_at, bytesLeft) => bytesLeft > this.maxBytes);
      if (n > 0) this.stmt.setCounter.run('dropped-full', (this.droppedFull += n));
    }
    if (now - this.lastAgeCheck >= 1000) {
      this.lastAgeCheck = now;
      const cutoff = now - this.maxAgeMs;
      const n = this.evictOldest((at) => at < cutoff);
      if (n > 0) this.stmt.setCounter.run('dropped-age', (this.droppedAge += n));
    }
  }

  /** Deletes from the oldest sample while `more(at, bytesStillStored)` holds; returns how many. */
  private evictOldest(more: (at: number, bytesLeft: number) => boolean): number {
    let cut = 0;
    let count = 0;
    let bytes = this.storedBytes;
    let after = 0;
    outer: for (;;) {
      const rows = this.stmt.oldest.all(after, 1024) as Array<{ id: number; at: number; bytes: number }>;
      if (rows.length === 0) break;
      for (const r of rows) {
        if (!more(r.at, bytes)) break outer;
        cut = r.id;
        bytes -= r.bytes;
        count++;
      }
      after = rows[rows.length - 1]!.id;
    }
    if (count > 0) {
      this.stmt.delUpTo.run(cut);
      this.storedRows -= count;
      this.storedBytes = bytes;
    }
    return count;
  }
}

const key = (component: string, channel: string) => `${component}\u0000${channel}`;
