import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadComponent } from '../../sdk/testing.js';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const load = () => loadComponent(here('./pulse-counter.ts'), { manifest: here('./pulse-counter.yaml') });

describe('pulse counter example', () => {
  it('counts pulses and publishes the total and pulses per minute every tick', async () => {
    const c = await load();
    expect(c.init()).toMatchObject({ ok: true });
    // 30 pulses, one every 2 s: ticks (every 10 s) fall due while the pulses go on.
    for (let i = 0; i < 30; i++) c.pulse(17, { highMs: 100, lowMs: 1900 });
    expect(c.values('count')).toEqual([5, 10, 15, 20, 25, 30]);
    expect(c.last('per-minute')).toBe(30);
    // A quiet minute and more: the window empties, the total stays.
    c.advance(70_000);
    expect(c.last('per-minute')).toBe(0);
    expect(c.last('count')).toBe(30);
    expect(c.errors()).toEqual([]);
  });

  it('ignores contact bounce (gateway debounce) and too-fast pulses (component lockout)', async () => {
    const c = await load();
    c.init();
    // Each press bounces three times within 1-2 ms before settling: still one pulse each.
    for (let i = 0; i < 4; i++) c.pulse(17, { highMs: 200, lowMs: 800, bounce: [1, 2, 1] });
    c.tick();
    expect(c.last('count')).toBe(4);
    // Two clean edges 12 ms apart pass the 5 ms debounce but not the 20 ms lockout.
    c.pulse(17, { highMs: 6, lowMs: 6, count: 2 });
    c.tick();
    expect(c.last('count')).toBe(5);
    expect(c.last('rejected')).toBe(1);
  });

  it('keeps memory flat over a day of pulses', async () => {
    const c = await load();
    c.init();
    for (let i = 0; i < 3000; i++) c.pulse(17, { highMs: 30, lowMs: 30 });
    const after = c.memoryBytes();
    for (let i = 0; i < 3000; i++) c.pulse(17, { highMs: 30, lowMs: 30 });
    expect(c.memoryBytes()).toBe(after);
    expect(c.errors()).toEqual([]);
  });
});
