import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { GatewayError } from '../../runtime/errors.js';
import { join } from 'node:path';
import { Bucket } from './bucket.js';

/**
 * Where components' buckets live. `MemoryStore`: `airssys run` without `--data-dir`, and tests.
 * `FileStore`: the gateway, one JSON file per component under `<data-dir>/storage/`.
 *
 * Durability (contract 7.1): a `set` only changes the bucket in memory and marks it dirty; the first
 * change arms a timer of `flushMs`, and when it fires every dirty bucket is written durably (a
 * temporary sibling, fsync, rename over the file, fsync of the directory), so a component setting a
 * key on every event causes at most one fsync per bucket per interval (SD cards wear out). A
 * component crash loses nothing (the bucket belongs to the gateway process); a power cut or SIGKILL
 * at most the last interval; a clean stop flushes everything (`close`).
 *
 * A full disk (issue 12): a flush that fails leaves the buckets dirty in memory and is retried every
 * `retryMs` (≤ 1 s) until it succeeds, so persistence resumes by itself once space is freed; while
 * the disk is full `refusal()` says so and the storage interface answers `set` with `limited`.
 * Nothing on this path throws into a timer: the gateway keeps running.
 */
export interface BucketStore {
  /** The component's bucket, loaded on first use. */
  bucket(component: string): Bucket;
  /** Writes every dirty bucket now. */
  flush(): void;
  /** Flushes and stops the timer. */
  close(): void;
  /**
   * Why a `set` is refused now (the data directory's filesystem is full: what is set could not be
   * made durable), or undefined. The storage interface turns it into `limited`.
   */
  refusal(): string | undefined;
  /**
   * Keeps the bucket as it stands aside, before `forVersion` is swapped in (contract 7.1). FileStore
   * writes the copy durably (`<component>.at-swap.json`), so that a restart in the new version's
   * probation, which reverts to the old version, puts it back too. Throws when it cannot be kept.
   */
  setAside(component: string, forVersion: string): void;
  /** Puts the set-aside copy back (a rollback, a failed init) and drops it; false when there is none. */
  restoreAside(component: string): boolean;
  /** Drops the set-aside copy (the new version was committed). */
  dropAside(component: string): void;
}

export class MemoryStore implements BucketStore {
  private readonly buckets = new Map<string, Bucket>();
  private readonly aside = new Map<string, ReadonlyMap<string, Uint8Array>>();
  bucket(component: string): Bucket {
    let b = this.buckets.get(component);
    if (!b) this.buckets.set(component, (b = new Bucket(component)));
    return b;
  }
  flush(): void {}
  close(): void {}
  refusal(): string | undefined {
    return undefined;
  }
  setAside(component: string): void {
    this.aside.set(component, this.bucket(component).snapshot());
  }
  restoreAside(component: string): boolean {
    const kept = this.aside.get(component);
    if (!kept) return false;
    this.bucket(component).restore(kept);
    this.aside.delete(component);
    return true;
  }
  dropAside(component: string): void {
    this.aside.delete(component);
  }
}

export interface FileStoreOptions {
  /** The directory holding `<component>.json` (created on first write). */
  dir: string;
  /** Coalescing interval (config `storage.flush-ms`). */
  flushMs: number;
  /** A bucket file that does not parse was kept aside under this name; the bucket starts empty. */
  onCorrupt?: (component: string, keptAs: string, problem: string) => void;
  /**
   * A flush failed (`full`: ENOSPC/EDQUOT; else another I/O error). What was set stays in memory and
   * the flush is retried every `retryMs`. Called once per episode, not per retry.
   */
  onWriteFailed?: (problem: string, full: boolean) => void;
  /** Flushes succeed again after a failure that began `afterMs` ago. */
  onWriteResumed?: (afterMs: number) => void;
  /** Retry interval after a failed flush (default: flushMs, at most 1000 ms). */
  retryMs?: number;
}

/** `<component>.json`: a bucket; `<component>.at-swap.json`: the copy kept aside at a version swap. */
export const BUCKET_SUFFIX = '.json';
export const ASIDE_SUFFIX = '.at-swap.json';

/** A bucket file's content: `{ version: 1, component, entries: { key: base64 } }` (plus `forVersion` when set aside). */
export interface BucketFile {
  component?: string;
  forVersion?: string;
  entries: [string, Uint8Array][];
}

