import { INTERFACES, OP_CLASSES, WORLDS, type HostInterface, type OpClass } from '../../runtime/interfaces/index.js';

const ALWAYS = new Set<string>((INTERFACES as readonly HostInterface[]).filter((i) => i.worlds.includes(WORLDS[0]!.version)).flatMap((i) => (i.rateClasses ?? []).map((r) => r.name)));

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
      // Classes of the 0.1.0 interfaces always; newer ones (storage, i2c, spi) once used, so the
      // snapshot (health, metrics) of a gateway running only 0.1.0 components reads as before.
      ops: Object.fromEntries(OP_CLASSES.filter((c) => ALWAYS.has(c) || this[c] > 0).map((c) => [c, this[c]])) as Partial<Record<OpClass, number>>,
      denied: this.denied,
      limited: this.limited,
      invalid: this.invalid,
      errors: this.errors,
    };
  }
}

export interface MetricsSnapshot {
  /** Calls per operation class: the 0.1.0 classes always, newer ones once used. */
  ops: Partial<Record<OpClass, number>>;
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
