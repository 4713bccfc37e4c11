import type { Outbox, SampleBody } from './outbox.js';

/**
 * Where a component's telemetry sample goes once it left the component: the durable outbox (and
 * from it the broker publisher), and observers (extensions: the status page's live charts).
 * Every destination is a `TelemetrySink`; the gateway hands each sample to one `TelemetrySinks`
 * fan-out and never to a destination directly, so adding one is adding a sink.
 */
export interface TelemetrySink {
  /** Short, stable, for logs. */
  readonly name: string;
  /**
   * Asked before each sample: false means nobody wants it now (an observer with no listener), and
   * the sample is not handed over. Must be cheap.
   */
  readonly active: boolean;
  /** Must not throw on bad data and must not block: it runs on the component's event path. */
  write(component: string, channel: string, sample: SampleBody, ts: number): void;
}

/** The outbox as a sink: every sample is stored (store-and-forward; the publisher drains it). */
export function outboxSink(outbox: Pick<Outbox, 'append'>): TelemetrySink {
  return {
    name: 'outbox',
    active: true,
    // The outbox stamps the sample itself (its own clock, as for every other append).
    write: (component, channel, sample) => void outbox.append(component, channel, sample),
  };
}

/** The fan-out the core writes to: the outbox first (it must not miss a sample an observer saw), then the rest. */
export class TelemetrySinks {
  private sinks: TelemetrySink[] = [];

  constructor(sinks: TelemetrySink[] = []) {
    for (const s of sinks) this.add(s);
  }

  /** Adds a sink; the returned function removes it. */
  add(sink: TelemetrySink): () => void {
    this.sinks = [...this.sinks, sink];
    return () => {
      this.sinks = this.sinks.filter((s) => s !== sink);
    };
  }

  write(component: string, channel: string, sample: SampleBody, ts: number = Date.now()): void {
    for (const s of this.sinks) if (s.active) s.write(component, channel, sample, ts);
  }
}
