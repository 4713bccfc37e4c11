import type { Metrics } from '../../../drivers/pipeline/metrics.js';
import type { CommandStats } from '../../commands/inbound.js';
import type { ComponentService } from '../../component/component-service.js';
import type { LinkStatus } from '../../mqtt/link-watch.js';
import { topics } from '../../mqtt/topics.js';
import type { OutboxStats } from '../../telemetry/outbox.js';
import type { PublisherStats } from '../../telemetry/publisher.js';
import type { Extension, ExtensionContext } from '../extension.js';
import type { MemoryStats } from './memory.js';

/** Where the health report reads from: counters the core keeps anyway (reading them is cheap). */
export interface HealthSources {
  version: string;
  startedAt: number;
  services: ReadonlyMap<string, ComponentService>;
  metrics: Metrics;
  outbox(): OutboxStats;
  publisher(): PublisherStats;
  /** Absent with the embedded broker (there is no link to watch). */
  broker?(): LinkStatus;
  /** Absent before the commands extension started. */
  commands?(): CommandStats | undefined;
  refused(): { lines: number; byKind: Record<string, number> };
  /** Absent where the gateway shares its process (fleet-sim) or before the memory extension started. */
  memory?(): MemoryStats | undefined;
}

/** The health report (`Gateway.health()`, and the retained `<prefix>/gw/<id>/health`). */
export function healthReport(s: HealthSources): Record<string, unknown> {
  const metrics = s.metrics.snapshot();
  const components: Record<string, unknown> = {};
  for (const [name, c] of s.services) {
    components[name] = {
      version: c.host.version,
      state: c.state,
      events: c.host.stats.events,
      errors: c.host.stats.errors,
      crashes: c.host.stats.crashes,
      fuel: { last: c.host.stats.lastFuel, total: c.host.stats.totalFuel },
      memoryBytes: c.host.memoryBytes(),
      deadlineOverruns: c.host.stats.deadlineOverruns,
      mailbox: { depth: c.ref.mailbox.size, dropped: c.ref.stats.dropped, rejected: c.ref.stats.rejected },
      host: metrics[name],
    };
  }
  const commands = s.commands?.();
  const memory = s.memory?.();
  return {
    ts: Date.now(),
    uptimeMs: Date.now() - s.startedAt,
    version: s.version,
    components,
    outbox: s.outbox(),
    publisher: s.publisher(),
    ...(s.broker ? { broker: s.broker() } : {}),
    ...(commands ? { commands } : {}),
    refused: s.refused(),
    ...(memory ? { memory } : {}),
  };
}

export interface HealthExtensionOptions {
  prefix: string;
  gatewayId: string;
  intervalMs: number;
  report(): Record<string, unknown>;
}

/**
 * Gateway health (not in the contract): the report, retained on `<prefix>/gw/<id>/health` every
 * `telemetry.health-interval`, while connected (QoS 0: the next tick replaces a lost one).
 */
export class HealthExtension implements Extension {
  readonly name = 'health';
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: HealthExtensionOptions) {}

  async start(ctx: ExtensionContext): Promise<void> {
    const topic = topics.health(this.opts.prefix, this.opts.gatewayId);
    this.timer = setInterval(() => {
      if (!ctx.mqtt.connected) return;
      ctx.mqtt.publish(topic, JSON.stringify(this.opts.report()), { qos: 0, retain: true }).catch(() => {});
    }, this.opts.intervalMs);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
  }
}
