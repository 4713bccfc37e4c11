import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { GatewayError } from '../../runtime/errors.js';

/**
 * The telemetry outbox: every sample goes through here, is published at QoS 1, and is forgotten only
 * when the broker acknowledges it (at-least-once). Written for SD cards (see docs/telemetry.md,
 * "Durability and flash wear"):
 *
 * - Memory first. A new sample is held in memory and handed to the publisher from there. Every
 *   `commitIntervalMs` (config `telemetry.commit-interval-ms`, default 1 s) one SQLite transaction stores the
 *   samples that are still unacknowledged and deletes acknowledged stored ones. With the broker up
 *   almost every sample is acknowledged before its commit and never touches the disk. With it down
 *   (a sample waited a full interval without a PUBACK) commits are grouped: everything held, once
 *   `backlogCommitBytes` (16 KiB) are held or `backlogCommitMaxMs` (30 s) passed, until the next PUBACK.
 * - `seq` is never reused. Numbers are reserved per channel in blocks (`streams.reserved`, written
 *   and fsynced before a number of the block is handed out, mirrored in `<db>.seq`). A clean close
 *   records exact positions; after an unclean stop each channel continues above its reservation and
 *   its first sample carries `skipped: [first, last]`, the range jumped. A component's channels get
 *   their rows and first blocks when it starts (`declare`), so they can be numbered on a full disk.
 * - Storage failures never throw out of a timer. A commit that fails (disk full, I/O error) keeps its
 *   samples in memory, bounded by `memoryMaxBytes` (oldest dropped first, counted `disk-full`), and is
 *   retried every second; the first success resumes persistence.
 * - Bounded by bytes and age on disk: the oldest samples go first and are counted.
 * - A damaged or zero-length database is moved aside (logged), never silently replaced: seq
 *   continues above the reservations in `<db>.seq`.
 */

export type SampleBody = { value: number } | { json: string };

/** Why samples were dropped; keys of `OutboxStats.dropped` (a Prometheus `reason` label later). */
export type DropReason = 'outbox-full' | 'age' | 'disk-full';

export interface OutboxOptions {
  /** SQLite file (its folder is created). */
  path: string;
  maxBytes?: number;
  maxAgeMs?: number;
  /** How long a sample may stay in memory only (0: until the next event-loop turn). */
  commitIntervalMs?: number;
  /** Samples held in memory that force an immediate commit. */
  maxBatch?: number;
  /**
   * Backlog (a sample went unacknowledged for a full commit interval: the broker is down or far
   * behind): commits wait until this many bytes are held, or `backlogCommitMaxMs`, whichever first.
   * Every commit appends at least one whole page to the WAL, so per-second commits of a few hundred
   * bytes would write ~10x what they store (bench/disk-writes).
   */
  backlogCommitBytes?: number;
  backlogCommitMaxMs?: number;
  /** While the disk refuses writes: samples held in memory at most (bytes), oldest dropped beyond. */
  memoryMaxBytes?: number;
  /** seq numbers reserved per channel at a time. */
  reserveBlock?: number;
  synchronous?: 'normal' | 'full';
  /**
   * Default true: the file is locked for this process and the WAL index kept in memory (no `-shm`
   * writes). False only where a second handle must read the file while this one is open (tests).
   */
  exclusive?: boolean;
  /** Injectable clock for the age bound (tests). */
  now?: () => number;
  /** One line per event worth an operator's attention (storage failing, recovered, damaged file). */
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
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
  /** Set on the first sample after a jump over never-published numbers (contract 7.4). */
  skipped?: [number, number] | undefined;
}

export interface OutboxStats {
  /** Samples not yet acknowledged: stored, or held in memory. */
  depth: number;
  bytes: number;
  /** Samples held in memory only (not yet committed). */
  memory: number;
  /** Drops by reason, persisted across restarts (when the disk lets us). */
  dropped: Record<DropReason, number>;
  /** Same as dropped['outbox-full'] and dropped.age (older callers). */
  droppedFull: number;
  droppedAge: number;
  /** False while commits fail (disk full, I/O error). */
  writable: boolean;
  /** The last storage error while not writable. */
  storageError: string | undefined;
  /** Since this process opened the outbox. */
  appended: number;
  acked: number;
  commits: number;
  oldestAgeMs: number | undefined;
}

type DataListener = (streams: ReadonlySet<number>) => void;

/** A sample in memory. The publisher holds the same object; `stored` flips when it is committed. */
interface HeldRow extends OutboxRow {
  at: number;
  /** Acknowledged or dropped while in memory: never written. */
  gone?: boolean;
  stored?: boolean;
}

