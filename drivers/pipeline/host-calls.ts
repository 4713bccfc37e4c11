import type { HostApi } from '../../runtime/host-api.js';
import type { Board } from '../board.js';
import { createContext, DRIVERS, type ComponentId, type DeviceLease, type HostSinks } from '../interfaces/index.js';
import type { Audit } from './audit.js';
import type { Grant } from '../policy/grant.js';
import { ComponentMetrics, Metrics } from './metrics.js';
import { RateLimiter, type RateLimits } from './rate-limit.js';
import type { BucketStore } from '../storage/store.js';

/**
 * The host functions of one component, as a pipeline: validate arguments → check the grant →
 * take a rate-limit token → count → run the driver. Every refusal is a HostCallError the guest
 * sees as `err(host-error)`; denials are also written to the audit log. The allowed path touches
 * only byte maps, a token counter and a metrics field, never the audit log.
 *
 * Each interface's functions live in drivers/interfaces/<name>.ts; this file merges them. The devices
 * a component holds are leased in drivers/device-lease.ts.
 */

export { MAX_JSON_BYTES } from '../interfaces/telemetry.js';
export { MAX_MESSAGE_BYTES } from '../interfaces/messaging.js';
export { MAX_LOG_CHARS } from '../interfaces/host.js';
export type { ComponentId, DeviceLease, HostSinks, TelemetrySample } from '../interfaces/index.js';

export interface HostServicesOptions {
  component: ComponentId;
  grant: Grant;
  board: Board;
  /** Limits (a fresh set of buckets is made for this component) or a shared limiter. */
  rateLimits?: RateLimits | RateLimiter;
  audit?: Audit;
  /** The gateway's Metrics (this component's entry is used) or one component's counters. */
  metrics?: Metrics | ComponentMetrics;
  sinks: HostSinks;
  /** Values `host.config` returns; default the grant's (manifest `capabilities.config`). */
  config?: Record<string, string> | ReadonlyMap<string, string>;
  /**
   * This component's open devices (from acquireDevices); serial writes look here first. A function
   * is asked at every call, so a holder whose lease is replaced (a swap re-acquiring devices) is
   * followed; a lease given as a value is fixed for this API's life.
   */
  devices?: DeviceLease | (() => DeviceLease | undefined);
  /** Wall clock for now-ms; default Date.now. */
  now?: () => number;
  /** Where storage buckets live (the gateway's FileStore); default: a bucket in memory. */
  storage?: BucketStore;
}

export function createHostApi(opts: HostServicesOptions): HostApi {
  const lease = opts.devices;
  const ctx = createContext({
    component: opts.component,
    grant: opts.grant,
    board: opts.board,
    audit: opts.audit,
    sinks: opts.sinks,
    metrics: opts.metrics instanceof ComponentMetrics ? opts.metrics : (opts.metrics ?? new Metrics()).for(opts.component.name),
    limiter: opts.rateLimits instanceof RateLimiter ? opts.rateLimits : new RateLimiter(opts.rateLimits),
    config: opts.config === undefined ? opts.grant.config : opts.config instanceof Map ? opts.config : new Map(Object.entries(opts.config as Record<string, string>)),
    devices: typeof lease === 'function' ? lease : () => lease,
    now: opts.now ?? Date.now,
    storage: opts.storage,
  });
  const api: Partial<HostApi> = {};
  for (const d of DRIVERS) Object.assign(api, d.implement(ctx));
  return api as HostApi;
}
