import { Mailbox, type Message, type MessageClass, type SendResult, type DropCounters } from './mailbox.js';
import type { ChildHandle, ChildSpec, ExitReason, LifecycleEvent, RestartType } from './types.js';
import type { FailureKind } from '../errors.js';

/**
 * An actor: one mailbox, one handler, one message at a time, no shared state.
 *
 * The handler returns normally (message done), throws `ActorError` (a handled failure: counted,
 * the actor goes on — an export returning `err(..)`), or throws anything else, `ActorCrash` in
 * particular (a crash: the actor stops and its supervisor decides). Unknown exceptions are crashes
 * too: "let it crash" is safer than carrying on in an unknown state.
 *
 * Latency: a synchronous handler is called in a plain loop, no promise per message. A drain is
 * scheduled with queueMicrotask on the first push; after `batch` messages, or after many microtask
 * turns in a row (two actors ping-ponging), it yields with setImmediate so timers and I/O — and the
 * neighbouring actors — keep their schedule.
 */

/** An instance's failure kinds (runtime/errors.ts) other than a handled error, a thrown exception, or any other name. */
export type CrashKind = Exclude<FailureKind, 'returned-err'> | 'exception' | (string & {});

/** Thrown by a handler to crash the actor with a kind the supervisor and the state topic report. */
export class ActorCrash extends Error {
  readonly kind: CrashKind;
  constructor(kind: CrashKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = 'ActorCrash';
  }
}

/** Thrown by a handler for a handled failure (counted in `errors`; the actor keeps running). */
export class ActorError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ActorError';
  }
}

export type Handler<T> = (msg: Message<T>) => void | PromiseLike<void>;

/** A handler with cleanup (a Wasm instance to drop, a port to close). */
export interface Behavior<T> {
  handle: Handler<T>;
  close?: () => void | Promise<void>;
}

export interface ActorContext {
  readonly id: string;
  /** Record the fuel the last event used (Wasm handlers); shown as `lastFuel`. */
  reportFuel(units: number): void;
  /** End this actor normally (a transient child is then not restarted). */
  exit(): void;
}

/**
 * Makes the handler for one incarnation; called again on every restart so a restart starts from a
 * clean state. THIS IS THE HOOK for Wasm-backed actors: instantiate the component here and return a
 * handler that calls its exports (see bench/actors.bench.ts `handlerFactories`).
 */
export type HandlerFactory<T> = (ctx: ActorContext) => Handler<T> | Behavior<T> | Promise<Handler<T> | Behavior<T>>;

export interface ActorStats {
  /** Messages delivered to the handler. */
  events: number;
  /** Handled failures (`ActorError`). */
  errors: number;
  crashes: number;
  /** Mailbox overflow drops, by class (shared with the mailbox). */
  dropped: DropCounters;
  /** Commands refused (mailbox full, or the actor failed/stopped). */
  rejected: number;
  lastFuel: number;
  lastError?: string;
  lastCrash?: { kind: string; message: string };
}

export function newStats(mailbox?: Mailbox<unknown>): ActorStats {
  return { events: 0, errors: 0, crashes: 0, dropped: mailbox ? mailbox.dropped : { tick: 0, event: 0 }, rejected: 0, lastFuel: 0 };
}

export interface ActorOptions<T> {
  id: string;
  /** A capacity (new mailbox) or an existing mailbox (kept across restarts by `ActorRef`). */
  mailbox: Mailbox<T> | number;
  handler: Handler<T> | Behavior<T>;
  stats?: ActorStats;
  /** Messages per turn before yielding to the event loop. Default 256. */
  batch?: number;
  /** Told about handled failures (for logs). */
  onError?: (error: ActorError, msg: Message<T>) => void;
}

type ActorState = 'running' | 'stopping' | 'exited';

const MAX_MICRO_TURNS = 64;

export class Actor<T = unknown> implements ChildHandle {
  readonly id: string;
  readonly mailbox: Mailbox<T>;
  readonly stats: ActorStats;
  private readonly handle: Handler<T>;
  private readonly close: (() => void | Promise<void>) | undefined;
  private readonly batch: number;
  private readonly onError: ActorOptions<T>['onError'];
  private state: ActorState = 'running';
  private scheduled = false;
  private busy = false;
  private microTurns = 0;
  private exitReason: ExitReason | null = null;
  // Created on first use: most actors never get a second exit listener or a pending stop.
  private exitCbs: Array<(r: ExitReason) => void> | null = null;
  private stopWaiters: Array<() => void> | null = null;
  /**
   * One bound function serves both schedulers (setImmediate passes `true` to reset the micro-turn
   * count). Made on the first schedule, not in the constructor: tsx/esbuild wrap every per-instance
   * arrow in a keepNames helper (a defineProperty per spawn), which alone doubled spawn time.
   */
  private drainFn: ((macro?: boolean) => void) | null = null;

