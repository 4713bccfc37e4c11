/**
 * Exponential backoff with jitter: the one formula behind supervisor restarts, serial reopens and
 * MQTT reconnects, so a fleet that lost the same thing does not retry in lockstep. It lives in
 * runtime/ because drivers/ and gateway/ may import runtime/, never the other way.
 */

/**
 * How the random share is placed around the exponential delay d:
 * - `below`: d·(1 − jitter·r), within [d·(1−jitter), d] (never longer than d);
 * - `around`: d·(1 + jitter·(2r−1)), within [d·(1−jitter), d·(1+jitter)].
 */
export type JitterSpread = 'below' | 'around';

export interface BackoffShape {
  /** The first delay; 0 (or less) = no delay at all. */
  initialMs: number;
  /** Cap on the exponential part. */
  maxMs: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** 0..1: the random share of each delay. Default 0.5. */
  jitter?: number;
  /** Default `below`. */
  spread?: JitterSpread;
}

/** The delay before attempt `attempt` (0-based): min(maxMs, initialMs·factor^attempt), jittered. */
export function backoffDelay(shape: BackoffShape, attempt: number, random: () => number = Math.random): number {
  if (shape.initialMs <= 0) return 0;
  const factor = shape.factor ?? 2;
  const jitter = Math.min(1, Math.max(0, shape.jitter ?? 0.5));
  const d = Math.min(shape.maxMs, shape.initialMs * Math.pow(factor, Math.max(0, attempt)));
  const r = random();
  const scale = shape.spread === 'around' ? 1 + jitter * (2 * r - 1) : 1 - jitter * r;
  return Math.max(0, Math.round(d * scale));
}

export interface BackoffOptions extends Partial<BackoffShape> {
  random?: () => number;
}

/** A counting backoff: each next() grows the delay until reset(). Defaults: 500 ms doubling to 30 s. */
export class Backoff {
  private attempt = 0;
  private readonly shape: BackoffShape;
  private readonly random: () => number;

  constructor(o: BackoffOptions = {}) {
    // `??`, not a spread: an option passed as undefined keeps its default.
    this.shape = { initialMs: o.initialMs ?? 500, maxMs: o.maxMs ?? 30_000, factor: o.factor, jitter: o.jitter, spread: o.spread };
    this.random = o.random ?? Math.random;
  }

  /** The delay before the next attempt. */
  next(): number {
    return backoffDelay(this.shape, this.attempt++, this.random);
  }

  /** The longest delay next() can return. */
  get ceilingMs(): number {
    return this.shape.spread === 'around' ? Math.round(this.shape.maxMs * (1 + (this.shape.jitter ?? 0.5))) : this.shape.maxMs;
  }

  get attempts(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}
