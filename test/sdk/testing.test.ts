import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadComponent, type LoadOptions } from '../../sdk/testing.js';

// The helper runs components through the gateway's own driver layer: these check that the parts
// an author cannot see from the examples (refusals, rate limits and debounce on the virtual clock,
// device acquisition) behave as in the gateway.
const SRC = fileURLToPath(new URL('../../examples/pulse-counter/pulse-counter.ts', import.meta.url));
const manifest = (over: Record<string, unknown> = {}): LoadOptions['manifest'] => ({
  name: 'pulse-counter',
  version: '1.0.0',
  'tick-ms': 10_000,
  capabilities: { gpio: { watch: [{ pin: 17, edge: 'rising', 'debounce-ms': 5 }] }, telemetry: ['count', 'per-minute', 'rejected'], ...over },
});

describe('sdk/testing on the gateway pipeline', () => {
  it('refuses host calls outside the grant as the gateway does and records them', async () => {
    const c = await loadComponent(SRC, { manifest: manifest({ telemetry: ['count'] }) });
    expect(c.init()).toMatchObject({ ok: true });
    const [out] = c.tick();
    expect(out).toMatchObject({ ok: false, kind: 'returned-err', message: expect.stringContaining('denied') });
    expect(c.values('count')).toEqual([0]);
    expect(c.refused).toEqual(['denied: telemetry.publish: missing capability telemetry channel per-minute']);
  });

  it('rate-limits host calls per virtual second', async () => {
    const c = await loadComponent(SRC, { manifest: manifest(), rateLimits: { telemetry: { rate: 1, burst: 2 } } });
    c.init();
    expect(c.tick(1, 0)[0]).toMatchObject({ ok: true }); // two publishes: the whole burst
    expect(c.tick(1, 0)[0]).toMatchObject({ ok: false, kind: 'returned-err' });
    expect(c.refused.at(-1)).toMatch(/^limited: telemetry\.publish: telemetry calls are limited to 1\/s/);
    expect(c.tick(1, 2000)[0]).toMatchObject({ ok: true }); // refilled by virtual time, not wall time
  });

  it('debounces watched inputs on the virtual clock and reports the time of the last change', async () => {
    const c = await loadComponent(SRC, { manifest: manifest(), startMs: 1_000 });
    c.init();
    expect(c.setPin(17, true)).toEqual([]);
    expect(c.advance(4)).toEqual([]);
    expect(c.advance(1)).toMatchObject([{ ok: true }]);
    expect(c.nowMs).toBe(1_005);
    c.setPin(17, false);
    c.advance(10); // falling edge: settled but filtered out by `edge: rising`
    expect(c.events.map((e) => e.event)).toEqual(['init', 'on-gpio']);
    expect(c.pin(17)).toBe(false);
    c.tick();
    expect(c.last('count')).toBe(1);
  });

  it('acquires the devices the manifest names, failing like the gateway for pins off the board', async () => {
    await expect(loadComponent(SRC, { manifest: manifest({ gpio: { watch: [{ pin: 60, edge: 'rising' }] } }) })).rejects.toThrow(/watch pin 60 is outside the sim board \(0-53\)/);
  });
});
