import { ActorRef, type ActorRefOptions } from './actor.js';
import { Supervisor, supervisorSpec, type SupervisorOptions } from './supervisor.js';
import type { BackoffOptions, ChildHandle, ChildSpec, Clock, RestartType, StartContext, Strategy } from './types.js';

/**
 * Fluent construction of supervision trees:
 *
 *   const tree = await supervisor('root')
 *     .strategy('one-for-one').intensity(5, 60_000).backoff({ baseMs: 100, maxMs: 30_000 })
 *     .child('thermo', startThermo)
 *     .supervisor('io', (s) => s.strategy('rest-for-one').child('uart', startUart).child('parser', startParser))
 *     .start();
 *
 * Defaults: children are permanent with a 5 s shutdown; nested supervisors are permanent with an
 * infinite shutdown (OTP) and inherit backoff, random and clock from their parent unless set.
 */

export interface ChildOptions {
  restart?: RestartType;
  shutdownMs?: number;
  version?: string;
  sha256?: string;
  meta?: Record<string, unknown>;
  onLifecycle?: ChildSpec['onLifecycle'];
}

export interface BuiltSupervisor {
  readonly options: SupervisorOptions;
  /** Use as a child of another supervisor. */
  readonly spec: ChildSpec;
  /** Start as the root of a tree. */
  start(): Promise<Supervisor>;
}

type Inherited = Pick<SupervisorOptions, 'backoff' | 'random' | 'clock'>;

export class SupervisorBuilder {
  private readonly opts: SupervisorOptions;
  private readonly children: Array<ChildSpec | SupervisorBuilder> = [];

  constructor(id: string) {
    this.opts = { id };
  }

  strategy(s: Strategy): this {
    this.opts.strategy = s;
    return this;
  }

  /** More than `maxRestarts` restarts within `periodMs` → give up (escalate, or `failed`). */
  intensity(maxRestarts: number, periodMs: number): this {
    this.opts.intensity = maxRestarts;
    this.opts.periodMs = periodMs;
    return this;
  }

  backoff(b: BackoffOptions | false): this {
    this.opts.backoff = b;
    return this;
  }

  /** Instead of escalating, stay in `failed` and retry every `retryMs` (default 5 min). */
  keepFailed(retryMs?: number): this {
    this.opts.onMaxIntensity = 'fail';
    if (retryMs !== undefined) this.opts.failedRetryMs = retryMs;
    return this;
  }

  escalate(): this {
    this.opts.onMaxIntensity = 'escalate';
    return this;
  }

  /** This supervisor's own restart type/shutdown when nested. */
  as(o: { restart?: RestartType; shutdownMs?: number; version?: string }): this {
    if (o.restart) this.opts.restart = o.restart;
    if (o.shutdownMs !== undefined) this.opts.shutdownMs = o.shutdownMs;
    if (o.version !== undefined) this.opts.version = o.version;
    return this;
  }

  random(r: () => number): this {
    this.opts.random = r;
    return this;
  }

  clock(c: Clock): this {
    this.opts.clock = c;
    return this;
  }

  /** A child from a start function, or a ready-made ChildSpec. */
  child(spec: ChildSpec): this;
  child(id: string, start: (ctx: StartContext) => Promise<ChildHandle> | ChildHandle, o?: ChildOptions): this;
  child(idOrSpec: string | ChildSpec, start?: (ctx: StartContext) => Promise<ChildHandle> | ChildHandle, o: ChildOptions = {}): this {
    if (typeof idOrSpec !== 'string') {
      this.children.push(idOrSpec);
      return this;
    }
    this.children.push({
      id: idOrSpec,
      restart: o.restart ?? 'permanent',
      shutdownMs: o.shutdownMs ?? 5_000,
      start: start!,
      version: o.version,
      sha256: o.sha256,
      meta: o.meta,
      onLifecycle: o.onLifecycle,
    });
    return this;
  }

  /** A supervised actor; pass an ActorRef to keep its address (for the bus), or options to make one. */
  actor<T>(refOrOpts: ActorRef<T> | ActorRefOptions<T>): this {
    const ref = refOrOpts instanceof ActorRef ? refOrOpts : new ActorRef(refOrOpts);
    this.children.push(ref.spec());
    return this;
  }

  supervisor(id: string, configure: (s: SupervisorBuilder) => SupervisorBuilder | void): this {
    const b = new SupervisorBuilder(id);
    configure(b);
    this.children.push(b);
    return this;
  }

  build(inherited: Inherited = {}): BuiltSupervisor {
    const own: Inherited = {
      backoff: this.opts.backoff ?? inherited.backoff,
      random: this.opts.random ?? inherited.random,
      clock: this.opts.clock ?? inherited.clock,
    };
    const options: SupervisorOptions = {
      ...this.opts,
      ...own,
      children: this.children.map((c) => (c instanceof SupervisorBuilder ? c.build(own).spec : c)),
    };
    return {
      options,
      spec: supervisorSpec(options),
      start: async () => {
        const s = new Supervisor(options);
        await s.start();
        return s;
      },
    };
  }

  /** build().start() */
  start(): Promise<Supervisor> {
    return this.build().start();
  }
}

export function supervisor(id: string): SupervisorBuilder {
  return new SupervisorBuilder(id);
}
