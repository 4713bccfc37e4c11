import type { OtaStatus } from '../../ota/updater.js';
import type { ExtensionContext } from '../extension.js';

/**
 * What the status page shows, built from the extension context only: component snapshots, the
 * last error each one reported through its lifecycle, OTA history (bounded), outbox, publisher and
 * broker state. One `snapshot()` is one JSON document the page renders whole.
 */
export const OTA_HISTORY_MAX = 100;

export interface OtaEntry {
  component: string;
  version: string;
  phase: string;
  reason: string;
  detail: string;
  ts: number;
}

export interface LastError {
  reason: string;
  state: string;
  ts: number;
}

export class StatusModel {
  private readonly ota: OtaEntry[] = [];
  private readonly lastError = new Map<string, LastError>();
  private readonly startedAt = Date.now();

  constructor(private readonly ctx: ExtensionContext) {
    // The gateway's components started before any extension: seed from what the core kept.
    for (const c of ctx.events.otaComponents()) this.addOta(c, ctx.events.lastOta(c)!);
    for (const c of ctx.components()) {
      const last = ctx.events.lastLifecycle(c.name);
      if (last?.reason && last.state !== 'running' && last.state !== 'starting') this.lastError.set(c.name, { reason: last.reason, state: last.state, ts: last.ts });
    }
    ctx.events.on('ota', (c, s) => this.addOta(c, s));
    ctx.events.on('lifecycle', (c, e) => {
      // A clean stop at shutdown is not an error worth showing; a crash or a give-up is.
      if (e.reason && (e.state === 'restarting' || e.state === 'failed' || (e.state === 'stopped' && e.reason !== 'normal' && e.reason !== 'shutdown'))) this.lastError.set(c, { reason: e.reason, state: e.state, ts: e.ts });
    });
    ctx.events.on('removed', (c) => this.lastError.delete(c));
  }

  private addOta(component: string, s: OtaStatus): void {
    this.ota.push({ component, version: s.version, phase: s.phase, reason: s.reason, detail: s.detail, ts: s.ts });
    if (this.ota.length > OTA_HISTORY_MAX) this.ota.splice(0, this.ota.length - OTA_HISTORY_MAX);
  }

  snapshot(): StatusSnapshot {
    const { ctx } = this;
    const outbox = ctx.outbox();
    const publisher = ctx.publisher();
    return {
      ts: Date.now(),
      gateway: { id: ctx.gateway.id, version: ctx.gateway.version, groups: [...ctx.gateway.groups], uptimeMs: Date.now() - this.startedAt },
      components: ctx.components().map((c) => ({
        name: c.name,
        version: c.version,
        sha256: c.sha256,
        state: c.state,
        restarts: c.restarts,
        lastError: this.lastError.get(c.name),
        events: c.events,
        errors: c.errors,
        crashes: c.crashes,
        memoryBytes: c.memoryBytes,
        mailbox: { depth: c.mailbox.depth, capacity: c.mailbox.capacity },
        channels: c.manifest.capabilities.channels.map((ch) => ({ name: ch.name, ...(ch.unit ? { unit: ch.unit } : {}) })),
      })),
      outbox: { depth: outbox.depth, bytes: outbox.bytes, memory: outbox.memory, writable: outbox.writable, storageError: outbox.storageError, dropped: outbox.dropped, oldestAgeMs: outbox.oldestAgeMs, appended: outbox.appended, acked: outbox.acked },
      publisher: { inflight: publisher.inflight, published: publisher.published, acked: publisher.acked, refused: publisher.refused, resends: publisher.resends },
      broker: { url: redactUrl(String(ctx.config.mqtt.url)), connected: ctx.mqtt.connected, reconnects: ctx.mqtt.reconnects },
      ota: [...this.ota].reverse(),
    };
  }
}

/** The broker URL without credentials (a `mqtt://user:pass@host` must not reach a browser). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

export interface StatusSnapshot {
  ts: number;
  gateway: { id: string; version: string; groups: string[]; uptimeMs: number };
  components: Array<{
    name: string;
    version: string;
    sha256: string;
    state: string;
    restarts: number;
    lastError: LastError | undefined;
    events: number;
    errors: number;
    crashes: number;
    memoryBytes: number;
    mailbox: { depth: number; capacity: number };
    channels: Array<{ name: string; unit?: string }>;
  }>;
  outbox: Record<string, unknown>;
  publisher: Record<string, number>;
  broker: { url: string; connected: boolean; reconnects: number };
  ota: OtaEntry[];
}
