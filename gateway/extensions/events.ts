import { EventEmitter } from 'node:events';
import type { LifecycleEvent } from '../../runtime/supervision/types.js';
import type { OtaStatus } from '../ota/updater.js';
import type { TelemetrySink } from '../telemetry/sink.js';

/**
 * What happens to components, as the gateway reports it: one emitter the core writes to with a
 * single call at each point (lifecycle, removal, version swap, OTA status) and extensions read
 * from. It also keeps the latest lifecycle event and OTA status per component, so an extension
 * started after the components (they all are) still knows where each stands.
 *
 * Listeners run synchronously inside the core's call: they must be cheap and must not throw
 * (a throwing listener is caught here and reported through `onListenerError`, never to the core).
 */
export interface GatewayEventMap {
  /** A supervisor lifecycle event of a component (also the first `starting`/`running`). */
  lifecycle: [component: string, event: LifecycleEvent];
  /** The component is gone from this gateway (OTA install rolled back, …): stop showing it. */
  removed: [component: string];
  /** Another version serves now (OTA activation or rollback), same lifecycle state. */
  version: [component: string];
  /** Every OTA status the updater published. */
  ota: [component: string, status: OtaStatus];
  /**
   * A telemetry sample a component published, as it entered the outbox (`value` for `publish`,
   * `json` text for `publish-json`). Emitted only while someone listens: the core asks `sampling`
   * first, so the data path pays nothing when no extension wants samples.
   */
  sample: [component: string, channel: string, sample: TelemetryTap, ts: number];
}

export type TelemetryTap = { value: number } | { json: string };

export interface GatewayEventSource {
  on<K extends keyof GatewayEventMap>(event: K, listener: (...args: GatewayEventMap[K]) => void): void;
  off<K extends keyof GatewayEventMap>(event: K, listener: (...args: GatewayEventMap[K]) => void): void;
  lastLifecycle(component: string): LifecycleEvent | undefined;
  lastOta(component: string): OtaStatus | undefined;
  /** Components with an OTA status this process has seen. */
  otaComponents(): string[];
}

export class GatewayEvents implements GatewayEventSource {
  private readonly emitter = new EventEmitter();
  private readonly lifecycles = new Map<string, LifecycleEvent>();
  private readonly statuses = new Map<string, OtaStatus>();
  private samplers = 0;

  constructor() {
    // One listener per extension and event: the default warning at 10 would be noise, not a leak.
    this.emitter.setMaxListeners(100);
  }

  lifecycle(component: string, event: LifecycleEvent): void {
    this.lifecycles.set(component, event);
    this.emit('lifecycle', component, event);
  }

  removed(component: string): void {
    this.lifecycles.delete(component);
    this.emit('removed', component);
  }

  version(component: string): void {
    this.emit('version', component);
  }

  ota(component: string, status: OtaStatus): void {
    this.statuses.set(component, status);
    this.emit('ota', component, status);
  }

  /** True while a `sample` listener is registered (checked by the core before each sample). */
  get sampling(): boolean {
    return this.samplers > 0;
  }

  sample(component: string, channel: string, sample: TelemetryTap, ts: number): void {
    this.emit('sample', component, channel, sample, ts);
  }

  on<K extends keyof GatewayEventMap>(event: K, listener: (...args: GatewayEventMap[K]) => void): void {
    if (event === 'sample') this.samplers++;
    this.emitter.on(event, listener as (...a: unknown[]) => void);
  }
  off<K extends keyof GatewayEventMap>(event: K, listener: (...args: GatewayEventMap[K]) => void): void {
    if (event === 'sample' && this.emitter.listeners(event).includes(listener as (...a: unknown[]) => void)) this.samplers--;
    this.emitter.off(event, listener as (...a: unknown[]) => void);
  }
  lastLifecycle(component: string): LifecycleEvent | undefined {
    return this.lifecycles.get(component);
  }
  lastOta(component: string): OtaStatus | undefined {
    return this.statuses.get(component);
  }
  otaComponents(): string[] {
    return [...this.statuses.keys()];
  }

  private emit<K extends keyof GatewayEventMap>(event: K, ...args: GatewayEventMap[K]): void {
    // The core's call must never fail because of an observer.
    for (const l of this.emitter.listeners(event)) {
      try {
        (l as (...a: unknown[]) => void)(...args);
      } catch (err) {
        this.emitter.emit('listener-error', err);
      }
    }
  }

  /** Where a throwing listener is reported (the gateway logs it). */
  onListenerError(cb: (err: unknown) => void): void {
    this.emitter.on('listener-error', cb);
  }
}

/**
 * The observers as a telemetry sink (gateway/telemetry/sink.ts): active only while an extension
 * listens for `sample`, so the data path builds nothing for them otherwise.
 */
export function observerSink(events: GatewayEvents): TelemetrySink {
  return {
    name: 'observers',
    get active() {
      return events.sampling;
    },
    write: (component, channel, sample, ts) => events.sample(component, channel, sample, ts),
  };
}
