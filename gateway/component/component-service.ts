import type { BucketStore } from '../../drivers/storage/store.js';
import { releaseDevices, type DeviceLease } from '../../drivers/device-lease.js';
import type { HostSinks } from '../../drivers/pipeline/host-calls.js';
import type { Board } from '../../drivers/board.js';
import { acquireFor, linkVersion, type WiringOptions } from '../../drivers/component-wiring.js';
import type { Audit } from '../../drivers/pipeline/audit.js';
import type { Grant } from '../../drivers/policy/grant.js';
import type { Metrics } from '../../drivers/pipeline/metrics.js';
import type { RateLimits } from '../../drivers/pipeline/rate-limit.js';
import type { PreparedComponent } from '../../runtime/engine.js';
import type { CallOutcome } from '../../runtime/instance.js';
import type { Manifest } from '../../runtime/manifest.js';
import { ActorCrash, ActorError, ActorRef, type Behavior, type SendResult } from '../../runtime/supervision/index.js';
import { supervisor } from '../../runtime/supervision/builder.js';
import type { Supervisor } from '../../runtime/supervision/supervisor.js';
import type { LifecycleEvent } from '../../runtime/supervision/types.js';
import type { WorldExport } from '../../runtime/world.js';
import { ComponentHost } from '../../runtime/component/component-host.js';
import type { ComponentEvent } from '../../runtime/component/events.js';
import type { Bus } from '../../runtime/bus/bus.js';

/**
 * One configured component, running: its actor (stable mailbox, one event at a time) under its
 * own supervisor (the manifest's restart policy and intensity), the devices it holds (ports,
 * watches, output pins), and its tick timer. Events flow driver → pipeline → mailbox → instance.
 *
 * Each component is the root of its own small tree, so one component exhausting its restart
 * intensity goes `failed` (retried slowly, or on command) without touching its neighbours.
 */
export interface ComponentServiceOptions {
  manifest: Manifest;
  prepared: PreparedComponent;
  board: Board;
  sinks: HostSinks;
  audit?: Audit;
  metrics?: Metrics;
  rateLimits?: RateLimits;
  /** The internal bus: the component receives what its `messaging.receive` grant covers. */
  bus?: Bus<Uint8Array>;
  /** Lifecycle changes, for the retained state topic. */
  onLifecycle?: (event: LifecycleEvent, service: ComponentService) => void;
  /** Every delivered event's outcome (OTA probation watches these). */
  onOutcome?: (event: WorldExport, outcome: CallOutcome) => void;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Restart backoff (tests shorten it). */
  backoff?: { baseMs: number; maxMs: number } | false;
  failedRetryMs?: number;
  /** Where storage buckets live (the gateway's FileStore); default: in memory. */
  storage?: BucketStore;
}

export class ComponentService {
  readonly name: string;
  readonly ref: ActorRef<ComponentEvent>;
  readonly host: ComponentHost;
  private tree: Supervisor | undefined;
  private lease: DeviceLease | undefined;
  private grant: Grant;
  private ticker: NodeJS.Timeout | undefined;
  private readonly outcomeListeners = new Set<(event: WorldExport, outcome: CallOutcome) => void>();
  /** How every version of this component is wired (drivers/component-wiring.ts, as `airssys run` and the SDK do). */
  private readonly wiring: WiringOptions;

  /** The options minus the first version: the host holds that, and only while it serves. */
  private readonly opts: Omit<ComponentServiceOptions, 'manifest' | 'prepared'>;