  constructor(opts: ActorOptions<T>) {
    this.id = opts.id;
    this.mailbox = typeof opts.mailbox === 'number' ? new Mailbox<T>(opts.mailbox) : opts.mailbox;
    this.stats = opts.stats ?? newStats(this.mailbox as Mailbox<unknown>);
    if (typeof opts.handler === 'function') {
      this.handle = opts.handler;
      this.close = undefined;
    } else {
      this.handle = opts.handler.handle;
      this.close = opts.handler.close;
    }
    this.batch = opts.batch ?? 256;
    this.onError = opts.onError;
    this.mailbox.owner = this;
    if (this.mailbox.size > 0) this.schedule();
  }

  get alive(): boolean {
    return this.state !== 'exited';
  }

  /** Enqueue a message (see mailbox.ts for the overflow policy per class). */
  send(cls: MessageClass, from: string, payload: T): SendResult {
    if (this.state !== 'running') {
      if (cls === 'command') this.stats.rejected++;
      else this.stats.dropped[cls]++;
      return { ok: false, reason: 'stopped', detail: `actor ${this.id} is not running` };
    }
    const r = this.mailbox.push(cls, from, payload);
    if (!r.ok) this.stats.rejected++;
    return r;
  }

  /** Finish the message in hand, then exit with `shutdown`. Queued messages stay in the mailbox. */
  stop(): Promise<void> {
    if (this.state === 'exited') return Promise.resolve();
    this.state = 'stopping';
    if (!this.busy) {
      this.finish({ kind: 'shutdown' });
      return Promise.resolve();
    }
    return new Promise((resolve) => (this.stopWaiters ??= []).push(resolve));
  }

  kill(): void {
    if (this.state === 'exited') return;
    this.finish({ kind: 'crash', error: 'killed', crashKind: 'killed' });
  }

  onExit(cb: (reason: ExitReason) => void): void {
    if (this.exitReason) queueMicrotask(() => cb(this.exitReason!));
    else (this.exitCbs ??= []).push(cb);
  }

  /** @internal used by ActorContext.exit */
  exitNormally(): void {
    if (this.state === 'exited') return;
    if (this.busy) this.state = 'stopping';
    this.finish({ kind: 'normal' });
  }

  /** @internal the mailbox calls this after a push. */
  wake(): void {
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.busy || this.state !== 'running') return;
    this.scheduled = true;
    const fn = (this.drainFn ??= this.drainEntry.bind(this));
    if (this.microTurns++ < MAX_MICRO_TURNS) queueMicrotask(fn as () => void);
    else setImmediate(fn, true);
  }

  private drainEntry(macro?: boolean): void {
    if (macro === true) this.microTurns = 0;
    this.drain();
  }

  private drain(): void {
    this.scheduled = false;
    const box = this.mailbox;
    let budget = this.batch;
    while (this.state === 'running') {
      if (budget-- === 0) {
        if (box.size > 0) {
          this.scheduled = true;
          setImmediate(this.drainFn!, true);
        }
        return;
      }
      const msg = box.shift();
      if (msg === undefined) return;
      this.stats.events++;
      let r: void | PromiseLike<void>;
      try {
        r = this.handle(msg);
      } catch (e) {
        this.failed(e, msg);
        continue;
      }
      if (r !== undefined && r !== null && typeof (r as PromiseLike<void>).then === 'function') {
        this.busy = true;
        (r as PromiseLike<void>).then(
          () => this.afterAsync(),
          (e: unknown) => {
            this.failed(e, msg);
            this.afterAsync();
          },
        );
        return;
      }
    }
  }

  private afterAsync(): void {
    this.busy = false;
    if (this.state === 'stopping') {
      this.finish({ kind: 'shutdown' });
      return;
    }
    if (this.state === 'running' && this.mailbox.size > 0) this.schedule();
  }

  /** Returns nothing: a handled failure lets the loop go on, a crash ends the actor. */
  private failed(e: unknown, msg: Message<T>): void {
    if (this.state === 'exited') return;
    if (e instanceof ActorError) {
      this.stats.errors++;
      this.stats.lastError = e.message;
      this.onError?.(e, msg);
      return;
    }
    const kind = e instanceof ActorCrash ? e.kind : 'exception';
    const message = e instanceof Error ? e.message : String(e);
    this.stats.crashes++;
    this.stats.lastCrash = { kind, message };
    this.finish({ kind: 'crash', error: message, crashKind: kind });
  }

  private finish(reason: ExitReason): void {
    if (this.state === 'exited') return;
    this.state = 'exited';
    this.exitReason = reason;
    if (this.mailbox.owner === this) this.mailbox.owner = null;
    if (this.close) {
      try {
        void Promise.resolve(this.close()).catch(() => undefined);
      } catch {
        // cleanup failures must not hide the exit
      }
    }
    const waiters = this.stopWaiters;
    this.stopWaiters = null;
    if (waiters) for (const w of waiters) w();
    const cbs = this.exitCbs;
    this.exitCbs = null;
    if (cbs) for (const cb of cbs) cb(reason);
  }
}

