import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
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
 */
export interface BucketStore {
  /** The component's bucket, loaded on first use. */
  bucket(component: string): Bucket;
  /** Writes every dirty bucket now. */
  flush(): void;
  /** Flushes and stops the timer. */
  close(): void;
}

export class MemoryStore implements BucketStore {
  private readonly buckets = new Map<string, Bucket>();
  bucket(component: string): Bucket {
    let b = this.buckets.get(component);
    if (!b) this.buckets.set(component, (b = new Bucket(component)));
    return b;
  }
  flush(): void {}
  close(): void {}
}

export interface FileStoreOptions {
  /** The directory holding `<component>.json` (created on first write). */
  dir: string;
  /** Coalescing interval (config `storage.flush-ms`). */
  flushMs: number;
  /** A bucket file that does not parse was kept aside under this name; the bucket starts empty. */
  onCorrupt?: (component: string, keptAs: string, problem: string) => void;
}

export class FileStore implements BucketStore {
  private readonly buckets = new Map<string, Bucket>();
  private readonly written = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
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
        const parsed = JSON.parse(text) as { entries?: Record<string, unknown> };
        const entries: [string, Uint8Array][] = [];
        for (const [k, v] of Object.entries(parsed.entries ?? {})) {
          if (typeof v !== 'string') throw new Error(`value of ${JSON.stringify(k)} is not base64 text`);
          entries.push([k, new Uint8Array(Buffer.from(v, 'base64'))]);
        }
        b.load(entries);
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
    // Component names are [a-z0-9][a-z0-9-]{0,63}: safe as file names.
    return join(this.opts.dir, `${component}.json`);
  }

  private arm(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.opts.flushMs);
    this.timer.unref();
  }

  flush(): void {
    let wrote = false;
    for (const [name, b] of this.buckets) {
      if (this.written.get(name) === b.generation) continue;
      if (!wrote) mkdirSync(this.opts.dir, { recursive: true });
      this.writeDurably(this.fileOf(name), JSON.stringify(b.toJSON()));
      this.written.set(name, b.generation);
      wrote = true;
    }
    if (wrote) {
      this.fsyncDir();
      this.flushes++;
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.flush();
    this.closed = true;
  }

  /** Temporary sibling, fsync, rename: the file holds the old bytes or the new ones, never a mix. */
  private writeDurably(file: string, text: string): void {
    const tmp = `${file}.tmp-${process.pid}`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
      this.fsyncs++;
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
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