  constructor(options: ComponentServiceOptions) {
    // Kept here, the first version's compiled modules and glue would stay reachable for the life
    // of the service, through every OTA swap after it (test/component/swap-retention.test.ts).
    const { manifest, prepared, ...opts } = options;
    this.opts = opts;
    this.name = manifest.name;
    this.wiring = {
      board: opts.board,
      sinks: opts.sinks,
      audit: opts.audit,
      metrics: opts.metrics,
      rateLimits: opts.rateLimits,
      storage: opts.storage,
      deliver: (event, from) => this.ref.send('event', from, event),
      onDeviceError: (err) => opts.log?.('warn', `component ${this.name}: device callback failed: ${(err as Error).message}`),
    };
    const first = linkVersion(manifest, prepared, this.wiring, this.currentLease);
    this.grant = first.grant;
    this.host = new ComponentHost(first.version, (event, outcome) => {
      opts.onOutcome?.(event, outcome);
      for (const l of this.outcomeListeners) l(event, outcome);
    });
    this.ref = new ActorRef<ComponentEvent>({
      id: this.name,
      capacity: manifest.limits.mailbox,
      restart: manifest.restart.policy,
      version: manifest.version,
      sha256: prepared.info.sha256,
      // A new incarnation: a fresh instance and its init. A failed init is a crash: the
      // supervisor restarts it with backoff, as it would a crash in any event.
      factory: () => {
        const started = (init: CallOutcome): Behavior<ComponentEvent> => {
          if (!init.ok) throw new ActorCrash(init.kind === 'returned-err' ? 'init-failed' : init.kind, `init: ${init.message}`);
          const done = (outcome: CallOutcome): void => {
            if (outcome.ok) return;
            if (outcome.kind === 'returned-err') throw new ActorError(outcome.message);
            throw new ActorCrash(outcome.kind, outcome.message);
          };
          return {
            // Only a worker-isolated component costs a promise per event; inline stays a plain call.
            // Asked per event: a swap may change the isolation of the version serving.
            handle: (msg) => (this.host.isolated ? this.host.deliverAsync(msg.payload).then(done) : done(this.host.deliver(msg.payload))),
            close: () => this.host.stop(),
          };
        };
        return this.host.isolated ? this.host.startAsync().then(started) : started(this.host.start());
      },
      onError: (err) => opts.log?.('warn', `component ${this.name}: ${err.message}`),
    });
  }

  get manifest(): Manifest {
    return this.host.manifest;
  }

  /** Claims devices, starts the supervised actor (init runs here) and the tick timer. */
  async start(): Promise<void> {
    await this.acquire(this.grant);
    this.subscribeBus();
    const m = this.host.manifest;
    // Listen through the child spec, not the tree: the first `starting`/`running` happen inside start().
    const spec = this.ref.spec();
    const refLifecycle = spec.onLifecycle;
    spec.onLifecycle = (e) => {
      refLifecycle?.(e);
      this.opts.onLifecycle?.(e, this);
    };
    const b = supervisor(`component:${this.name}`)
      .strategy('one-for-one')
      .intensity(m.restart.intensity, m.restart.periodMs)
      .keepFailed(this.opts.failedRetryMs)
      .child(spec);
    if (this.opts.backoff !== undefined) b.backoff(this.opts.backoff);
    this.tree = await b.start();
    this.startTicker();
  }

  private startTicker(): void {
    if (this.ticker) clearInterval(this.ticker);
    const tickMs = this.host.manifest.tickMs;
    if (!tickMs) return;
    this.ticker = setInterval(() => {
      this.ref.send('tick', 'timer', { kind: 'tick', nowMs: Date.now() });
    }, tickMs);
    this.ticker.unref?.();
  }

  /** The lease held now, read by every version's serial writes at each call (never a captured one). */
  private readonly currentLease = (): DeviceLease | undefined => this.lease;

  private async acquire(grant: Grant): Promise<void> {
    this.lease = await acquireFor(this.host.manifest, grant, this.wiring);
  }

  /** A message for on-message (from the bus or a broker command). Commands are never dropped silently. */
  deliverMessage(from: string, topic: string, payload: Uint8Array): SendResult {
    return this.ref.send('command', from, { kind: 'message', topic, payload });
  }

  /** Whether this component's grant receives `topic`. */
  receives(topic: string): boolean {
    return this.grant.receive.allows(topic);
  }

  private busSubs: Array<() => void> = [];

