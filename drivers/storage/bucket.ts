/**
 * One component's key-value bucket (contract 7.1 storage), in memory. Every change is visible at
 * once and marks the bucket dirty; the store (store.ts) writes dirty buckets out on its flush
 * interval, so the `set` path never touches the disk.
 */
export const MAX_KEY_BYTES = 256;
export const MAX_VALUE_BYTES = 65_536;

export class Bucket {
  private readonly entries = new Map<string, Uint8Array>();
  /** UTF-8 bytes of every key plus every value: what the quota's max-bytes counts. */
  private used = 0;
  /** Bumped on every change; the store compares it with what it last wrote. */
  generation = 0;

  constructor(
    readonly component: string,
    private readonly onChange: (b: Bucket) => void = () => undefined,
  ) {}

  get size(): number {
    return this.entries.size;
  }
  get bytes(): number {
    return this.used;
  }
  get(key: string): Uint8Array | undefined {
    return this.entries.get(key);
  }
  has(key: string): boolean {
    return this.entries.has(key);
  }
  /** The bytes the bucket would hold after `set(key, value)`. */
  bytesAfterSet(key: string, value: Uint8Array): number {
    const old = this.entries.get(key);
    const keyBytes = Buffer.byteLength(key, 'utf8');
    return this.used - (old ? keyBytes + old.length : 0) + keyBytes + value.length;
  }
  set(key: string, value: Uint8Array): void {
    this.used = this.bytesAfterSet(key, value);
    this.entries.set(key, value);
    this.changed();
  }
  delete(key: string): boolean {
    const old = this.entries.get(key);
    if (!old) return false;
    this.used -= Buffer.byteLength(key, 'utf8') + old.length;
    this.entries.delete(key);
    this.changed();
    return true;
  }
  keys(prefix = ''): string[] {
    const out: string[] = [];
    for (const k of this.entries.keys()) if (k.startsWith(prefix)) out.push(k);
    return out.sort();
  }
  /** The content as it stands (values are never changed in place, so sharing them is safe). */
  snapshot(): ReadonlyMap<string, Uint8Array> {
    return new Map(this.entries);
  }
  /** Puts a snapshot back (an OTA rollback, a failed init): a change, flushed like any other. */
  restore(snapshot: ReadonlyMap<string, Uint8Array>): void {
    this.load(snapshot);
    this.changed();
  }
  /** Replaces the whole content (loading from disk); not a change to flush. */
  load(entries: Iterable<[string, Uint8Array]>): void {
    this.entries.clear();
    this.used = 0;
    for (const [k, v] of entries) {
      this.entries.set(k, v);
      this.used += Buffer.byteLength(k, 'utf8') + v.length;
    }
  }
  toJSON(): { version: 1; component: string; entries: Record<string, string> } {
    const entries: Record<string, string> = {};
    for (const [k, v] of this.entries) entries[k] = Buffer.from(v).toString('base64');
    return { version: 1, component: this.component, entries };
  }
  private changed(): void {
    this.generation++;
    this.onChange(this);
  }
}
