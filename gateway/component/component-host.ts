import type { PreparedComponent } from '../../runtime/engine.js';
import type { FailureKind } from '../../runtime/errors.js';
import type { HostApi } from '../../runtime/host-api.js';
import type { CallOutcome, ComponentInstance } from '../../runtime/instance.js';
import type { Manifest } from '../../runtime/manifest.js';
import type { WorldExport } from '../../runtime/world.js';
import { exportFor, type ComponentEvent } from './events.js';

/**
 * One configured component as the gateway runs it: the live instance of its current version, the
 * HostApi it was linked with, and its counters. It delivers events one at a time (the actor around
 * it guarantees that), turns a crash into a discarded instance, and swaps versions between two
 * events: `replace` runs the new version's `init` while the old instance is still the one serving,
 * and switches only if init succeeded, so no event is lost or delivered twice across an update.
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

export type DeliveryObserver = (event: WorldExport, outcome: CallOutcome) => void;

export class ComponentHost {
  private current: ComponentVersion;
  private instance: ComponentInstance | undefined;
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
    return this.instance !== undefined && !this.instance.isCrashed;
  }
  memoryBytes(): number {
    return this.instance?.memoryBytes() ?? 0;
  }

  /** A fresh instance of the current version, then `init`. A failed init leaves no instance. */
  start(): CallOutcome {
    this.instance = undefined;
    const { outcome, instance } = this.boot(this.current);
    if (outcome.ok) this.instance = instance;
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
      this.current = next;
      this.instance = instance;
    }
    return outcome;
  }

  stop(): void {
    this.instance = undefined;
  }

  private boot(version: ComponentVersion): { outcome: CallOutcome; instance: ComponentInstance | undefined } {
    let instance: ComponentInstance;
    try {
      instance = version.prepared.instantiate(version.api, { fuel: version.manifest.limits.fuel });
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
    if (outcome.durationMs > version.manifest.limits.deadlineMs) this.stats.deadlineOverruns++;
    this.record(name, outcome);
    if (!outcome.ok && outcome.kind !== 'returned-err' && instance === this.instance) this.instance = undefined;
    return outcome;
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
