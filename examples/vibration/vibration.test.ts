import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadComponent } from '../../sdk/testing.js';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const PORT = '/dev/ttyACM0';
const load = () => loadComponent(here('./vibration.ts'), { manifest: here('./vibration.yaml') });

/** int16 little-endian samples of `offset + sum(amp * sin(2π f t))` at `rate` Hz. */
export function samples(count: number, rate: number, tones: { hz: number; amp: number }[], offset = 0, noise = 0): Uint8Array {
  const out = new Uint8Array(count * 2);
  const dv = new DataView(out.buffer);
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff) * 2 - 1;
  for (let i = 0; i < count; i++) {
    let v = offset + noise * rnd();
    for (const t of tones) v += t.amp * Math.sin((2 * Math.PI * t.hz * i) / rate);
    dv.setInt16(i * 2, Math.round(v), true);
  }
  return out;
}

describe('vibration monitor example', () => {
  it('finds RMS and the dominant frequency of a block, whatever the chunking', async () => {
    const c = await load();
    expect(c.init()).toMatchObject({ ok: true });
    const data = samples(512, 1000, [{ hz: 50, amp: 1000 }], 300, 20);
    // Odd chunk sizes split samples across frames.
    for (let off = 0; off < data.length; off += 37) c.serial(PORT, data.subarray(off, Math.min(off + 37, data.length)));
    const rms = c.values('rms');
    const peaks = c.values('peak-hz');
    expect(rms).toHaveLength(2);
    for (const r of rms) expect(r).toBeGreaterThan(700 * 0.97), expect(r).toBeLessThan(710 * 1.03); // 1000/√2, DC removed
    for (const p of peaks) expect(Math.abs(p - 50)).toBeLessThan(1); // bin width 3.9 Hz, interpolated
    expect(c.errors()).toEqual([]);
  });

  it('picks the strongest of several tones and summarises bands each tick', async () => {
    const c = await load();
    c.init();
    c.serial(PORT, samples(256, 1000, [{ hz: 120, amp: 300 }, { hz: 310, amp: 900 }]));
    expect(Math.abs(c.last('peak-hz')! - 310)).toBeLessThan(2);
    c.tick();
    const [summary] = c.json('summary') as { rms: number; peakHz: number; blocks: number; bandShare: number[] }[];
    expect(summary!.blocks).toBe(1);
    expect(summary!.bandShare).toHaveLength(4);
    expect(summary!.bandShare[2]).toBeGreaterThan(0.8); // 310 Hz is in the third quarter of 0..500 Hz
  });

  it('sends one alarm message when RMS crosses alarm-rms, and re-arms after it falls', async () => {
    const c = await load();
    c.init();
    c.serial(PORT, samples(256, 1000, [{ hz: 80, amp: 4000 }])); // rms ≈ 2828 > 2000
    c.serial(PORT, samples(256, 1000, [{ hz: 80, amp: 4000 }]));
    expect(c.sent).toHaveLength(1);
    expect(c.sent[0]!.topic).toBe('vibration/alarm');
    expect(JSON.parse(new TextDecoder().decode(c.sent[0]!.payload)).rms).toBeGreaterThan(2000);
    c.serial(PORT, samples(256, 1000, [{ hz: 80, amp: 100 }]));
    c.serial(PORT, samples(256, 1000, [{ hz: 80, amp: 4000 }]));
    expect(c.sent).toHaveLength(2);
  });
});
