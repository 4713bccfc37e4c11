/**
 * Timing helpers shared by the benchmarks. A batch of calls is timed as one (the timer's own cost
 * is amortised), after a warm-up batch that lets V8 optimise the path; the median over rounds is
 * what a run reports.
 */
export interface BatchTiming {
  median: number;
  min: number;
  max: number;
}

/** Median (and spread) over `rounds` of the mean ns/call of `iterations` calls. */
export function batchTiming(fn: () => void, iterations: number, rounds = 7): BatchTiming {
  for (let i = 0; i < iterations; i++) fn();
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn();
    samples.push(Number(process.hrtime.bigint() - t0) / iterations);
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)]!, min: samples[0]!, max: samples[samples.length - 1]! };
}

/** The median ns/call alone. */
export function nsPerCall(fn: () => void, iterations: number, rounds = 7): number {
  return batchTiming(fn, iterations, rounds).median;
}
