import { GatewayError } from '../../runtime/errors.js';
import { OP_CLASSES, RATE_CLASSES, type OpClass } from '../../runtime/interfaces/index.js';

/** Operation classes and their defaults come from the interface descriptors (runtime/interfaces/). */
export { OP_CLASSES, type OpClass } from '../../runtime/interfaces/index.js';

/** `rate` calls per second sustained, up to `burst` at once. */
export interface RateLimit {
  rate: number;
  burst: number;
}
/** `null` turns a class's limit off. */
export type RateLimits = Partial<Record<OpClass, RateLimit | null>>;

/** Per component. Generous for sensors polling in a loop, tight enough to stop a runaway guest. */
export const DEFAULT_RATE_LIMITS: Readonly<Record<OpClass, RateLimit>> = Object.fromEntries(RATE_CLASSES.map((c) => [c.name, { rate: c.rate, burst: c.burst }])) as Record<OpClass, RateLimit>;

/**
 * One token bucket. Refill is lazy: the clock is read only when the bucket runs dry, so an
 * allowed call costs a decrement and a compare. Refilling by the time elapsed since the last
 * refill gives the same long-run rate as a continuously refilled bucket.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    readonly rate: number,
    readonly burst: number,
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    this.tokens = burst;
    this.last = now();
  }
  take(): boolean {
    if (this.tokens >= 1) {
      this.tokens--;
      return true;
    }
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.rate) / 1000);
    this.last = t;
    if (this.tokens >= 1) {
      this.tokens--;
      return true;
    }
    return false;
  }
}

/** The buckets of one component, one field per operation class; a missing bucket means unlimited. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface RateLimiter extends Readonly<Record<OpClass, TokenBucket | undefined>> {}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class RateLimiter {
  constructor(limits: RateLimits = {}, now?: () => number) {
    const self = this as unknown as Record<OpClass, TokenBucket | undefined>;
    for (const cls of OP_CLASSES) {
      const l = limits[cls] === undefined ? DEFAULT_RATE_LIMITS[cls] : limits[cls];
      self[cls] = l ? new TokenBucket(l.rate, l.burst, now) : undefined;
    }
  }
  limitText(cls: OpClass): string {
    const b = this[cls];
    return b ? `${cls} calls are limited to ${b.rate}/s (burst ${b.burst})` : `${cls} calls are not limited`;
  }
}

/** Parses gateway config `rate-limits: { gpio: { rate: 1000, burst: 2000 }, log: off }`. */
export function parseRateLimits(raw: unknown): RateLimits {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new GatewayError('INVALID_CONFIG', 'config rate-limits: expected a mapping of operation class to { rate, burst }; see docs/drivers.md');
  const out: RateLimits = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (!(OP_CLASSES as readonly string[]).includes(k)) throw new GatewayError('INVALID_CONFIG', `config rate-limits.${k}: unknown operation class; use one of ${OP_CLASSES.join(', ')}`);
    if (v === 'off' || v === null || v === false) {
      out[k as OpClass] = null;
      continue;
    }
    const o = v as Record<string, unknown>;
    const rate = o?.rate;
    const burst = o?.burst ?? rate;
    if (typeof rate !== 'number' || !(rate > 0) || !Number.isFinite(rate) || typeof burst !== 'number' || !(burst >= 1) || !Number.isFinite(burst)) {
      throw new GatewayError('INVALID_CONFIG', `config rate-limits.${k}: ${JSON.stringify(v)?.slice(0, 80)} is not a limit; write { rate: <calls per second above 0>, burst: <calls, at least 1> } or off`);
    }
    out[k as OpClass] = { rate, burst };
  }
  return out;
}
