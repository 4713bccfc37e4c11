import { OP_CLASSES, type OpClass } from '../../runtime/interfaces/index.js';

/**
 * Counters for one component. Plain numeric fields (one per operation class, from the interface
 * descriptors), so the hot path is one increment; reads are counted here instead of being audited
 * one by one.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface ComponentMetrics extends Record<OpClass, number> {}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class ComponentMetrics {
  constructor() {
    for (const cls of OP_CLASSES) (this as unknown as Record<OpClass, number>)[cls] = 0;
  }
  /** Calls refused by the grant. */
  denied = 0;
  /** Calls refused by a rate limit (including dropped log lines). */
  limited = 0;
  /** Calls with bad arguments. */
  invalid = 0;
  /** Calls the device failed. */
  errors = 0;

  snapshot(): MetricsSnapshot {
    return {
      ops: Object.fromEntries(OP_CLASSES.map((c) => [c, this[c]])) as Record<OpClass, number>,
      denied: this.denied,
      limited: this.limited,
      invalid: this.invalid,
      errors: this.errors,
    };
  }
}

export interface MetricsSnapshot {
  ops: Record<OpClass, number>;
  denied: number;
  limited: number;
  invalid: number;
  errors: number;
}

/** Metrics for every component, by name (a new version keeps counting under the same name). */
export class Metrics {
  private readonly byComponent = new Map<string, ComponentMetrics>();
  for(component: string): ComponentMetrics {
    let m = this.byComponent.get(component);
    if (!m) this.byComponent.set(component, (m = new ComponentMetrics()));
    return m;
  }
  snapshot(): Record<string, MetricsSnapshot> {
    const out: Record<string, MetricsSnapshot> = {};
    for (const [k, m] of this.byComponent) out[k] = m.snapshot();
    return out;
  }
}
