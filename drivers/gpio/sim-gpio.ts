import { EventEmitter } from 'node:events';
import { refusal } from '../../runtime/errors.js';
import { EdgeWatcher, processTimers, type DebounceTimers } from './debounce.js';
import type { Edge, EdgeCallback, GpioDriver } from './types.js';

export interface SimGpioOptions {
  /** Inclusive pin range; default 0-53 (all BCM2835 lines). */
  pins?: { min: number; max: number };
  /** Clock for `atMs` when a test does not pass one; default Date.now. */
  now?: () => number;
  /** Timers for the watchers' debounce windows; default the process timers (see DebounceTimers). */
  timers?: DebounceTimers;
}

/**
 * Simulated GPIO lines. Tests and scripts drive inputs with `setInput` (watchers see the change
 * with the same debounce semantics as on the Pi); component writes are visible in `outputs` and as
 * an `output` event `(pin, value)`.
 */
export class SimGpio extends EventEmitter implements GpioDriver {
  readonly pins: { readonly min: number; readonly max: number };
  /** Levels of lines driven by writes, by pin. */
  readonly outputs = new Map<number, boolean>();
  // Levels indexed by pin: an array read is the cheapest possible `read`, which the bench measures.
  private readonly levels: Uint8Array;
  private readonly watchers = new Map<number, Set<EdgeWatcher>>();
  private readonly now: () => number;
  private readonly timers: DebounceTimers;
  private closed = false;

  constructor(opts: SimGpioOptions = {}) {
    super();
    const pins = opts.pins ?? { min: 0, max: 53 };
    if (!Number.isInteger(pins.min) || !Number.isInteger(pins.max) || pins.min < 0 || pins.max < pins.min || pins.max > 1023) {
      throw new RangeError(`sim gpio pins ${JSON.stringify(pins)}: expected integers 0 <= min <= max <= 1023`);
    }
    this.pins = { min: pins.min, max: pins.max };
    this.levels = new Uint8Array(pins.max + 1);
    this.now = opts.now ?? Date.now;
    this.timers = opts.timers ?? processTimers;
  }

  private check(pin: number): void {
    if (!Number.isInteger(pin) || pin < this.pins.min || pin > this.pins.max) {
      throw refusal('invalid', `pin ${pin} is outside the board (${this.pins.min}-${this.pins.max})`);
    }
    if (this.closed) throw refusal('io', 'gpio driver is closed');
  }

  read(pin: number): boolean {
    this.check(pin);
    return this.levels[pin] === 1;
  }

  write(pin: number, value: boolean): void {
    this.check(pin);
    const before = this.outputs.get(pin);
    this.levels[pin] = value ? 1 : 0;
    this.outputs.set(pin, value);
    if (before !== value) this.emit('output', pin, value);
  }

  /** Drives an input line, as a sensor would. Watchers fire after their debounce window. */
  setInput(pin: number, value: boolean, atMs: number = this.now()): void {
    this.check(pin);
    if ((this.levels[pin] === 1) === value) return;
    this.levels[pin] = value ? 1 : 0;
    const set = this.watchers.get(pin);
    if (set) for (const w of [...set]) w.feed(value, atMs);
  }

  /** Output level of `pin`, or undefined if nothing ever wrote it. */
  output(pin: number): boolean | undefined {
    return this.outputs.get(pin);
  }

  watch(pin: number, edge: Edge, debounceMs: number, cb: EdgeCallback): () => void {
    this.check(pin);
    const w = new EdgeWatcher(this.levels[pin] === 1, edge, debounceMs, cb, this.timers);
    let set = this.watchers.get(pin);
    if (!set) this.watchers.set(pin, (set = new Set()));
    set.add(w);
    return () => {
      w.stop();
      set.delete(w);
    };
  }

  watcherCount(pin?: number): number {
    if (pin !== undefined) return this.watchers.get(pin)?.size ?? 0;
    let n = 0;
    for (const s of this.watchers.values()) n += s.size;
    return n;
  }

  close(): void {
    for (const set of this.watchers.values()) for (const w of set) w.stop();
    this.watchers.clear();
    this.closed = true;
    this.removeAllListeners();
  }
}