interface StreamState {
  info: StreamInfo;
  /** Last seq handed out (or jumped over). */
  seq: number;
  /** seq numbers up to this one are durably reserved. */
  reserved: number;
  /** A jump not yet announced on a sample. */
  skip: [number, number] | undefined;
  /** Samples in memory, id order (gone ones are purged at commit). */
  held: HeldRow[];
  /** Highest id stored on disk (reads skip SQLite when the cursor is past it). */
  lastStoredId: number;
}

/** Per-row overhead beyond the payload text, so the byte bound tracks real disk use roughly. */
const ROW_OVERHEAD = 40;
const RETRY_MS = 1000;
/** How long a new channel's reservation may wait for the record beside the database (`<db>.seq`). */
const SIDECAR_DELAY_MS = 1000;

export class Outbox {
  private db!: Database.Database;
  readonly path: string;
  private readonly sidecar: string;
  private readonly maxBytes: number;
  private readonly maxAgeMs: number;
  private readonly commitIntervalMs: number;
  private readonly maxBatch: number;
  private readonly backlogCommitBytes: number;
  private readonly backlogCommitMaxMs: number;
  /** Set when a commit had to store unacknowledged samples; cleared by the next PUBACK. */
  private backlog = false;
  private readonly memoryMaxBytes: number;
  private readonly reserveBlock: number;
  private readonly syncMode: 'NORMAL' | 'FULL';
  private readonly exclusive: boolean;
  private readonly now: () => number;
  private readonly logLine: NonNullable<OutboxOptions['log']>;
  private readonly streamsByKey = new Map<string, StreamState>();
  private readonly streamsById = new Map<number, StreamState>();
  /** Unacknowledged samples in memory, in id order (Map keeps insertion order). */
  private readonly held = new Map<number, HeldRow>();
  private heldBytes = 0;
  /** Stored samples acknowledged since the last commit (deleted by it; hidden from reads now). */
  private acks = new Set<number>();
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private sidecarTimer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<DataListener>();
  private touched = new Set<number>();
  private announceScheduled = false;
  private nextId: number;
  private storedRows: number;
  private storedBytes: number;
  private readonly dropped: Record<DropReason, number>;
  /** Drop counters changed since the last commit. */
  private droppedDirty = false;
  private appended = 0;
  private acked = 0;
  private commits = 0;
  private lastAgeCheck = 0;
  private closed = false;
  private storageError: string | undefined;
  private readonly ageTimer: NodeJS.Timeout;
  private stmt!: Record<'insert' | 'del' | 'read' | 'oldest' | 'delUpTo' | 'setCounter' | 'oldestAt' | 'reserve' | 'announced', Database.Statement>;