/** Parses a bucket file's text; throws an Error saying what is wrong. */
export function parseBucketText(text: string): BucketFile {
  const parsed = JSON.parse(text) as { component?: unknown; forVersion?: unknown; entries?: Record<string, unknown> };
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
  const entries: [string, Uint8Array][] = [];
  for (const [k, v] of Object.entries(parsed.entries ?? {})) {
    if (typeof v !== 'string') throw new Error(`value of ${JSON.stringify(k)} is not base64 text`);
    entries.push([k, new Uint8Array(Buffer.from(v, 'base64'))]);
  }
  const out: BucketFile = { entries };
  if (typeof parsed.component === 'string') out.component = parsed.component;
  if (typeof parsed.forVersion === 'string') out.forVersion = parsed.forVersion;
  return out;
}

const isFull = (err: unknown): boolean => {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
};
const describeFs = (err: unknown): string => `${(err as NodeJS.ErrnoException).code ?? 'error'}: ${(err as Error).message.split('\n')[0]}`;

export class FileStore implements BucketStore {
  private readonly buckets = new Map<string, Bucket>();
  private readonly written = new Map<string, number>();
  /** Set-aside copies taken at a swap (also on disk as `<component>.at-swap.json`). */
  private readonly aside = new Map<string, ReadonlyMap<string, Uint8Array>>();
  /** Set-aside files whose removal waits for a flush that succeeds (see restoreAside). */
  private readonly staleAside = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Since when (ms) flushes fail, and why; undefined while they succeed. */
  private failure: { since: number; full: boolean; problem: string } | undefined;
  /** fsync calls made (files and the directory), for tests and the benchmark. */
  fsyncs = 0;
  /** Flushes that wrote at least one bucket. */
  flushes = 0;

  constructor(private readonly opts: FileStoreOptions) {}

