import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HostCallError } from '../../runtime/errors.js';
import { parseManifest } from '../../runtime/manifest.js';
import { SimGpio } from '../../drivers/gpio/sim-gpio.js';
import { OnoffGpio, type OnoffGpioLine } from '../../drivers/gpio/onoff-gpio.js';
import { checkDeviceConflicts, checkOutputOwnership, checkSerialOwnership, OutputClaims } from '../../drivers/ownership.js';

describe('SimGpio', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('reads inputs set by tests and records outputs with an event', () => {
    const g = new SimGpio();
    expect(g.read(17)).toBe(false);
    g.setInput(17, true);
    expect(g.read(17)).toBe(true);
    const seen: Array<[number, boolean]> = [];
    g.on('output', (pin: number, v: boolean) => seen.push([pin, v]));
    g.write(22, true);
    g.write(22, true); // no change, no event
    g.write(22, false);
    expect(seen).toEqual([[22, true], [22, false]]);
    expect(g.outputs.get(22)).toBe(false);
    expect(g.output(23)).toBeUndefined();
    expect(g.read(22)).toBe(false);
  });

  it('pins outside the range are invalid host errors; range is configurable', () => {
    const g = new SimGpio({ pins: { min: 0, max: 27 } });
    for (const bad of [28, -1, 1.5, NaN]) {
      expect(() => g.read(bad)).toThrow(HostCallError);
      try {
        g.read(bad);
      } catch (e) {
        expect((e as HostCallError).tag).toBe('invalid');
      }
    }
    expect(() => g.write(54, true)).toThrow(/outside the board/);
    expect(() => new SimGpio({ pins: { min: 5, max: 2 } })).toThrow(RangeError);
    expect(new SimGpio().pins).toEqual({ min: 0, max: 53 });
  });

  it('watch without debounce fires at once with the edge filter', () => {
    const g = new SimGpio();
    const both: Array<[boolean, number]> = [];
    const rising: boolean[] = [];
    const falling: boolean[] = [];
    g.watch(4, 'both', 0, (v, at) => both.push([v, at]));
    g.watch(4, 'rising', 0, (v) => rising.push(v));
    g.watch(4, 'falling', 0, (v) => falling.push(v));
    g.setInput(4, true, 100);
    g.setInput(4, true, 101); // same level: not an edge
    g.setInput(4, false, 200);
    g.setInput(4, true, 300);
    expect(both).toEqual([[true, 100], [false, 200], [true, 300]]);
    expect(rising).toEqual([true, true]);
    expect(falling).toEqual([false]);
  });

  it('debounce swallows bounces shorter than the window and reports the settled edge', () => {
    const g = new SimGpio();
    const seen: Array<[boolean, number]> = [];
    g.watch(17, 'both', 20, (v, at) => seen.push([v, at]));
    g.setInput(17, true, 1000);
    vi.advanceTimersByTime(5);
    g.setInput(17, false, 1005);
    vi.advanceTimersByTime(5);
    g.setInput(17, true, 1010);
    vi.advanceTimersByTime(19);
    expect(seen).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(seen).toEqual([[true, 1010]]);
    // A bounce that returns to the settled level reports nothing.
    g.setInput(17, false, 2000);
    vi.advanceTimersByTime(3);
    g.setInput(17, true, 2003);
    vi.advanceTimersByTime(50);
    expect(seen).toEqual([[true, 1010]]);
  });

  it('debounce windows run on injected timers when given (virtual time, no process timers)', () => {
    const due: Array<{ id: number; fn: () => void; ms: number }> = [];
    let id = 0;
    const timers = {
      setTimeout: (fn: () => void, ms: number) => (due.push({ id: ++id, fn, ms }), id),
      clearTimeout: (h: unknown) => void due.splice(due.findIndex((t) => t.id === h), 1),
    };
    const g = new SimGpio({ timers });
    const seen: Array<[boolean, number]> = [];
    g.watch(17, 'both', 20, (v, at) => seen.push([v, at]));
    g.setInput(17, true, 1000);
    g.setInput(17, false, 1005); // restarts the window: the first timer is cleared
    g.setInput(17, true, 1010);
    expect(due.map((t) => t.ms)).toEqual([20]);
    vi.advanceTimersByTime(1000); // process (fake) timers are not used
    expect(seen).toEqual([]);
    due.shift()!.fn();
    expect(seen).toEqual([[true, 1010]]);
  });

  it('rising filter still tracks hidden falling edges', () => {
    const g = new SimGpio();
    const seen: boolean[] = [];
    g.watch(5, 'rising', 10, (v) => seen.push(v));
    g.setInput(5, true);
    vi.advanceTimersByTime(10);
    g.setInput(5, false);
    vi.advanceTimersByTime(10);
    g.setInput(5, true);
    vi.advanceTimersByTime(10);
    expect(seen).toEqual([true, true]);
  });

  it('unwatch stops delivery, including a pending debounce', () => {
    const g = new SimGpio();
    const seen: boolean[] = [];
    const un = g.watch(6, 'both', 10, (v) => seen.push(v));
    g.setInput(6, true);
    un();
    vi.advanceTimersByTime(100);
    expect(seen).toEqual([]);
    expect(g.watcherCount(6)).toBe(0);
  });

  it('close makes calls io errors', () => {
    const g = new SimGpio();
    g.close();
    expect(() => g.read(1)).toThrow(/closed/);
  });
});

