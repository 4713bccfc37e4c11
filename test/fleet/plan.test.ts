import { describe, expect, it } from 'vitest';
import { parseMaxFailures, parseWaves, waveSizes, withinLimit } from '../../gateway/fleet/plan.js';

describe('rollout plan', () => {
  it('accepts cumulative, increasing percentages ending at 100 and refuses anything else', () => {
    expect(parseWaves('1,10,100')).toEqual([1, 10, 100]);
    expect(parseWaves('100')).toEqual([100]);
    expect(parseWaves(' 0.5, 50 ,100')).toEqual([0.5, 50, 100]);
    for (const bad of ['10,1,100', '1,10', '1,,100', '0,100', '1,10,100,100', '1,200', 'x']) expect(() => parseWaves(bad), bad).toThrow(/--waves/);
  });

  it('cuts the targets into waves of at least one gateway, dropping waves left empty', () => {
    expect(waveSizes([1, 10, 100], 1000)).toEqual([10, 90, 900]);
    expect(waveSizes([1, 50, 100], 6)).toEqual([1, 2, 3]);
    expect(waveSizes([1, 10, 100], 6)).toEqual([1, 1, 4]);
    expect(waveSizes([1, 10, 100], 2)).toEqual([1, 1]);
    expect(waveSizes([1, 10, 100], 1)).toEqual([1]);
    expect(waveSizes([33.3, 100], 3)).toEqual([1, 2]);
  });

  it('compares failures with a count or a percentage of the gateways sent to', () => {
    expect(parseMaxFailures('0')).toEqual({ count: 0 });
    expect(parseMaxFailures('20%')).toEqual({ percent: 20 });
    for (const bad of ['-1', '20 %x', 'many', '120%']) expect(() => parseMaxFailures(bad), bad).toThrow(/--max-failures/);
    expect(withinLimit({ count: 0 }, 0, 10)).toBe(true);
    expect(withinLimit({ count: 0 }, 1, 10)).toBe(false);
    expect(withinLimit({ percent: 20 }, 2, 10)).toBe(true);
    expect(withinLimit({ percent: 20 }, 3, 10)).toBe(false);
    expect(withinLimit({ percent: 20 }, 1, 1)).toBe(false);
  });
});