  bucket(component: string): Bucket {
    let b = this.buckets.get(component);
    if (b) return b;
    b = new Bucket(component, () => this.arm());
    const file = this.fileOf(component);
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      text = undefined; // no file yet: an empty bucket
    }
    if (text !== undefined) {
      try {
        b.load(parseBucketText(text).entries);
      } catch (err) {
        // Never crash on a damaged file, never destroy it: keep it aside for the operator.
        const keptAs = `${file}.corrupt-${Date.now()}`;
        try {
          renameSync(file, keptAs);
        } catch {
          /* already gone */
        }
        this.opts.onCorrupt?.(component, keptAs, (err as Error).message);
      }
    }
    this.written.set(component, b.generation);
    this.buckets.set(component, b);
    return b;
  }

  private fileOf(component: string): string {
    // Component names are [a-z0-9][a-z0-9-]{0,63}: safe as file names, and never end in `.at-swap`.
    return join(this.opts.dir, `${component}${BUCKET_SUFFIX}`);
  }

  private asideOf(component: string): string {
    return join(this.opts.dir, `${component}${ASIDE_SUFFIX}`);
  }

  private arm(): void {
    if (this.timer || this.closed) return;
    const delay = this.failure ? (this.opts.retryMs ?? Math.min(this.opts.flushMs, 1000)) : this.opts.flushMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, delay);
    this.timer.unref();
  }

  refusal(): string | undefined {
    if (!this.failure?.full) return undefined;
    return `storage: the data directory's filesystem is full (${this.opts.dir}); the set is refused until space is freed`;
  }

  /**
   * Writes every dirty bucket durably. Never throws: a failure (a full disk, an I/O error) leaves
   * the buckets dirty in memory, is reported once, and the flush is retried every `retryMs` until
   * one succeeds. Returns whether everything dirty is on disk now.
   */
  flush(): boolean {
    let wrote = false;
    try {
      for (const [name, b] of this.buckets) {
        const generation = b.generation;
        if (this.written.get(name) === generation) continue;
        if (!wrote) mkdirSync(this.opts.dir, { recursive: true });
        this.writeDurably(this.fileOf(name), JSON.stringify(b.toJSON()));
        this.written.set(name, generation);
        wrote = true;
      }
      if (wrote) {
        this.fsyncDir();
        this.flushes++;
      }
      for (const component of this.staleAside) {
        rmSync(this.asideOf(component), { force: true });
        this.staleAside.delete(component);
      }
    } catch (err) {
      this.failed(err);
      return false;
    }
    if (this.failure) {
      const afterMs = Date.now() - this.failure.since;
      this.failure = undefined;
      this.opts.onWriteResumed?.(afterMs);
    }
    return true;
  }

  private failed(err: unknown): void {
    if (!this.failure) {
      this.failure = { since: Date.now(), full: isFull(err), problem: describeFs(err) };
      this.opts.onWriteFailed?.(this.failure.problem, this.failure.full);
    } else {
      // The same episode; a disk that was full may now fail otherwise (or the other way round).
      this.failure.full = isFull(err);
      this.failure.problem = describeFs(err);
    }
    this.arm();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.closed = true;
    // A last try; on a disk that is still full what could not be written is lost (reported once).
    this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  setAside(component: string, forVersion: string): void {
    const b = this.bucket(component);
    try {
      mkdirSync(this.opts.dir, { recursive: true });
      this.writeDurably(this.asideOf(component), JSON.stringify({ ...b.toJSON(), forVersion }));
      this.fsyncDir();
    } catch (err) {
      const fix = isFull(err) ? "free space on the data directory's filesystem and send the release again" : 'check the data directory';
      throw new GatewayError(isFull(err) ? 'no-space' : 'STORAGE_IO', `keeping the storage bucket of ${component} aside before ${forVersion} (${this.asideOf(component)}): ${describeFs(err)}; ${fix}`, { cause: err });
    }
    this.staleAside.delete(component);
    this.aside.set(component, b.snapshot());
  }

  restoreAside(component: string): boolean {
    let kept = this.aside.get(component);
    if (!kept) {
      // After a restart: the copy on disk (see settleAside).
      try {
        kept = new Map(parseBucketText(readFileSync(this.asideOf(component), 'utf8')).entries);
      } catch {
        return false;
      }
    }
    this.aside.delete(component);
    const b = this.bucket(component);
    b.restore(kept);
    // The bucket file must hold the restored content before the set-aside copy goes: written now
    // (a rollback is rare), not on the flush timer. If it cannot be, the copy stays on disk until a
    // flush succeeds, so a restart with the release still pending restores it again.
    this.staleAside.add(component);
    this.flush();
    return true;
  }

  dropAside(component: string): void {
    this.aside.delete(component);
    this.staleAside.delete(component);
    // Not fsynced: a copy that comes back after a power cut is discarded at the next start (settleAside).
    rmSync(this.asideOf(component), { force: true });
  }

  /**
   * At startup, after the OTA store settled interrupted activations (`reverted`: component → the
   * version that was dropped): a set-aside copy taken for exactly that version is put back (the
   * process died in that version's init or probation); any other copy is a leftover and goes.
   */
  settleAside(reverted: ReadonlyMap<string, string>): Array<{ component: string; forVersion: string | undefined; restored: boolean }> {
    let names: string[];
    try {
      names = readdirSync(this.opts.dir);
    } catch {
      return [];
    }
    const out: Array<{ component: string; forVersion: string | undefined; restored: boolean }> = [];
    for (const f of names) {
      if (!f.endsWith(ASIDE_SUFFIX)) continue;
      const component = f.slice(0, -ASIDE_SUFFIX.length);
      let forVersion: string | undefined;
      try {
        forVersion = parseBucketText(readFileSync(join(this.opts.dir, f), 'utf8')).forVersion;
      } catch {
        forVersion = undefined; // a torn or damaged copy: never restored
      }
      const restored = forVersion !== undefined && reverted.get(component) === forVersion && this.restoreAside(component);
      if (!restored) this.dropAside(component);
      out.push({ component, forVersion, restored });
    }
    return out;
  }

  /** Temporary sibling, fsync, rename: the file holds the old bytes or the new ones, never a mix. */
  private writeDurably(file: string, text: string): void {
    const tmp = `${file}.tmp-${process.pid}`;
    const data = Buffer.from(text, 'utf8');
    try {
      const fd = openSync(tmp, 'w', 0o600);
      try {
        // A nearly full disk may take part of a write before it refuses the rest.
        for (let at = 0; at < data.length; ) at += writeSync(fd, data, at, data.length - at);
        fsyncSync(fd);
        this.fsyncs++;
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, file);
    } catch (err) {
      // Half a temporary file must not keep taking the space a full disk needs back.
      rmSync(tmp, { force: true });
      throw err;
    }
  }

  private fsyncDir(): void {
    const fd = openSync(this.opts.dir, 'r');
    try {
      fsyncSync(fd);
      this.fsyncs++;
    } finally {
      closeSync(fd);
    }
  }
}
