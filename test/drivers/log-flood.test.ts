import { describe, expect, it } from 'vitest';
import { createHostApi } from '../../drivers/pipeline/host-calls.js';
import { compileGrant } from '../../drivers/policy/grant.js';
import { RateLimiter } from '../../drivers/pipeline/rate-limit.js';
import { createSimBoard } from '../../drivers/sim-board.js';
import { parseManifest } from '../../runtime/manifest.js';
import type { LogLevel } from '../../runtime/host-api.js';

/**
 * Hardening issue: the log rate limit is taken before anything is done with the message, so a flood
 * past the limit costs a token check per call and nothing else (no formatting, no sink).
 */
describe('log flood', () => {
  it('past the burst, a million log calls reach the sink only as often as the bucket allows and are never formatted', () => {
    const manifest = parseManifest({ name: 'flood', version: '1.0.0' });
    const logged: string[] = [];
    let clock = 0;
    const api = createHostApi({
      component: { name: 'flood', version: '1.0.0' },
      grant: compileGrant(manifest),
      board: createSimBoard(),
      rateLimits: new RateLimiter({ log: { rate: 100, burst: 200 } }, () => clock),
      sinks: { telemetry: () => {}, message: () => {}, log: (_l: LogLevel, m: string) => logged.push(m) },
    });
    for (let i = 0; i < 200; i++) api.log('info', 'fine');
    expect(logged).toHaveLength(200);
    // A message that would throw if anything looked at it: dropped calls must not touch it.
    let touched = 0;
    const poisoned = { toString: () => (touched++, 'x') } as unknown as string;
    for (let i = 0; i < 1_000_000; i++) api.log('info', poisoned);
    expect(touched).toBe(0);
    expect(logged).toHaveLength(200);
    // Time passes: the bucket refills at its rate, and logging resumes.
    clock += 1000;
    api.log('info', 'after');
    expect(logged.at(-1)).toBe('after');
  });
});
