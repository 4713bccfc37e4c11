import type { OpClass } from './rate-limit.js';

/**
 * Counters for one component. Plain numeric fields, so the hot path is one increment; reads are
 * counted here instead of being audited one by one.
 */
export class ComponentMetrics {
  gpio = 0;
  serial = 0;
  telemetry = 0;
  messaging = 0;
  log = 0;
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
      ops: { gpio: this.gpio, serial: this.serial, telemetry: this.telemetry, messaging: this.messaging, log: this.log },
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
