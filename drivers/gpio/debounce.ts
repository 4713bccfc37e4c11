import type { Edge, EdgeCallback } from './types.js';

/**
 * How a watcher waits out its debounce window. The default is the process timers; a simulation
 * in virtual time passes its own (sdk/testing.ts runs the due callbacks as its clock is stepped),
 * so debounced edges arrive at virtual times without real waiting or fake timers.
 */
export interface DebounceTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const processTimers: DebounceTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * Debounce + edge filter for one watcher, shared by the simulated and the onoff driver so both
 * boards behave the same. A level change is reported only once the line has kept that level for
 * `debounceMs`; bounces shorter than that are swallowed. The settled level is tracked even when the
 * edge filter hides the change, so `rising` after a hidden `falling` is still reported.
 */
export class EdgeWatcher {
  private settled: boolean;
  private pending: { value: boolean; atMs: number } | undefined;
  private timer: unknown;

  constructor(
    initial: boolean,
    private readonly edge: Edge,
    private readonly debounceMs: number,
    private readonly cb: EdgeCallback,
    private readonly timers: DebounceTimers = processTimers,
  ) {
    this.settled = initial;
  }

  /** Feed a raw level sample (an interrupt or a simulated change). */
  feed(value: boolean, atMs: number): void {
    if (this.debounceMs <= 0) {
      this.settle(value, atMs);
      return;
    }
    // Every change restarts the stability window; the time reported is when the last change happened.
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.pending = { value, atMs };
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      const p = this.pending;
      this.pending = undefined;
      if (p) this.settle(p.value, p.atMs);
    }, this.debounceMs);
  }

  private settle(value: boolean, atMs: number): void {
    if (value === this.settled) return;
    this.settled = value;
    if (this.edge === 'both' || (this.edge === 'rising') === value) this.cb(value, atMs);
  }

  stop(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }
}
