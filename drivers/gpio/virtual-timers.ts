import type { DebounceTimers } from './debounce.js';

/**
 * Debounce timers on the virtual clock: EdgeWatcher schedules here, and the component's clock
 * runs what fell due as it is stepped (earliest first, ties in the order they were set).
 */
export class VirtualTimers implements DebounceTimers {
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  constructor(private readonly now: () => number) {}
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.now() + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Removes and returns the earliest timer due at or before `to`. */
  takeDue(to: number): { at: number; fn: () => void } | undefined {
    let next: [number, { at: number; fn: () => void }] | undefined;
    for (const e of this.timers) if (e[1].at <= to && (!next || e[1].at < next[1].at)) next = e;
    if (!next) return undefined;
    this.timers.delete(next[0]);
    return next[1];
  }
}