/** A stand-in for onoff's Gpio, recording the sysfs numbers it was constructed with. */
function fakeOnoff() {
  const made: Array<{ n: number; dir: string; edge?: string; line: FakeLine }> = [];
  class FakeLine implements OnoffGpioLine {
    value: 0 | 1 = 0;
    cb: ((err: Error | null | undefined, v: 0 | 1) => void) | undefined;
    direction: string;
    edge = 'none';
    unexported = false;
    constructor(n: number, dir: 'in' | 'out', edge?: 'none' | 'both') {
      if (n === 999) throw new Error('EINVAL: invalid argument');
      this.direction = dir;
      made.push({ n, dir, ...(edge ? { edge } : {}), line: this });
    }
    readSync() {
      return this.value;
    }
    writeSync(v: 0 | 1) {
      this.value = v;
    }
    watch(cb: (err: Error | null | undefined, v: 0 | 1) => void) {
      this.cb = cb;
    }
    unwatchAll() {
      this.cb = undefined;
    }
    setDirection(d: 'in' | 'out') {
      this.direction = d;
    }
    setEdge(e: 'none' | 'rising' | 'falling' | 'both') {
      this.edge = e;
    }
    unexport() {
      this.unexported = true;
    }
    interrupt(v: 0 | 1) {
      this.value = v;
      this.cb?.(null, v);
    }
  }
  return { made, FakeLine };
}

describe('OnoffGpio (fake onoff class)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());
  const chip = { label: 'pinctrl-bcm2711', base: 512, ngpio: 58 };

  it('maps BCM to sysfs numbers and limits pins to the header (0-27)', () => {
    const { made, FakeLine } = fakeOnoff();
    const g = new OnoffGpio({ chip, Gpio: FakeLine });
    expect(g.pins).toEqual({ min: 0, max: 27 });
    g.write(22, true);
    expect(made[0]!.n).toBe(534);
    expect(made[0]!.dir).toBe('out');
    expect(g.read(22)).toBe(true); // reads back the output line
    expect(made).toHaveLength(1);
    g.read(17);
    expect(made[1]!.n).toBe(529);
    expect(made[1]!.dir).toBe('in');
    expect(() => g.read(28)).toThrow(/outside the Raspberry Pi header/);
  });

  it('watches with the shared debouncer and turns an unwatched input into an output', () => {
    const { made, FakeLine } = fakeOnoff();
    const g = new OnoffGpio({ chip: { label: 'pinctrl-rp1', base: 571, ngpio: 54 }, Gpio: FakeLine, now: () => 42 });
    const seen: Array<[boolean, number]> = [];
    const un = g.watch(17, 'both', 10, (v, at) => seen.push([v, at]));
    const line = made[0]!.line;
    expect(made[0]!.n).toBe(588);
    line.interrupt(1);
    line.interrupt(0);
    line.interrupt(1);
    vi.advanceTimersByTime(10);
    expect(seen).toEqual([[true, 42]]);
    expect(() => g.write(17, true)).toThrow(/watched as an input/);
    un();
    g.write(17, true);
    expect(line.direction).toBe('out');
    expect(() => g.watch(17, 'both', 0, () => {})).toThrow(/is an output/);
    g.close();
    expect(line.unexported).toBe(true);
  });

  it('export failures become io host errors', () => {
    const { FakeLine } = fakeOnoff();
    const g = new OnoffGpio({ chip: { label: 'x', base: 999, ngpio: 54 }, Gpio: FakeLine });
    try {
      g.read(0);
      expect.unreachable();
    } catch (e) {
      expect((e as HostCallError).tag).toBe('io');
      expect((e as Error).message).toContain('EINVAL');
    }
  });
});

describe('output ownership', () => {
  const m = (name: string, write: number[], ports: string[] = []) =>
    parseManifest({ name, version: '1.0.0', capabilities: { gpio: { write, read: write }, serial: ports.map((port) => ({ port, baud: 9600 })) } });

  it('two components with the same output pin is a config error, one line each', () => {
    const errs = checkOutputOwnership([m('a', [22, 23]), m('b', [23]), m('c', [22, 5])]);
    expect(errs).toEqual([
      'gpio output pin 23 is granted to both a and b; give each output pin to one component',
      'gpio output pin 22 is granted to both a and c; give each output pin to one component',
    ]);
    expect(checkOutputOwnership([m('a', [1]), m('b', [2])])).toEqual([]);
    // Reading another component's output is fine.
    expect(checkOutputOwnership([m('a', [1]), parseManifest({ name: 'b', version: '1.0.0', capabilities: { gpio: { read: [1] } } })])).toEqual([]);
  });

  it('serial ports are exclusive too', () => {
    expect(checkSerialOwnership([m('a', [], ['/dev/ttyUSB0']), m('b', [], ['/dev/ttyUSB0'])])).toHaveLength(1);
    expect(checkDeviceConflicts([m('a', [1], ['/dev/x']), m('b', [1], ['/dev/x'])])).toHaveLength(2);
  });

  it('run-time claims: another component cannot take a held pin, a new version of the owner can', () => {
    const c = new OutputClaims();
    c.claim('a', [22]);
    c.claim('a', [22]);
    expect(() => c.claim('b', [22])).toThrow(/already driven by a/);
    c.release('b', [22]); // not the owner: no effect
    expect(c.owner(22)).toBe('a');
    c.release('a', [22]);
    c.claim('b', [22]);
    expect(c.owner(22)).toBe('b');
  });
});
