import type { PreparedComponent } from '../engine.js';
import type { FailureKind } from '../errors.js';
import type { HostApi } from '../host-api.js';
import type { CallOutcome, ComponentInstance } from '../instance.js';
import type { Manifest } from '../manifest.js';
import type { WorldExport } from '../world.js';
import { WorkerInstance } from '../worker/index.js';
import { exportFor, type ComponentEvent } from './events.js';

/**
 * One configured component as the gateway runs it: the live instance of its current version, the
 * HostApi it was linked with, and its counters. It delivers events one at a time (the actor around
 * it guarantees that), turns a crash into a discarded instance, and swaps versions between two
 * events: `replace` runs the new version's `init` while the old instance is still the one serving,
 * and switches only if init succeeded, so no event is lost or delivered twice across an update.
 *
 * Two kinds of instance, chosen by the manifest's `isolation`:
 * - inline (default): `start`/`deliver`/`replace` call the instance synchronously, no promise per
 *   event. `limits.deadline-ms` stops an event at the first fuel slice past it (outcome `deadline`,
 *   a crash), so runaway code is stopped by fuel or by the deadline, whichever comes first.
 * - worker: `startAsync`/`deliverAsync`/`replaceAsync` run the instance in a worker thread
 *   (runtime/worker) that is terminated when an event passes `limits.deadline-ms`.
 * The async methods honour the manifest (an inline component completes at once); the sync ones
 * always run inline, whatever the manifest says (`airssys run` steps virtual time that way).
 */
export interface ComponentStats {
  events: number;
  errors: number;
  crashes: number;
  lastFuel: number;
  totalFuel: number;
  deadlineOverruns: number;
  lastFailure: { kind: FailureKind; event: WorldExport; message: string; at: number } | undefined;
}

export interface ComponentVersion {
  manifest: Manifest;
  prepared: PreparedComponent;
  api: HostApi;
}

type Live = ComponentInstance | WorkerInstance;

export type DeliveryObserver = (event: WorldExport, outcome: CallOutcome) => void;

export class ComponentHost {
  private current: ComponentVersion;
  private instance: ComponentInstance | undefined;
  private worker: WorkerInstance | undefined;
  /** The export being called right now: lets host-call observers attribute errors to an event. */
  currentEvent: WorldExport | undefined;
  readonly stats: ComponentStats = { events: 0, errors: 0, crashes: 0, lastFuel: 0, totalFuel: 0, deadlineOverruns: 0, lastFailure: undefined };

  constructor(version: ComponentVersion, private readonly observe?: DeliveryObserver) {
    this.current = version;
  }

  get manifest(): Manifest {
    return this.current.manifest;
  }
  get version(): string {
    return this.current.manifest.version;
  }
  get sha256(): string {
    return this.current.prepared.info.sha256;
  }
  /** The prepared artifact of the version serving now (kept so OTA can roll back to it). */
  get currentPrepared(): PreparedComponent {
    return this.current.prepared;
  }
  get running(): boolean {
    return (this.instance !== undefined && !this.instance.isCrashed) || (this.worker !== undefined && !this.worker.isCrashed);
  }
  /** Whether the version serving now runs in a worker (its events go through deliverAsync). */
  get isolated(): boolean {
    return this.current.manifest.isolation === 'worker';
  }
  memoryBytes(): number {
    return this.instance?.memoryBytes() ?? this.worker?.memoryBytes() ?? 0;
  }

  /** A fresh inline instance of the current version, then `init`. A failed init leaves no instance. */
  start(): CallOutcome {
    this.stop();
    const { outcome, instance } = this.boot(this.current);
    if (outcome.ok) this.instance = instance;
    return outcome;
  }

  /** `start`, in a worker when the manifest says `isolation: worker`. */
  async startAsync(): Promise<CallOutcome> {
    if (!this.isolated) return this.start();
    await this.stop();
    const { outcome, worker } = await this.bootWorker(this.current);
    if (outcome.ok) this.worker = worker;
    return outcome;
  }

  /** Delivers to whichever instance is live; inline components complete without waiting. */
  deliverAsync(ev: ComponentEvent): Promise<CallOutcome> {
    const worker = this.worker;
    if (!worker) return Promise.resolve(this.deliver(ev));
    const { name, args } = exportFor(ev);
    return this.callWorker(worker, this.current, name, args);
  }

  /** `replace`, booting `next` in a worker when its manifest says so (either direction works). */
  async replaceAsync(next: ComponentVersion): Promise<CallOutcome> {
    if (next.manifest.isolation !== 'worker') return this.replace(next);
    const { outcome, worker } = await this.bootWorker(next);
    if (outcome.ok) {
      const old = this.retire();
      this.current = next;
      this.worker = worker;
      await old;
    }
    return outcome;
  }

