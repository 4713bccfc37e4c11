/**
 * A set that remembers the `capacity` most recently added keys (least recently added or touched go
 * first). The updater's memory of rejected envelopes: bounded, so a sender cycling through junk
 * cannot grow it, and recent enough that a retained replay of a rejection is recognised.
 */
export class RecentSet {
  private readonly keys = new Map<string, true>();

  constructor(readonly capacity: number) {}

  add(key: string): void {
    this.keys.delete(key);
    this.keys.set(key, true);
    while (this.keys.size > this.capacity) this.keys.delete(this.keys.keys().next().value!);
  }

  /** Whether `key` is remembered; a hit makes it the most recent. */
  has(key: string): boolean {
    if (!this.keys.has(key)) return false;
    this.add(key);
    return true;
  }

  get size(): number {
    return this.keys.size;
  }
}
