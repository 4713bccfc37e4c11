import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { FINAL_PHASES } from '../../ota/reasons.js';
import type { ExtensionContext } from '../extension.js';

/**
 * The gateway's Prometheus metrics, in a Registry of its own (never prom-client's global one:
 * fleet-sim runs many gateways in one process). Nearly every value is read at scrape time from
 * counters the core keeps anyway (`collect` callbacks), so the data path pays nothing for metrics;
 * only OTA outcomes are counted as they happen (a handful of events a day).
 *
 * Names: `airssys_` prefix, base units (bytes, seconds), `_total` on counters. Counters of a
 * component restart from zero when the gateway process does (Prometheus' rate() handles resets).
 */
export function gatewayRegistry(ctx: ExtensionContext, options: { processMetrics?: boolean } = {}): { registry: Registry; dispose: () => void } {
  const registry = new Registry();
  const gw = ctx.gateway;
  if (options.processMetrics !== false) {
    collectDefaultMetrics({ register: registry, prefix: 'airssys_' });
    // prom-client's `nodejs_active_*_total` are gauges named like counters (promtool rejects them);
    // the per-type `airssys_nodejs_active_*{type}` gauges say the same.
    for (const kind of ['handles', 'requests', 'resources']) registry.removeSingleMetric(`airssys_nodejs_active_${kind}_total`);
  }

  // One scrape reads the component table once, however many families use it.
  let cached: { at: number; list: ReturnType<ExtensionContext['components']> } | undefined;
  const components = () => {
    const now = Date.now();
    if (!cached || now - cached.at > 50) cached = { at: now, list: ctx.components() };
    return cached.list;
  };

  new Gauge({
    name: 'airssys_gateway_info',
    help: 'The gateway: its id and version (always 1).',
    labelNames: ['gateway', 'version'],
    registers: [registry],
    collect() {
      this.set({ gateway: gw.id, version: gw.version }, 1);
    },
  });

  type Snap = ReturnType<ExtensionContext['components']>[number];
  const perComponent = (kind: 'counter' | 'gauge', name: string, help: string, value: (c: Snap) => number) => {
    const cfg = {
      name,
      help,
      labelNames: ['component'] as const,
      registers: [registry],
    };
    if (kind === 'counter') {
      new Counter({
        ...cfg,
        collect() {
          this.reset();
          for (const c of components()) this.inc({ component: c.name }, value(c));
        },
      });
    } else {
      new Gauge({
        ...cfg,
        collect() {
          this.reset();
          for (const c of components()) this.set({ component: c.name }, value(c));
        },
      });
    }
  };
  perComponent('counter', 'airssys_component_events_total', 'Events delivered to the component (ticks, pin changes, serial frames, messages).', (c) => c.events);
  perComponent('counter', 'airssys_component_errors_total', 'Events the component handled by returning an error.', (c) => c.errors);
  perComponent('counter', 'airssys_component_crashes_total', 'Events that ended in a trap, fuel exhaustion or another crash.', (c) => c.crashes);
  perComponent('counter', 'airssys_component_restarts_total', 'Restarts by the component\'s supervisor.', (c) => c.restarts);
  perComponent('counter', 'airssys_component_fuel_total', 'Fuel (instrumented WebAssembly cost units) used by the component\'s events.', (c) => c.fuel.total);
  perComponent('counter', 'airssys_component_deadline_overruns_total', 'Events that ran longer than the manifest\'s deadline-ms.', (c) => c.deadlineOverruns);
  perComponent('gauge', 'airssys_component_memory_bytes', 'Linear memory of the component\'s instance.', (c) => c.memoryBytes);
  perComponent('gauge', 'airssys_component_mailbox_depth', 'Events waiting in the component\'s mailbox.', (c) => c.mailbox.depth);
  perComponent('gauge', 'airssys_component_mailbox_capacity', 'Mailbox capacity (manifest limits.mailbox).', (c) => c.mailbox.capacity);
  new Counter({
    name: 'airssys_component_mailbox_dropped_total',
    help: 'Events evicted from a full mailbox, by class (ticks go first, then device events).',
    labelNames: ['component', 'class'],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of components()) {
        this.inc({ component: c.name, class: 'tick' }, c.mailbox.dropped.tick);
        this.inc({ component: c.name, class: 'event' }, c.mailbox.dropped.event);
      }
    },
  });
  perComponent('counter', 'airssys_component_mailbox_rejected_total', 'Messages refused at a full mailbox (the sender was told).', (c) => c.mailbox.rejected);

  new Gauge({
    name: 'airssys_component_info',
    help: 'The version serving each component (always 1).',
    labelNames: ['component', 'version', 'sha256'],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of components()) this.set({ component: c.name, version: c.version, sha256: c.sha256 }, 1);
    },
  });
  const STATES = ['starting', 'running', 'restarting', 'failed', 'stopped'];
  new Gauge({
    name: 'airssys_component_state',
    help: 'Lifecycle state of each component: 1 for the current state, 0 for the others.',
    labelNames: ['component', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of components()) for (const s of STATES) this.set({ component: c.name, state: s }, c.state === s ? 1 : 0);
    },
  });

  new Counter({
    name: 'airssys_host_calls_total',
    help: 'Host calls that passed the capability check and rate limit, by interface.',
    labelNames: ['component', 'interface'],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of components()) {
        const h = c.hostCalls;
        if (!h) continue;
        for (const [iface, n] of Object.entries(h.ops)) this.inc({ component: c.name, interface: iface }, n);
      }
    },
  });
  new Counter({
    name: 'airssys_host_calls_refused_total',
    help: 'Host calls refused, by decision: denied (not granted), limited (rate limit), invalid (bad arguments).',
    labelNames: ['component', 'decision'],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of components()) {
        const h = c.hostCalls;
        if (!h) continue;
        this.inc({ component: c.name, decision: 'denied' }, h.denied);
        this.inc({ component: c.name, decision: 'limited' }, h.limited);
        this.inc({ component: c.name, decision: 'invalid' }, h.invalid);
      }
    },
  });
  perComponent('counter', 'airssys_host_call_errors_total', 'Allowed host calls the device failed (I/O errors).', (c) => c.hostCalls?.errors ?? 0);

  // Telemetry outbox and publisher.
  const scalarGauge = (name: string, help: string, value: () => number | undefined) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const v = value();
        this.reset();
        if (v !== undefined) this.set(v);
      },
    });
  scalarGauge('airssys_outbox_depth', 'Telemetry samples stored and not yet acknowledged by the broker.', () => ctx.outbox().depth);
  scalarGauge('airssys_outbox_bytes', 'Bytes of the stored, unacknowledged samples.', () => ctx.outbox().bytes);
  scalarGauge('airssys_outbox_oldest_age_seconds', 'Age of the oldest unacknowledged sample (absent when empty).', () => {
    const ms = ctx.outbox().oldestAgeMs;
    return ms === undefined ? undefined : ms / 1000;
  });
  new Counter({
    name: 'airssys_outbox_dropped_total',
    help: 'Samples dropped unsent, by reason: full (outbox-max-bytes) or age (outbox-max-age-ms).',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      const s = ctx.outbox();
      this.reset();
      this.inc({ reason: 'full' }, s.droppedFull);
      this.inc({ reason: 'age' }, s.droppedAge);
    },
  });
  const simpleCounter = (name: string, help: string, value: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(value());
      },
    });
  simpleCounter('airssys_outbox_appended_total', 'Samples stored in the outbox by this process.', () => ctx.outbox().appended);
  simpleCounter('airssys_telemetry_published_total', 'Telemetry publishes sent to the broker (resends included).', () => ctx.publisher().published);
  simpleCounter('airssys_telemetry_acked_total', 'Telemetry publishes the broker acknowledged.', () => ctx.publisher().acked);
  simpleCounter('airssys_telemetry_refused_total', 'Telemetry publishes the broker refused (retried).', () => ctx.publisher().refused);
  scalarGauge('airssys_telemetry_inflight', 'Telemetry publishes awaiting their acknowledgement.', () => ctx.publisher().inflight);

  // Broker link.
  scalarGauge('airssys_broker_connected', '1 while the gateway has a session with the broker.', () => (ctx.mqtt.connected ? 1 : 0));
  simpleCounter('airssys_broker_reconnects_total', 'Broker sessions established after the first one.', () => ctx.mqtt.reconnects);

  // OTA: counted as the updater reports final phases (committed, rejected, rolled-back).
  const ota = new Counter({
    name: 'airssys_ota_releases_total',
    help: 'OTA releases that ended on this gateway, by component, outcome (committed, rejected, rolled-back) and reason.',
    labelNames: ['component', 'outcome', 'reason'],
    registers: [registry],
  });
  const onOta = (component: string, status: { phase: string; reason: string }) => {
    if ((FINAL_PHASES as readonly string[]).includes(status.phase)) ota.inc({ component, outcome: status.phase, reason: status.reason || 'none' });
  };
  ctx.events.on('ota', onOta);
  return { registry, dispose: () => ctx.events.off('ota', onOta) };
}
