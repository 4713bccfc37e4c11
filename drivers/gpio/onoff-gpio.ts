import { refusal } from '../../runtime/errors.js';
import { EdgeWatcher } from './debounce.js';
import { bcmToSysfs, findHeaderChip, type HeaderChip } from './sysfs-map.js';
import type { Edge, EdgeCallback, GpioDriver } from './types.js';

/** The part of onoff's `Gpio` class we use; tests pass a fake with the same shape. */
export interface OnoffGpioLine {
  readSync(): 0 | 1;
  writeSync(value: 0 | 1): void;
  watch(cb: (err: Error | null | undefined, value: 0 | 1) => void): void;
  unwatchAll(): void;
  setDirection(direction: 'in' | 'out'): void;
  setEdge(edge: 'none' | 'rising' | 'falling' | 'both'): void;
  unexport(): void;
}
export type OnoffGpioClass = new (gpio: number, direction: 'in' | 'out', edge?: 'none' | 'both') => OnoffGpioLine;

export interface OnoffGpioOptions {
  /** sysfs root to find the header chip in; default /sys/class/gpio. */
  sysfsRoot?: string;
  /** Skip detection (tests, unusual boards). */
  chip?: HeaderChip;
  /** onoff's Gpio class; loaded by `createOnoffGpio` when omitted. */
  Gpio: OnoffGpioClass;
  /** Header pins are BCM 0-27 on every 40-pin Pi. */
  pins?: { min: number; max: number };
  now?: () => number;
}

interface Line {
  gpio: OnoffGpioLine;
  direction: 'in' | 'out';
  watchers: Set<EdgeWatcher>;
}

/**
 * GPIO through the kernel's sysfs interface with onoff. Lines are exported on first use and kept.
 * Edges are always requested as `both` from the kernel and filtered/debounced in JS by the same
 * EdgeWatcher the simulator uses, so several watchers with different edges can share one line.
 */
export class OnoffGpio implements GpioDriver {
  readonly pins: { readonly min: number; readonly max: number };
  readonly chip: HeaderChip;
  private readonly Gpio: OnoffGpioClass;
  private readonly lines = new Map<number, Line>();
  private readonly now: () => number;

  constructor(opts: OnoffGpioOptions) {
    this.chip = opts.chip ?? findHeaderChip(opts.sysfsRoot);
    this.Gpio = opts.Gpio;
    this.pins = opts.pins ?? { min: 0, max: Math.min(27, this.chip.ngpio - 1) };
    this.now = opts.now ?? Date.now;
  }

  private check(pin: number): void {
    if (!Number.isInteger(pin) || pin < this.pins.min || pin > this.pins.max) {
      throw refusal('invalid', `pin ${pin} is outside the Raspberry Pi header (BCM ${this.pins.min}-${this.pins.max})`);
    }
  }

  private line(pin: number, direction: 'in' | 'out'): Line {
    let line = this.lines.get(pin);
    if (!line) {
      try {
        line = { gpio: new this.Gpio(bcmToSysfs(this.chip, pin), direction, direction === 'in' ? 'both' : undefined), direction, watchers: new Set() };
      } catch (err) {
        throw refusal('io', `cannot export BCM ${pin} (sysfs ${this.chip.base + pin}): ${(err as Error).message}`);
      }
      this.lines.set(pin, line);
      if (direction === 'in') line.gpio.watch((err, value) => this.onInterrupt(pin, err, value));
    } else if (direction === 'out' && line.direction === 'in') {
      if (line.watchers.size > 0) throw refusal('invalid', `pin ${pin} is watched as an input; it cannot be driven`);
      try {
        line.gpio.unwatchAll();
        line.gpio.setEdge('none');
        line.gpio.setDirection('out');
      } catch (err) {
        throw refusal('io', `cannot make BCM ${pin} an output: ${(err as Error).message}`);
      }
      line.direction = 'out';
    }
    return line;
  }

  private onInterrupt(pin: number, err: Error | null | undefined, value: 0 | 1): void {
    if (err) return; // a failed poll read: the next interrupt carries the level again
    const line = this.lines.get(pin);
    if (!line) return;
    const at = this.now();
    for (const w of line.watchers) w.feed(value === 1, at);
  }

  read(pin: number): boolean {
    this.check(pin);
    const line = this.lines.get(pin) ?? this.line(pin, 'in');
    try {
      return line.gpio.readSync() === 1;
    } catch (err) {
      throw refusal('io', `reading BCM ${pin}: ${(err as Error).message}`);
    }
  }

  write(pin: number, value: boolean): void {
    this.check(pin);
    const line = this.line(pin, 'out');
    try {
      line.gpio.writeSync(value ? 1 : 0);
    } catch (err) {
      throw refusal('io', `writing BCM ${pin}: ${(err as Error).message}`);
    }
  }

  watch(pin: number, edge: Edge, debounceMs: number, cb: EdgeCallback): () => void {
    this.check(pin);
    const line = this.line(pin, 'in');
    if (line.direction !== 'in') throw refusal('invalid', `pin ${pin} is an output; it cannot be watched`);
    const w = new EdgeWatcher(line.gpio.readSync() === 1, edge, debounceMs, cb);
    line.watchers.add(w);
    return () => {
      w.stop();
      line.watchers.delete(w);
    };
  }

  close(): void {
    for (const line of this.lines.values()) {
      for (const w of line.watchers) w.stop();
      try {
        line.gpio.unwatchAll();
        line.gpio.unexport();
      } catch {
        // the line may already be gone (board shutting down); nothing left to release
      }
    }
    this.lines.clear();
  }
}

/** Loads onoff only now: it pulls in the native epoll addon, which only a Pi needs. */
export async function createOnoffGpio(opts: Omit<OnoffGpioOptions, 'Gpio'> & { Gpio?: OnoffGpioClass } = {}): Promise<OnoffGpio> {
  const chip = opts.chip ?? findHeaderChip(opts.sysfsRoot);
  const Gpio = opts.Gpio ?? ((await import('onoff')).Gpio as unknown as OnoffGpioClass);
  return new OnoffGpio({ ...opts, chip, Gpio });
}
