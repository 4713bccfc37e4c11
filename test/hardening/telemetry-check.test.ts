import { describe, expect, it } from 'vitest';
import { checkTelemetry, mulberry32, type TelemetryMessage } from './telemetry-check.js';

/** The fault-injection suite's seq checker must catch what it claims to catch (and accept what the contract allows). */
const m = (seq: number, value: number, extra: Record<string, unknown> = {}): TelemetryMessage => ({ channel: 'meter/level', body: { value, ts: value, seq, ...extra } });

describe('telemetry seq checker', () => {
  it('accepts a rising sequence with redeliveries and an announced jump', () => {
    const r = checkTelemetry([m(1, 10), m(2, 20), m(2, 20), m(3, 30), m(7, 70, { skipped: [4, 6] }), m(8, 80)]);
    expect(r.violations).toEqual([]);
    expect(r.stats).toMatchObject({ distinctSeqs: 5, redelivered: 1, jumps: 1, skippedSeqs: 3 });
  });

  it('flags a reused seq, an unannounced jump, a wrong skipped range, a late seq and a stray skipped', () => {
    expect(checkTelemetry([m(1, 10), m(2, 20), m(2, 21)]).violations).toEqual([expect.stringContaining('seq 2 reused')]);
    expect(checkTelemetry([m(1, 10), m(4, 40)]).violations).toEqual([expect.stringContaining('without "skipped"')]);
    // A range that leaves part of the gap uncovered, ends elsewhere, or reaches back before this run.
    expect(checkTelemetry([m(1, 10), m(4, 40, { skipped: [3, 3] })]).violations).toEqual([expect.stringContaining('start between 1 and 2')]);
    expect(checkTelemetry([m(1, 10), m(4, 40, { skipped: [2, 4] })]).violations).toEqual([expect.stringContaining('must end at 3')]);
    expect(checkTelemetry([m(1, 10), m(4, 40, { skipped: [2, 3] }), m(5, 50), m(9, 90, { skipped: [1, 8] })]).violations).toEqual([expect.stringContaining('start between 2 and 6')]);
    // An announcement not yet acknowledged when the process died is announced again (from the previous range).
    expect(checkTelemetry([m(1, 10), m(4, 40, { skipped: [2, 3] }), m(5, 50), m(9, 90, { skipped: [2, 8] })]).violations).toEqual([]);
    // From a durable lower bound: the range may cover numbers already received (published from memory).
    expect(checkTelemetry([m(1, 10), m(2, 20), m(5, 50, { skipped: [1, 4] })]).violations).toEqual([]);
    expect(checkTelemetry([m(1, 10), m(3, 30, { skipped: [2, 2] }), m(2, 20)]).violations).toEqual([expect.stringContaining('new seq 2 arrived after 3')]);
    expect(checkTelemetry([m(1, 10), m(2, 20, { skipped: [1, 1] })]).violations).toEqual([expect.stringContaining('without a jump')]);
  });

  it('the PRNG is deterministic per seed', () => {
    const a = mulberry32(7);
    const b = mulberry32(7);
    const xs = Array.from({ length: 5 }, () => a());
    expect(xs).toEqual(Array.from({ length: 5 }, () => b()));
    expect(new Set(xs).size).toBe(5);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });
});