  /** (Re)subscribes to the bus with the current version's receive filters; its own sends excluded. */
  private subscribeBus(): void {
    for (const u of this.busSubs.splice(0)) u();
    const bus = this.opts.bus;
    if (!bus) return;
    for (const filter of this.host.manifest.capabilities.messaging.receive) {
      this.busSubs.push(bus.subscribe(this.name, filter, (from, topic, payload) => (from === this.name ? undefined : this.deliverMessage(from, topic, payload))));
    }
  }

  onOutcome(listener: (event: WorldExport, outcome: CallOutcome) => void): () => void {
    this.outcomeListeners.add(listener);
    return () => this.outcomeListeners.delete(listener);
  }

  /**
   * Swaps in a new version between two events: its init runs while the old instance still serves,
   * and the switch happens only if init succeeds. Events queued in the mailbox stay queued, so none
   * is lost or delivered twice. Devices are re-acquired when the grant changed.
   */
  async swap(manifest: Manifest, prepared: PreparedComponent, opts: { force?: boolean } = {}): Promise<CallOutcome> {
    const before = this.host.manifest;
    // Serial writes look in the lease held at the time of the write (below, a changed grant
    // replaces it after linking), then in the board's open links.
    const { grant, version: next } = linkVersion(manifest, prepared, this.wiring, this.currentLease);
    // Storage (contract 7.1): the bucket as it stands is kept aside at a swap (durably: a restart in
    // probation reverts the version and must revert the bucket too, see FileStore.settleAside); a
    // rollback (`force`) puts it back before the previous version's init runs; a failed init leaves
    // it as it was. Throws (the swap does not happen) when the copy cannot be kept.
    const store = before.capabilities.storage || manifest.capabilities.storage ? this.opts.storage : undefined;
    if (store && opts.force) store.restoreAside(this.name);
    else if (store) store.setAside(this.name, manifest.version);
    const outcome = await this.host.replaceAsync(next);
    if (!outcome.ok && !opts.force) store?.restoreAside(this.name);
    if (!outcome.ok) {
      if (!opts.force) return outcome;
      // Rollback whose init failed too: keep `next` as the version supervision restarts.
      this.host.adopt(next);
      // Any event now finds no instance, crashes the actor, and the supervisor restarts `next`;
      // send one so that happens even for a component without ticks or traffic. (A supervisor
      // restartChild would first stop the child, which closes its mailbox and drops what waits.)
      this.ref.send('tick', 'rollback', { kind: 'tick', nowMs: Date.now() });
    }
    this.grant = grant;
    if (this.lease && !sameDeviceGrant(before, manifest)) {
      const old = this.lease;
      this.lease = undefined;
      await releaseDevices(old);
      try {
        await this.acquire(grant);
      } catch (err) {
        // The new version serves without its devices: report it as a failed swap so OTA rolls back.
        return { ok: false, kind: 'trap', message: `devices for ${manifest.version}: ${(err as Error).message}`, fuelUsed: 0, durationMs: 0 };
      }
    }
    if (JSON.stringify(before.capabilities.messaging.receive) !== JSON.stringify(manifest.capabilities.messaging.receive)) this.subscribeBus();
    if (before.tickMs !== manifest.tickMs) this.startTicker();
    return outcome;
  }

  /** The version swapped in last was committed: its storage set-aside copy is no longer needed. */
  committed(): void {
    this.opts.storage?.dropAside(this.name);
  }

  /** Resolves when this component's supervisor has worked through its queue (service watchdog). */
  ping(): Promise<void> {
    return this.tree?.ping() ?? Promise.resolve();
  }

  /** Operator retry of a failed component. */
  async retry(): Promise<void> {
    await this.tree?.retry();
  }

  get state(): string {
    return this.tree?.failed ? 'failed' : this.ref.running ? 'running' : 'restarting';
  }

  async stop(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    for (const u of this.busSubs.splice(0)) u();
    await this.tree?.stop();
    if (this.lease) await releaseDevices(this.lease);
  }
}

function sameDeviceGrant(a: Manifest, b: Manifest): boolean {
  const pick = (m: Manifest) => JSON.stringify({ gpio: m.capabilities.gpio, serial: m.capabilities.serial.map((s) => [s.port, s.baud, s.framingText]) });
  return pick(a) === pick(b);
}
