/**
 * The seq rules of contract sections 4 and 7.4, checked over everything a subscriber received from
 * one gateway across many restarts (in arrival order):
 * - a (channel, seq) pair seen twice must carry the same sample (at-least-once redelivery is fine;
 *   the same seq with another value is a reused seq);
 * - a seq seen for the first time must be above every seq seen before on that channel;
 * - a jump over numbers never published is allowed, but the first sample after it must carry
 *   `"skipped":[first,last]` covering the numbers jumped over: `last` right before the sample, `first`
 *   at most one above the highest seq received. The gateway publishes samples from memory before
 *   anything about them is on disk (SD-card wear), so after a SIGKILL it knows only a durable lower
 *   bound of what it handed out: `first` may lie below numbers a subscriber already has (those were
 *   published; the rest of the range never will be), but never below the run before the stop, or
 *   the previous announced range (a jump whose announcement was not yet acknowledged when the
 *   process died is announced again). A jump the range does not cover is a loss;
 * - a `"skipped"` range must be well formed and end right before the sample carrying it.
 */

export interface TelemetryMessage {
  /** `<component>/<channel>` */
  channel: string;
  body: Record<string, unknown>;
}

export interface TelemetryCheck {
  violations: string[];
  stats: { channels: number; distinctSeqs: number; redelivered: number; jumps: number; skippedSeqs: number };
}

const sampleKey = (b: Record<string, unknown>) => JSON.stringify(['value' in b ? b.value : b.json, b.ts]);

export function checkTelemetry(messages: TelemetryMessage[]): TelemetryCheck {
  const violations: string[] = [];
  const stats = { channels: 0, distinctSeqs: 0, redelivered: 0, jumps: 0, skippedSeqs: 0 };
  // runStart: the first new seq after the last jump (or the first ever): a range may not reach below it.
  const channels = new Map<string, { seen: Map<number, string>; max: number; runStart: number; lastRange: number }>();
  for (const { channel, body } of messages) {
    let c = channels.get(channel);
    if (!c) channels.set(channel, (c = { seen: new Map(), max: 0, runStart: 1, lastRange: 1 }));
    const seq = body.seq;
    if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 1) {
      violations.push(`${channel}: seq ${JSON.stringify(seq)} is not a positive integer`);
      continue;
    }
    const k = sampleKey(body);
    const before = c.seen.get(seq);
    if (before !== undefined) {
      if (before !== k) violations.push(`${channel}: seq ${seq} reused: ${before} then ${k}`);
      else stats.redelivered++;
      continue;
    }
    c.seen.set(seq, k);
    if (seq <= c.max) {
      violations.push(`${channel}: new seq ${seq} arrived after ${c.max} (seq must rise)`);
      continue;
    }
    const skipped = body.skipped;
    if (seq > c.max + 1) {
      stats.jumps++;
      const gap = [c.max + 1, seq - 1] as const;
      const range = Array.isArray(skipped) && skipped.length === 2 && skipped.every((n) => Number.isInteger(n)) ? (skipped as [number, number]) : undefined;
      if (skipped === undefined) violations.push(`${channel}: seq jumped from ${c.max} to ${seq} without "skipped" (${gap[1] - gap[0] + 1} samples lost?)`);
      else if (!range || range[1] !== gap[1] || range[0] > gap[0] || range[0] < Math.min(c.runStart, c.lastRange)) {
        violations.push(`${channel}: seq jumped from ${c.max} to ${seq} but "skipped" is ${JSON.stringify(skipped)}; it must end at ${gap[1]} and start between ${Math.min(c.runStart, c.lastRange)} and ${gap[0]}`);
      } else stats.skippedSeqs += gap[1] - gap[0] + 1;
      c.runStart = seq;
      if (range) c.lastRange = range[0];
    } else if (skipped !== undefined) {
      violations.push(`${channel}: seq ${seq} follows ${c.max} without a jump but carries "skipped":${JSON.stringify(skipped)}`);
    }
    c.max = seq;
  }
  stats.channels = channels.size;
  for (const c of channels.values()) stats.distinctSeqs += c.seen.size;
  return { violations, stats };
}

/** A small seeded PRNG (mulberry32): the same seed gives the same kill points. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