  constructor(opts: OutboxOptions) {
    this.path = opts.path;
    this.sidecar = `${opts.path}.seq`;
    this.maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
    this.maxAgeMs = opts.maxAgeMs ?? 7 * 86_400_000;
    this.commitIntervalMs = opts.commitIntervalMs ?? 1000;
    this.maxBatch = opts.maxBatch ?? 8192;
    this.backlogCommitBytes = opts.backlogCommitBytes ?? 16_384;
    this.backlogCommitMaxMs = Math.max(this.commitIntervalMs, opts.backlogCommitMaxMs ?? 30_000);
    this.memoryMaxBytes = opts.memoryMaxBytes ?? 4 * 1024 * 1024;
    this.reserveBlock = Math.max(2, opts.reserveBlock ?? 10_000);
    this.syncMode = opts.synchronous === 'full' ? 'FULL' : 'NORMAL';
    this.exclusive = opts.exclusive ?? true;
    this.now = opts.now ?? Date.now;
    this.logLine = opts.log ?? ((level, message) => (level === 'info' ? undefined : process.stderr.write(`${level}: ${message}\n`)));

    mkdirSync(dirname(opts.path), { recursive: true });
    const damage = this.openChecked();
    const unclean = this.counter('open') === 1;
    const positions = this.db.prepare('SELECT stream, MAX(seq) AS seq, MAX(id) AS id FROM samples GROUP BY stream').all() as Array<{ stream: number; seq: number; id: number }>;
    const storedMax = new Map(positions.map((r) => [r.stream, r]));
    for (const r of this.db.prepare('SELECT id, component, channel, seq, reserved, skip_from FROM streams').all() as Array<StreamInfo & { seq: number; reserved: number; skip_from: number | null }>) {
      const info = { id: r.id, component: r.component, channel: r.channel };
      const s: StreamState = { info, seq: r.seq, reserved: Math.max(r.reserved, r.seq), skip: undefined, held: [], lastStoredId: storedMax.get(r.id)?.id ?? 0 };
      // A jump announced by no sample yet (closed cleanly before the next sample) stays pending.
      if (r.skip_from !== null) s.skip = [r.skip_from, r.seq];
      if (unclean) {
        // Numbers up to the reservation may have been published from memory: continue above it.
        const known = Math.max(r.seq, storedMax.get(r.id)?.seq ?? 0);
        if (s.reserved > known) s.skip = [s.skip?.[0] ?? known + 1, s.reserved];
        s.seq = s.reserved;
      }
      this.streamsByKey.set(key(r.component, r.channel), s);
      this.streamsById.set(r.id, s);
    }
    if (damage) this.recoverFromSidecar(damage);
    const agg = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS b, COALESCE(MAX(id), 0) AS m FROM samples').get() as { n: number; b: number; m: number };
    this.storedRows = agg.n;
    this.storedBytes = agg.b;
    // Ids grow within a process (the publisher's cursors); rows published from memory never had one on disk.
    this.nextId = Math.max(agg.m, this.counter('last-id')) + 1;
    this.dropped = { 'outbox-full': this.counter('dropped-full'), age: this.counter('dropped-age'), 'disk-full': this.counter('dropped-disk-full') };
    // Marks the run unclean until close(); the jumps found above are persisted with it.
    this.db.transaction(() => {
      this.stmt.setCounter.run('open', 1);
      for (const s of this.streamsById.values()) if (s.skip) this.db.prepare('UPDATE streams SET seq = ?, skip_from = ? WHERE id = ?').run(s.seq, s.skip[0], s.info.id);
    })();
    // The age bound must hold even when nothing is being published; also the retry while failing.
    this.ageTimer = setInterval(() => this.commitHeld(true), RETRY_MS);
    this.ageTimer.unref();
  }

  /**
   * Takes one sample; returns its seq (0 when it had to be dropped: no seq could be reserved because
   * the disk refuses writes). Held in memory, stored at the next commit unless acknowledged first.
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
    if (!s || !this.reserveFor(s)) {
      this.drop('disk-full', 1);
      return 0;
    }
    const seq = ++s.seq;
    const row: HeldRow = { id: this.nextId++, stream: s.info.id, seq, ts, kind, payload, bytes: payload.length + component.length + channel.length + ROW_OVERHEAD, at: this.now(), skipped: s.skip };
    s.skip = undefined;
    s.held.push(row);
    this.held.set(row.id, row);
    this.heldBytes += row.bytes;
    this.appended++;
    this.touched.add(s.info.id);
    this.announce();
    if (this.storageError === undefined && (this.held.size >= this.maxBatch || (this.backlog && this.heldBytes >= this.backlogCommitBytes))) this.flush();
    else if (this.storageError !== undefined && this.heldBytes > this.memoryMaxBytes) this.shedMemory();
    else this.schedule();
    return seq;
  }

  /**
   * A component's channels, known when it starts: their rows and first seq reservations are
   * created now (one commit, one `<db>.seq` write), not at each channel's first sample. A channel
   * first heard of on a full disk has no durable reservation and cannot be published without
   * risking a reused seq after a stop; declared ones were reserved while the disk took writes,
   * so they are published from memory like any other (test/drivers/storage-full-gateway).
   * Never throws for a storage failure: undeclared channels are then created at their first sample.
   */
  declare(component: string, channels: readonly string[]): void {
    if (this.closed) return;
    this.createStreams(channels.map((channel) => ({ component, channel })), () => this.writeSidecar());
  }

  /** Marks a sample delivered (PUBACK). In memory: forgotten now; stored: deleted at the next commit. */
  ack(id: number): void {
    if (this.closed) return;
    this.acked++;
    // A PUBACK: the broker takes samples again, back to storing only what waits a full interval.
    this.backlog = false;
    const h = this.held.get(id);
    if (h) {
      this.held.delete(id);
      this.heldBytes -= h.bytes;
      h.gone = true;
      if (h.skipped) this.markAnnounced(h.stream);
      return;
    }
    this.acks.add(id);
    this.schedule();
  }

  /**
   * Commits now: stores the samples held in memory, deletes acknowledged ones, applies the bounds.
   * Never throws for a storage failure: the samples stay in memory and the commit is retried.
   */
  flush(): void {
    this.commitHeld(false);
  }