/** Spawn one actor (no supervision): the unit the bench's spawn latency measures. */
export function spawn<T>(opts: ActorOptions<T>): Actor<T> {
  return new Actor(opts);
}

export interface ActorRefOptions<T> {
  id: string;
  /** limits.mailbox */
  capacity: number;
  factory: HandlerFactory<T>;
  restart?: RestartType;
  shutdownMs?: number;
  version?: string;
  sha256?: string;
  meta?: Record<string, unknown>;
  batch?: number;
  onError?: (error: ActorError, msg: Message<T>) => void;
}

/**
 * The stable address of a supervised actor. The mailbox and the counters outlive each incarnation,
 * so the bus subscribes once and messages that arrive during a restart wait (bounded, with the same
 * overflow policy) instead of being lost; only the message that crashed the actor is gone. Once the
 * supervisor reports `failed` or `stopped`, the ref closes: commands are refused with the reason,
 * ticks and events are dropped and counted.
 */
export class ActorRef<T = unknown> {
  readonly id: string;
  readonly mailbox: Mailbox<T>;
  readonly stats: ActorStats;
  private current: Actor<T> | null = null;
  private closed: { reason: 'failed' | 'stopped'; detail: string } | null = null;
  private readonly opts: ActorRefOptions<T>;

  constructor(opts: ActorRefOptions<T>) {
    this.opts = opts;
    this.id = opts.id;
    this.mailbox = new Mailbox<T>(opts.capacity);
    this.stats = newStats(this.mailbox as Mailbox<unknown>);
  }

  get running(): boolean {
    return this.current !== null && this.current.alive;
  }

  send(cls: MessageClass, from: string, payload: T): SendResult {
    if (this.closed !== null) {
      if (cls === 'command') this.stats.rejected++;
      else this.stats.dropped[cls]++;
      return { ok: false, reason: this.closed.reason, detail: this.closed.detail };
    }
    const r = this.mailbox.push(cls, from, payload);
    if (!r.ok) this.stats.rejected++;
    return r;
  }

  /** The child spec to hand to a supervisor. */
  spec(): ChildSpec {
    const o = this.opts;
    return {
      id: o.id,
      restart: o.restart ?? 'permanent',
      shutdownMs: o.shutdownMs ?? 5_000,
      version: o.version,
      sha256: o.sha256,
      meta: o.meta,
      start: () => this.startIncarnation(),
      onLifecycle: (e) => this.lifecycle(e),
    };
  }

  private async startIncarnation(): Promise<Actor<T>> {
    let actor: Actor<T> | null = null;
    const ctx: ActorContext = {
      id: this.id,
      reportFuel: (units) => {
        this.stats.lastFuel = units;
      },
      exit: () => actor?.exitNormally(),
    };
    const handler = await this.opts.factory(ctx);
    actor = new Actor<T>({ id: this.id, mailbox: this.mailbox, handler, stats: this.stats, batch: this.opts.batch, onError: this.opts.onError });
    this.current = actor;
    return actor;
  }

  private lifecycle(e: LifecycleEvent): void {
    if (e.state === 'failed' || e.state === 'stopped') {
      const n = this.mailbox.clear();
      // Whatever was waiting will never be handled: count it rather than lose it silently.
      this.stats.dropped.event += n;
      this.closed = {
        reason: e.state,
        detail: `component ${this.id} is ${e.state}${e.reason ? ` (${e.reason})` : ''}${e.state === 'failed' ? '; it is retried automatically, or send a retry command' : ''}`,
      };
      this.current = null;
    } else {
      this.closed = null;
    }
  }
}
