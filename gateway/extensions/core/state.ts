import type { LifecycleEvent } from '../../../runtime/supervision/types.js';
import type { RetainedCache } from '../../mqtt/retained.js';
import { topics } from '../../mqtt/topics.js';
import type { Extension, ExtensionContext } from '../extension.js';

/** What the state payload names besides the lifecycle event: the version serving now. */
export interface ServingVersion {
  readonly version: string;
  readonly sha256: string;
}

export interface StateExtensionOptions {
  prefix: string;
  gatewayId: string;
  /** The connection's retained cache: states are `every-connect` (a broker restart loses nothing). */
  retained: RetainedCache;
  /** The running component's version now (undefined once it is gone from the gateway). */
  serving(component: string): ServingVersion | undefined;
  /** Every retained state is sent again this often (the health interval), so a late or wiped broker converges. */
  republishMs: number;
}

/**
 * Component states (contract section 4): the retained `<prefix>/gw/<id>/components/<name>/state`,
 * from the lifecycle, version and removal events the core reports.
 *
 * The payload is built when it is sent, not when the lifecycle event happened: an OTA swap or
 * rollback changes the version without a lifecycle event, and the retained state (and its
 * republication on every tick) must name the version serving now.
 *
 * Started before the components (it must see their first `starting`); stopped after them, so each
 * component's `stopped` state (with its real restart count) is the last retained state.
 */
export class StateExtension implements Extension {
  readonly name = 'state';
  private readonly last = new Map<string, { event: LifecycleEvent; serving: ServingVersion }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: StateExtensionOptions) {}

  async start(ctx: ExtensionContext): Promise<void> {
    ctx.events.on('lifecycle', (name, event) => {
      const serving = this.opts.serving(name) ?? this.last.get(name)?.serving;
      if (!serving) return;
      this.last.set(name, { event, serving });
      void this.send(name);
    });
    ctx.events.on('version', (name) => {
      const last = this.last.get(name);
      if (!last) return;
      // The same lifecycle state, the new version, now.
      last.event = { ...last.event, ts: Date.now() };
      void this.send(name);
    });
    ctx.events.on('removed', (name) => {
      const last = this.last.get(name);
      if (!last) return;
      // Taken out entirely (an OTA install whose init failed, or its rollback): `stopped`, and not kept.
      last.event = { ...last.event, state: 'stopped', ts: Date.now() };
      void this.send(name);
      this.last.delete(name);
      this.opts.retained.forget(this.topic(name));
    });
    this.timer = setInterval(() => void this.sendAll(), this.opts.republishMs);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.sendAll();
  }

  private sendAll(): Promise<void> {
    return Promise.all([...this.last.keys()].map((name) => this.send(name))).then(() => {});
  }

  private send(name: string): Promise<void> {
    const last = this.last.get(name);
    if (!last) return Promise.resolve();
    const serving = this.opts.serving(name) ?? last.serving;
    last.serving = serving;
    const e = last.event;
    const payload = JSON.stringify({
      state: e.state,
      version: serving.version,
      sha256: serving.sha256,
      restarts: e.restarts,
      ts: e.ts,
      ...(e.reason ? { reason: e.reason } : {}),
      ...(e.nextRetryAt ? { nextRetryAt: e.nextRetryAt } : {}),
    });
    // Retained: a late subscriber (airssys status) sees the last state.
    return this.opts.retained.publish(this.topic(name), payload, { qos: 1, mode: 'every-connect' });
  }

  private topic(name: string): string {
    return topics.componentState(this.opts.prefix, this.opts.gatewayId, name);
  }
}