  /** `dueOnly`: the commit timer stores only samples held a full interval (younger ones may be acked yet). */
  private commitHeld(dueOnly: boolean): void {
    if (this.timer) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = undefined;
    }
    if (this.closed) return;
    const now = this.now();
    let ageDue = false;
    if (now - this.lastAgeCheck >= 1000) {
      this.lastAgeCheck = now;
      ageDue = this.storedRows > 0 && this.oldestStoredAt() < now - this.maxAgeMs;
    }
    const rows: HeldRow[] = [];
    let dueAt = dueOnly ? now - this.commitIntervalMs : Infinity;
    if (dueOnly && this.backlog && this.commitIntervalMs > 0) {
      // Nothing is being acknowledged: one larger commit of everything held once it fills a few
      // pages or the oldest sample has waited backlogCommitMaxMs (the SIGKILL window while down).
      const oldest = this.held.values().next().value as HeldRow | undefined;
      dueAt = oldest && (this.heldBytes >= this.backlogCommitBytes || oldest.at <= now - this.backlogCommitMaxMs) ? Infinity : -Infinity;
    }
    for (const h of this.held.values()) {
      if (h.at > dueAt) break;
      rows.push(h);
    }
    // A sample held a full interval without a PUBACK: the broker is down or far behind.
    if (dueOnly && rows.length > 0 && this.commitIntervalMs > 0) this.backlog = true;
    if (rows.length === 0 && this.acks.size === 0 && !this.droppedDirty && !ageDue && this.storedBytes <= this.maxBytes && this.storageError === undefined) {
      // Everything due was acknowledged in time: nothing to write.
      this.afterCommit();
      return;
    }
    const saved = { storedRows: this.storedRows, storedBytes: this.storedBytes, full: this.dropped['outbox-full'], age: this.dropped.age };
    try {
      this.db.transaction(() => this.commitTx(rows, now, ageDue))();
    } catch (err) {
      this.storedRows = saved.storedRows;
      this.storedBytes = saved.storedBytes;
      this.dropped['outbox-full'] = saved.full;
      this.dropped.age = saved.age;
      this.storageFailed(err);
      return;
    }
    this.commits++;
    for (const h of rows) {
      h.stored = true;
      this.held.delete(h.id);
      this.heldBytes -= h.bytes;
      const s = this.streamsById.get(h.stream);
      if (s) s.lastStoredId = h.id;
    }
    this.afterCommit();
    this.acks.clear();
    this.droppedDirty = false;
    if (this.storageError !== undefined) {
      this.logLine('info', `telemetry outbox ${this.path} is writable again; samples are stored again (${this.dropped['disk-full']} dropped while it was not, in total)`);
      this.storageError = undefined;
    }
  }

  /** Forgets what left memory (stored, acknowledged, dropped); re-arms the timer for what is still held. */
  private afterCommit(): void {
    for (const s of this.streamsById.values()) {
      if (s.held.length === 0) continue;
      let keep = 0;
      while (keep < s.held.length && (s.held[keep]!.gone || s.held[keep]!.stored)) keep++;
      if (keep > 0) s.held = keep === s.held.length ? [] : s.held.slice(keep);
    }
    if (this.held.size > 0 && this.storageError === undefined && !this.timer) {
      const oldest = this.held.values().next().value as HeldRow;
      const wait = Math.max(0, oldest.at + (this.backlog ? this.backlogCommitMaxMs : this.commitIntervalMs) - this.now());
      this.timer = setTimeout(() => { this.timer = undefined; this.commitHeld(true); }, Math.max(wait, Math.min(this.commitIntervalMs, 50)));
    }
  }

  /** Called (batched, after the current turn) when streams got new samples. */
  onData(listener: DataListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Unacknowledged samples of one stream after `afterId`, oldest first: stored ones, then memory. */
  read(stream: number, afterId: number, limit: number): OutboxRow[] {
    const s = this.streamsById.get(stream);
    let out: OutboxRow[] = [];
    if (!s || afterId < s.lastStoredId) {
      out = this.stmt.read.all(afterId, stream, limit) as OutboxRow[];
      for (const r of out) if (r.skipped !== null && r.skipped !== undefined) r.skipped = JSON.parse(r.skipped as unknown as string) as [number, number];
      else delete r.skipped;
      if (this.acks.size > 0) out = out.filter((r) => !this.acks.has(r.id));
      if (out.length > 0) afterId = out[out.length - 1]!.id;
    }
    if (s && out.length < limit && s.held.length > 0) {
      const held = s.held;
      let lo = 0;
      let hi = held.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (held[mid]!.id <= afterId) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < held.length && out.length < limit; i++) if (!held[i]!.gone) out.push(held[i]!);
    }
    return out;
  }

  streamInfo(id: number): StreamInfo | undefined {
    return this.streamsById.get(id)?.info;
  }

  streams(): StreamInfo[] {
    return [...this.streamsById.values()].map((s) => s.info);
  }

  /** The last seq handed out (or jumped over) for a channel (0 if none). */
  lastSeq(component: string, channel: string): number {
    return this.streamsByKey.get(key(component, channel))?.seq ?? 0;
  }

  stats(): OutboxStats {
    let oldest: number | undefined;
    if (this.storedRows > 0) oldest = this.oldestStoredAt();
    else for (const h of this.held.values()) {
      oldest = h.at;
      break;
    }
    return {
      depth: this.storedRows + this.held.size,
      bytes: this.storedBytes + this.heldBytes,
      memory: this.held.size,
      dropped: { ...this.dropped },
      droppedFull: this.dropped['outbox-full'],
      droppedAge: this.dropped.age,
      writable: this.storageError === undefined,
      storageError: this.storageError,
      appended: this.appended,
      acked: this.acked,
      commits: this.commits,
      oldestAgeMs: oldest === undefined ? undefined : Math.max(0, this.now() - oldest),
    };
  }

  /**
   * Stores what is unacknowledged and records exact seq positions, so the next start continues
   * without a jump. If the disk refuses, the run stays marked unclean: the next start jumps.
   */
  close(): void {
    if (this.closed) return;
    this.flush();
    clearInterval(this.ageTimer);
    if (this.sidecarTimer) clearTimeout(this.sidecarTimer);
    if (this.storageError === undefined) {
      try {
        this.db.transaction(() => {
          const upd = this.db.prepare('UPDATE streams SET seq = ?, skip_from = ? WHERE id = ?');
          for (const s of this.streamsById.values()) upd.run(s.seq, s.skip ? s.skip[0] : null, s.info.id);
          this.stmt.setCounter.run('open', 0);
          this.stmt.setCounter.run('last-id', this.nextId - 1);
        })();
        this.writeSidecar();
      } catch (err) {
        this.logLine('warn', `telemetry outbox ${this.path}: could not record the seq positions at close (${(err as Error).message}); the next start continues above the reservations`);
      }
    } else if (this.held.size > 0) {
      this.logLine('error', `telemetry outbox ${this.path}: ${this.held.size} unacknowledged samples could not be stored at close (${this.storageError}) and are lost`);
    }
    this.closed = true;
    this.listeners.clear();
    this.db.close();
  }

  // --- opening, damage -------------------------------------------------------------------------

  /** Opens the database; a damaged one is moved aside and a new one made. Returns what was wrong. */
  private openChecked(): string | undefined {
    let damage: string | undefined;
    if (existsSync(this.path) && statSync(this.path).size === 0) damage = 'zero-length file';
    if (!damage) {
      try {
        this.openDb();
        return undefined;
      } catch (err) {
        const code = (err as { code?: string }).code ?? '';
        if (!/^SQLITE_(CORRUPT|NOTADB)/.test(code)) throw new GatewayError('OUTBOX_OPEN', `cannot open the telemetry outbox ${this.path} (${(err as Error).message}); check gateway.data-dir is writable and not used by another gateway`, { cause: err });
        damage = (err as Error).message;
        try {
          this.db?.close();
        } catch {
          // already unusable
        }
      }
    }
    const aside = `${this.path}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(this.path, aside);
    for (const ext of ['-wal', '-shm']) if (existsSync(this.path + ext)) renameSync(this.path + ext, aside + ext);
    try {
      this.openDb();
    } catch (err) {
      throw new GatewayError('OUTBOX_OPEN', `cannot create a new telemetry outbox ${this.path} (${(err as Error).message}); check gateway.data-dir is writable`, { cause: err });
    }
    return `${damage}; moved it aside to ${aside} and started a new one`;
  }

  private openDb(): void {
    this.db = new Database(this.path);
    // Small pages (new files only): each commit appends at least one whole page to the WAL, and at a
    // few samples per second a 4 KiB page would be mostly rewritten padding (bench/disk-writes).
    this.db.pragma('page_size = 1024');
    // Exclusive, before WAL is entered: the WAL index lives in heap memory instead of a mmapped
    // `-shm` file. Every commit dirtied one or two of its 4 KiB pages, invisible to strace but
    // counted in /proc/PID/io write_bytes (bench/disk-writes, broker down: more than the WAL itself).
    // Only this process uses the file; a second gateway on the same data-dir now fails to open it.
    if (this.exclusive) this.db.pragma('locking_mode = EXCLUSIVE');
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a commit survives a process crash; only power loss can take the last ones.
    this.db.pragma(`synchronous = ${this.syncMode}`);
    this.db.pragma('busy_timeout = 5000');
    // Checkpoints copy pages into the main file: fewer of them, fewer rewrites of the same page.
    this.db.pragma('wal_autocheckpoint = 2000');
    this.db.pragma('journal_size_limit = 16777216');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS streams (id INTEGER PRIMARY KEY, component TEXT NOT NULL, channel TEXT NOT NULL, seq INTEGER NOT NULL, UNIQUE (component, channel));
      CREATE TABLE IF NOT EXISTS samples (id INTEGER PRIMARY KEY, stream INTEGER NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, at INTEGER NOT NULL, kind INTEGER NOT NULL, payload TEXT NOT NULL, bytes INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    `);
    // Older outboxes: the reservation columns, and no secondary index (one page less per commit;
    // reads scan forward from a cursor by rowid, which is what they need).
    const cols = new Set((this.db.prepare('PRAGMA table_info(streams)').all() as Array<{ name: string }>).map((c) => c.name));
    if (!cols.has('reserved')) this.db.exec('ALTER TABLE streams ADD COLUMN reserved INTEGER NOT NULL DEFAULT 0');
    if (!cols.has('skip_from')) this.db.exec('ALTER TABLE streams ADD COLUMN skip_from INTEGER');
    const scols = new Set((this.db.prepare('PRAGMA table_info(samples)').all() as Array<{ name: string }>).map((c) => c.name));
    if (!scols.has('skipped')) this.db.exec('ALTER TABLE samples ADD COLUMN skipped TEXT');
    this.db.exec('DROP INDEX IF EXISTS samples_by_stream');
    this.stmt = {
      insert: this.db.prepare('INSERT INTO samples (id, stream, seq, ts, at, kind, payload, bytes, skipped) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      del: this.db.prepare('DELETE FROM samples WHERE id = ? RETURNING bytes'),
      // Parameters (afterId, stream, limit): a forward scan by rowid from the stream's cursor.
      read: this.db.prepare('SELECT id, stream, seq, ts, kind, payload, bytes, skipped FROM samples WHERE id > ? AND stream = ? ORDER BY id LIMIT ?'),
      oldest: this.db.prepare('SELECT id, at, bytes FROM samples WHERE id > ? ORDER BY id LIMIT ?'),
      delUpTo: this.db.prepare('DELETE FROM samples WHERE id <= ?'),
      setCounter: this.db.prepare('INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value'),
      oldestAt: this.db.prepare('SELECT at FROM samples ORDER BY id LIMIT 1'),
      // With the reservation, the position handed out so far: a durable lower bound, so a later
      // unclean stop jumps only over this run's numbers.
      reserve: this.db.prepare('UPDATE streams SET reserved = ?, seq = ? WHERE id = ?'),
      // A pending jump is forgotten only once the sample announcing it was acknowledged or stored
      // (a stored sample keeps its `skipped`): until then a later unclean stop announces it again.
      announced: this.db.prepare('UPDATE streams SET skip_from = NULL WHERE id = ?'),
    };
    // Verifies the file beyond its header (a torn page shows up here rather than mid-run).
    this.db.prepare('SELECT COUNT(*) FROM streams').get();
  }

  /** A new database after damage: seed every channel from the reservation record beside it. */
  private recoverFromSidecar(damage: string): void {
    let record: Array<{ component: string; channel: string; seq: number; reserved: number }> = [];
    try {
      record = (JSON.parse(readFileSync(this.sidecar, 'utf8')) as { streams: typeof record }).streams ?? [];
    } catch {
      record = [];
    }
    if (record.length === 0) {
      this.logLine('error', `telemetry outbox ${this.path} was damaged (${damage}); no seq reservation record (${this.sidecar}) was found, so seq restarts at 1 on every channel and consumers may see numbers again`);
      return;
    }
    const ins = this.db.prepare('INSERT INTO streams (component, channel, seq, reserved, skip_from) VALUES (?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const r of record) {
        const id = Number(ins.run(r.component, r.channel, r.reserved, r.reserved, r.seq + 1).lastInsertRowid);
        const info = { id, component: r.component, channel: r.channel };
        const s: StreamState = { info, seq: r.reserved, reserved: r.reserved, skip: [r.seq + 1, r.reserved], held: [], lastStoredId: 0 };
        this.streamsByKey.set(key(r.component, r.channel), s);
        this.streamsById.set(id, s);
      }
    })();
    this.logLine('error', `telemetry outbox ${this.path} was damaged (${damage}); its unsent samples are lost, seq continues above the reservations of ${record.length} channel(s) from ${this.sidecar} (announced with "skipped")`);
  }

  // --- seq reservation ---------------------------------------------------------------------------

  /**
   * Makes sure the next seq of `s` is durably reserved before it is handed out. A block is reserved
   * when the current one is half used, so a disk that refuses writes for a while still leaves room.
   */
  private reserveFor(s: StreamState): boolean {
    const left = s.reserved - s.seq;
    if (left > this.reserveBlock / 2) return true;
    try {
      const to = s.seq + this.reserveBlock + (left > 0 ? left : 0);
      // FULL for this one commit: a reservation must survive a power cut, not only a process crash.
      this.db.pragma('synchronous = FULL');
      try {
        this.stmt.reserve.run(to, s.seq, s.info.id);
      } finally {
        this.db.pragma(`synchronous = ${this.syncMode}`);
      }
      s.reserved = to;
      this.writeSidecar();
      return true;
    } catch (err) {
      this.storageFailed(err);
      return left > 0;
    }
  }

  /**
   * A new channel's reservation reaches the record beside the database within a second: channels
   * first seen together (a component's first report) then share one file write instead of one each.
   * The database itself holds the reservation at once; the record only matters if it is lost.
   */
  private sidecarSoon(): void {
    if (this.sidecarTimer) return;
    this.sidecarTimer = setTimeout(() => {
      this.sidecarTimer = undefined;
      if (!this.closed) this.writeSidecar();
    }, SIDECAR_DELAY_MS);
    this.sidecarTimer.unref();
  }

  /** The reservation record beside the database, for when the database itself is lost. */
  private writeSidecar(): void {
    if (this.sidecarTimer) {
      clearTimeout(this.sidecarTimer);
      this.sidecarTimer = undefined;
    }
    const body = JSON.stringify({ streams: [...this.streamsById.values()].map((s) => ({ component: s.info.component, channel: s.info.channel, seq: s.seq, reserved: s.reserved })) });
    const tmp = `${this.sidecar}.tmp`;
    try {
      const fd = openSync(tmp, 'w');
      try {
        writeSync(fd, body);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.sidecar);
    } catch {
      // Best effort: the database's own reservation holds; this copy only matters if the database is lost.
    }
  }

  // --- internals ---------------------------------------------------------------------------------

  private counter(name: string): number {
    return (this.db.prepare('SELECT value FROM counters WHERE name = ?').get(name) as { value: number } | undefined)?.value ?? 0;
  }

  private oldestStoredAt(): number {
    return (this.stmt.oldestAt.get() as { at: number } | undefined)?.at ?? this.now();
  }

  private stream(component: string, channel: string): StreamState | undefined {
    const k = key(component, channel);
    const s = this.streamsByKey.get(k);
    if (s) return s;
    // While the disk refuses writes a new channel is not tried per sample (each try a failing
    // fsynced write): its samples are dropped as disk-full, which also makes the 1 s retry commit
    // run; once that succeeds the next sample creates the row. Channels a component declares are
    // created when it starts (declare()), so only undeclared ones (a "*" grant) can land here.
    if (this.storageError !== undefined) return undefined;
    return this.createStreams([{ component, channel }], () => this.sidecarSoon())[0];
  }

  /**
   * Creates the rows of channels not seen before, each with its first seq reservation, in one FULL
   * commit (one fsync however many: bench/disk-writes caught channels first seen while the broker
   * was down costing more than the backlog). `recorded` runs after, to update `<db>.seq`.
   * Returns the streams, or [] when the disk refused (reported once, retried by the 1 s timer).
   */
  private createStreams(channels: Array<{ component: string; channel: string }>, recorded: () => void): StreamState[] {
    const fresh = [...new Map(channels.map((c) => [key(c.component, c.channel), c])).entries()].filter(([k]) => !this.streamsByKey.has(k)).map(([, c]) => c);
    if (fresh.length === 0) return channels.map((c) => this.streamsByKey.get(key(c.component, c.channel))!);
    let ids: number[];
    try {
      this.db.pragma('synchronous = FULL');
      try {
        const ins = this.db.prepare('INSERT INTO streams (component, channel, seq, reserved) VALUES (?, ?, 0, ?)');
        ids = this.db.transaction(() => fresh.map((c) => Number(ins.run(c.component, c.channel, this.reserveBlock).lastInsertRowid)))();
      } finally {
        this.db.pragma(`synchronous = ${this.syncMode}`);
      }
    } catch (err) {
      this.storageFailed(err);
      return [];
    }
    fresh.forEach((c, i) => {
      const st: StreamState = { info: { id: ids[i]!, component: c.component, channel: c.channel }, seq: 0, reserved: this.reserveBlock, skip: undefined, held: [], lastStoredId: 0 };
      this.streamsByKey.set(key(c.component, c.channel), st);
      this.streamsById.set(st.info.id, st);
    });
    recorded();
    return channels.map((c) => this.streamsByKey.get(key(c.component, c.channel))!);
  }

  private announce(): void {
    if (this.announceScheduled) return;
    this.announceScheduled = true;
    queueMicrotask(() => {
      this.announceScheduled = false;
      const t = this.touched;
      this.touched = new Set();
      for (const l of this.listeners) l(t);
    });
  }

  private schedule(): void {
    if (this.timer) return;
    // While the disk refuses writes the 1 s retry timer does the retrying.
    if (this.storageError !== undefined) return;
    this.timer = this.commitIntervalMs > 0
      ? setTimeout(() => { this.timer = undefined; this.commitHeld(true); }, this.commitIntervalMs)
      : setImmediate(() => { this.timer = undefined; this.flush(); });
  }

  private drop(reason: DropReason, n: number): void {
    this.dropped[reason] += n;
    this.droppedDirty = true;
  }

  /** A commit failed: keep the samples in memory (bounded), say so once, retry on the timer. */
  private storageFailed(err: unknown): void {
    const msg = (err as Error).message ?? String(err);
    if (this.storageError === undefined) {
      this.logLine('error', `telemetry outbox ${this.path}: cannot write (${msg}); holding up to ${this.memoryMaxBytes} bytes of samples in memory, dropping the oldest beyond (counted as disk-full), retrying every ${RETRY_MS / 1000} s; free space in gateway.data-dir`);
    }
    this.storageError = msg;
    for (const s of this.streamsById.values()) if (s.held.length > 0) s.held = s.held.filter((h) => !h.gone);
    this.shedMemory();
  }

  /** Drops the oldest samples held in memory until they fit `memoryMaxBytes`. */
  private shedMemory(): void {
    if (this.heldBytes <= this.memoryMaxBytes) return;
    let n = 0;
    for (const h of this.held.values()) {
      if (this.heldBytes <= this.memoryMaxBytes) break;
      this.held.delete(h.id);
      this.heldBytes -= h.bytes;
      h.gone = true;
      n++;
    }
    this.drop('disk-full', n);
  }

  /** The sample carrying a jump's `skipped` was acknowledged from memory: the jump is announced. */
  private markAnnounced(stream: number): void {
    try {
      this.stmt.announced.run(stream);
    } catch {
      // The disk refuses writes: the jump stays pending and is announced again after an unclean stop.
    }
  }

  private commitTx(rows: HeldRow[], now: number, ageDue: boolean): void {
    const insert = this.stmt.insert;
    for (const r of rows) {
      insert.run(r.id, r.stream, r.seq, r.ts, r.at, r.kind, r.payload, r.bytes, r.skipped ? JSON.stringify(r.skipped) : null);
      if (r.skipped) this.stmt.announced.run(r.stream);
      this.storedRows++;
      this.storedBytes += r.bytes;
    }
    const del = this.stmt.del;
    for (const id of this.acks) {
      // An evicted sample can still be acknowledged; only count what was really there.
      const gone = del.get(id) as { bytes: number } | undefined;
      if (gone) {
        this.storedRows--;
        this.storedBytes -= gone.bytes;
      }
    }
    if (this.storedBytes > this.maxBytes) {
      const n = this.evictOldest((_at, bytesLeft) => bytesLeft > this.maxBytes);
      if (n > 0) this.drop('outbox-full', n);
    }
    if (ageDue) {
      const cutoff = now - this.maxAgeMs;
      const n = this.evictOldest((at) => at < cutoff);
      if (n > 0) this.drop('age', n);
    }
    // While failing, the retry must write something to learn that the disk takes writes again.
    if (this.droppedDirty || this.storageError !== undefined) {
      this.stmt.setCounter.run('dropped-full', this.dropped['outbox-full']);
      this.stmt.setCounter.run('dropped-age', this.dropped.age);
      this.stmt.setCounter.run('dropped-disk-full', this.dropped['disk-full']);
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
