import { ComponentHost, type ComponentVersion, type DeliveryObserver } from '../runtime/component/component-host.js';
import type { ComponentEvent } from '../runtime/component/events.js';
import { observeRefusals } from '../runtime/component/observed-host.js';
import type { PreparedComponent } from '../runtime/engine.js';
import type { HostErrorTag } from '../runtime/errors.js';
import type { HostApi } from '../runtime/host-api.js';
import type { Manifest } from '../runtime/manifest.js';
import type { Board } from './board.js';
import { acquireDevices, releaseDevices, type DeviceLease } from './device-lease.js';
import type { Audit } from './pipeline/audit.js';
import { createHostApi, type HostSinks } from './pipeline/host-calls.js';
import type { Metrics } from './pipeline/metrics.js';
import type { RateLimiter, RateLimits } from './pipeline/rate-limit.js';
import { compileGrant, type Grant } from './policy/grant.js';
import type { BucketStore } from './storage/store.js';

/**
 * How one component is wired to a board: its manifest's grant, the devices that grant names, the
 * host-call pipeline, and the ComponentHost that calls its exports. The gateway
 * (gateway/component/component-service.ts), `airssys run` and the SDK's test harness
 * (sdk/testing.ts) all wire a component here, so what a component meets cannot differ between
 * them; they differ only in the options (the board, the sinks, the clock, who hears of refusals).
 */
export interface WiringOptions {
  board: Board;
  sinks: HostSinks;
  audit?: Audit;
  metrics?: Metrics;
  /** Limits (a fresh set of buckets per version) or one limiter (the SDK's, on its virtual clock). */
  rateLimits?: RateLimits | RateLimiter;
  /** Where storage buckets live; default: a bucket in memory. */
  storage?: BucketStore;
  /** The clock host calls see as now-ms; default Date.now. */
  now?: () => number;
  /** Every refused host call (denied, invalid, io, limited), before the guest sees it. */
  onRefusal?: (tag: HostErrorTag, message: string, op: string) => void;
  /** Where device events go (`from` is `serial:<port>` or `gpio:<pin>`): a mailbox, or a queue stepped by virtual time. */
  deliver: (event: ComponentEvent, from: string) => void;
  /** A device callback threw; the device keeps running. Default: ignored. */
  onDeviceError?: (err: unknown) => void;
}

/**
 * One version of a component, linked: its compiled grant, and the manifest, prepared artifact and
 * host API the ComponentHost runs it with. `devices` is the lease its serial writes look in first
 * (without one they use the board's open link for the port). Pass a function when the lease can be
 * replaced while this version serves (a swap re-acquires devices after linking): it is read at
 * every call, so writes never go to a released lease's closed port.
 */
export function linkVersion(manifest: Manifest, prepared: PreparedComponent, opts: WiringOptions, devices?: DeviceLease | (() => DeviceLease | undefined), grant = compileGrant(manifest)): { grant: Grant; version: ComponentVersion } {
  // board, sinks, audit, metrics, rateLimits, storage and now carry createHostApi's names; the rest it ignores.
  const api = createHostApi({ ...opts, component: { name: manifest.name, version: manifest.version }, grant, devices });
  return { grant, version: { manifest, prepared, api: opts.onRefusal ? observeRefusals(api, opts.onRefusal) : api } };
}

/** Claims the devices `grant` names for `manifest`'s component; their frames and edges become events for `opts.deliver`. */
export function acquireFor(manifest: Manifest, grant: Grant, opts: WiringOptions): Promise<DeviceLease> {
  return acquireDevices({
    component: { name: manifest.name, version: manifest.version },
    grant,
    board: opts.board,
    audit: opts.audit,
    callbacks: {
      onSerial: (port, data) => opts.deliver({ kind: 'serial', port, data }, `serial:${port}`),
      onGpio: (pin, value, atMs) => opts.deliver({ kind: 'gpio', pin, value, atMs }, `gpio:${pin}`),
      ...(opts.onDeviceError ? { onError: opts.onDeviceError } : {}),
    },
  });
}

export interface WiredComponent {
  readonly grant: Grant;
  readonly lease: DeviceLease;
  readonly host: ComponentHost;
  /** The host API the component is linked with (refusals observed when `onRefusal` was given). */
  readonly api: HostApi;
  /** Releases the devices (idempotent). */
  release(): Promise<void>;
}

/** One component, wired and not started: devices claimed, host calls linked, its host ready for `start()`. */
export async function wireComponent(manifest: Manifest, prepared: PreparedComponent, opts: WiringOptions & { onOutcome?: DeliveryObserver }): Promise<WiredComponent> {
  const grant = compileGrant(manifest);
  const lease = await acquireFor(manifest, grant, opts);
  const { version } = linkVersion(manifest, prepared, opts, lease, grant);
  return { grant, lease, host: new ComponentHost(version, opts.onOutcome), api: version.api, release: () => releaseDevices(lease) };
}