  deliver(ev: ComponentEvent): CallOutcome {
    if (!this.instance) return { ok: false, kind: 'trap', message: 'component is not running', fuelUsed: 0, durationMs: 0 };
    const { name, args } = exportFor(ev);
    return this.call(this.instance, this.current, name, args);
  }

  /**
   * Starts `next` beside the running instance and switches to it when its `init` succeeds.
   * Returns init's outcome; on failure nothing changed and the old version keeps serving.
   */
  replace(next: ComponentVersion): CallOutcome {
    const { outcome, instance } = this.boot(next);
    if (outcome.ok) {
      void this.retire();
      this.current = next;
      this.instance = instance;
    }
    return outcome;
  }

  /**
   * Makes `next` the current version without a live instance (its init failed or was not run):
   * the next event finds the component not running, the actor crashes, and the supervisor starts
   * `next` afresh with backoff. Used when a rollback's own init fails: the previous version, not the
   * one being rolled back, is what supervision must keep trying.
   */
  adopt(next: ComponentVersion): void {
    void this.stop();
    this.current = next;
  }

  /** Drops the instance; a worker is terminated (the promise says when its thread is gone). */
  stop(): Promise<void> | undefined {
    this.instance = undefined;
    const worker = this.worker;
    this.worker = undefined;
    return worker?.terminate();
  }

  /** Takes the live instance out of service; a worker finishes the event in hand, then ends. */
  private retire(): Promise<void> | undefined {
    this.instance = undefined;
    const worker = this.worker;
    this.worker = undefined;
    return worker?.retire();
  }

  private async bootWorker(version: ComponentVersion): Promise<{ outcome: CallOutcome; worker: WorkerInstance | undefined }> {
    const { limits } = version.manifest;
    let worker: WorkerInstance;
    try {
      worker = await WorkerInstance.start(version.prepared.workerSource(), version.api, { fuel: limits.fuel, deadlineMs: limits.deadlineMs });
    } catch (err) {
      const outcome: CallOutcome = { ok: false, kind: 'trap', message: (err as Error).message, fuelUsed: 0, durationMs: 0 };
      this.record('init', outcome);
      return { outcome, worker: undefined };
    }
    const outcome = await this.callWorker(worker, version, 'init', []);
    if (!outcome.ok) await worker.terminate();
    return { outcome, worker: outcome.ok ? worker : undefined };
  }

  private async callWorker(worker: WorkerInstance, version: ComponentVersion, name: WorldExport, args: unknown[]): Promise<CallOutcome> {
    this.currentEvent = name;
    const outcome = await worker.callAsync(name, args);
    this.currentEvent = undefined;
    this.finish(worker, version, name, outcome);
    return outcome;
  }

  private boot(version: ComponentVersion): { outcome: CallOutcome; instance: ComponentInstance | undefined } {
    let instance: ComponentInstance;
    try {
      instance = version.prepared.instantiate(version.api, { fuel: version.manifest.limits.fuel, deadlineMs: version.manifest.limits.deadlineMs });
    } catch (err) {
      const outcome: CallOutcome = { ok: false, kind: 'trap', message: (err as Error).message, fuelUsed: 0, durationMs: 0 };
      this.record('init', outcome);
      return { outcome, instance: undefined };
    }
    const outcome = this.call(instance, version, 'init', []);
    return { outcome, instance: outcome.ok ? instance : undefined };
  }

  private call(instance: ComponentInstance, version: ComponentVersion, name: WorldExport, args: unknown[]): CallOutcome {
    this.currentEvent = name;
    const outcome = instance.call(name, args);
    this.currentEvent = undefined;
    this.finish(instance, version, name, outcome);
    return outcome;
  }

  private finish(live: Live, version: ComponentVersion, name: WorldExport, outcome: CallOutcome): void {
    if (outcome.durationMs > version.manifest.limits.deadlineMs) this.stats.deadlineOverruns++;
    this.record(name, outcome);
    if (!outcome.ok && outcome.kind !== 'returned-err') {
      // A crashed instance is discarded (a crashed worker has already ended its thread).
      if (live === this.instance) this.instance = undefined;
      if (live === this.worker) this.worker = undefined;
    }
  }

  private record(name: WorldExport, outcome: CallOutcome): void {
    this.stats.events++;
    this.stats.lastFuel = outcome.fuelUsed;
    this.stats.totalFuel += outcome.fuelUsed;
    if (!outcome.ok) {
      if (outcome.kind === 'returned-err') this.stats.errors++;
      else this.stats.crashes++;
      this.stats.lastFailure = { kind: outcome.kind, event: name, message: outcome.message, at: Date.now() };
    }
    this.observe?.(name, outcome);
  }
}
