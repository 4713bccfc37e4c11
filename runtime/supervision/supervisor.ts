import { backoffDelay } from '../backoff.js';
import { GatewayError } from '../errors.js';
import { LifecycleHub } from './events.js';
import {
  describeExit,
  type BackoffOptions,
  type ChildHandle,
  type ChildSpec,
  type Clock,
  type ExitReason,
  type LifecycleEvent,
  type LifecycleState,
  type StartContext,
  type StopInfo,
  type Strategy,
} from './types.js';

/**
 * An OTP supervisor (stdlib `supervisor`), with two additions.
 *
 * OTP semantics kept exactly:
 * - Strategies: one-for-one (restart the child), one-for-all (terminate all others in reverse start
 *   order, then restart all in start order), rest-for-one (terminate the children started after it,
 *   in reverse, then restart it and them in order).
 * - Restart types: permanent (always restarted, even after a normal exit), transient (restarted only
 *   after an abnormal exit: anything but `normal`/`shutdown`), temporary (never restarted; when a
 *   sibling's crash takes it down it is removed from the child list, not restarted).
 *   As in OTP, a one-for-all/rest-for-one restart also restarts a non-temporary child that had
 *   already stopped (a transient child that exited normally, a child stopped with terminateChild):
 *   OTP's start_children starts every child left in the list.
 * - Intensity: every restart decision records a timestamp; if more than `intensity` restarts lie
 *   within the last `periodMs` (inclusive), the supervisor terminates all children in reverse order
 *   and exits (escalation to its parent). A restart of several children counts once. A child that
 *   fails to start during a restart counts as another restart (OTP's try_again_restart).
 * - Children start in order; if one fails during the initial start, the ones already started are
 *   terminated in reverse and the supervisor's start fails. Stop is in reverse order; each child is
 *   asked to stop, given `shutdownMs`, then killed (0 = kill at once, Infinity = wait).
 *
 * Additions:
 * - Backoff: each restart waits base·factor^(n−1) (capped at maxMs), n being the number of restarts
 *   of that child within the current period, minus a random jitter fraction. baseMs 0 = plain OTP.
 * - `onMaxIntensity: 'fail'` (the default for a supervisor started on its own, i.e. the root, which
 *   has nobody to escalate to): instead of exiting, the supervisor terminates its children, goes to
 *   `failed` with the reason, and retries on a slow schedule (`failedRetryMs`) or on `retry()`.
 *   Nothing is ever abandoned silently.
 * Deliberate difference: OTP exits with reason `shutdown` when intensity is exceeded, which a
 * transient parent treats as a normal exit and silently does not restart. Here the exit is a crash
 * (`crashKind: 'max-intensity'`), so escalation always reaches someone who acts.
 *
 * Every operation (child exit, restart timer, stop, retry, dynamic child changes) runs in one queue,
 * one at a time, like the OTP supervisor's own mailbox, so there are no interleavings to reason about.
 */

export interface SupervisorOptions {
  id: string;
  strategy?: Strategy;
  /** Max restarts within periodMs (OTP intensity, default 1). */
  intensity?: number;
  /** OTP period, in ms (default 5000). */
  periodMs?: number;
  backoff?: BackoffOptions | false;
  /** Default: 'escalate' when started as a child of another supervisor, 'fail' when started alone. */
  onMaxIntensity?: 'escalate' | 'fail';
  /** How often a failed supervisor retries by itself. Default 5 minutes. */
  failedRetryMs?: number;
  children?: ChildSpec[];
  /** Injectable for tests: [0, 1). */
  random?: () => number;
  clock?: Clock;
  version?: string;
  /** Its own restart type and shutdown when used as a child (defaults: permanent, Infinity). */
  restart?: ChildSpec['restart'];
  shutdownMs?: number;
}

type Status = 'stopped' | 'starting' | 'running' | 'pending' | 'terminating';

interface ChildRecord {
  spec: ChildSpec;
  handle: ChildHandle | null;
  status: Status;
  gen: number;
  batch: number;
  path: readonly string[];
}

export type SupervisorState = 'idle' | 'starting' | 'running' | 'failed' | 'stopping' | 'stopped';

export interface ChildInfo {
  id: string;
  status: Status;
  restart: ChildSpec['restart'];
  restarts: number;
}

const DEFAULT_BACKOFF: Required<BackoffOptions> = { baseMs: 100, maxMs: 30_000, factor: 2, jitter: 0.5 };

export class Supervisor implements ChildHandle {
  readonly id: string;
  readonly hub: LifecycleHub;
  readonly path: readonly string[];
  private readonly strategy: Strategy;
  private readonly intensity: number;
  private readonly periodMs: number;
  private readonly backoff: Required<BackoffOptions> | null;
  private readonly mode: 'escalate' | 'fail';
  private readonly failedRetryMs: number;
  private readonly random: () => number;
  private readonly clock: Clock;
  private readonly isRoot: boolean;
  private readonly version: string | undefined;
  private children: ChildRecord[] = [];
  private restartLog: Array<{ t: number; id: string }> = [];
  private batchSeq = 0;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private queue: Promise<void> = Promise.resolve();
  private _state: SupervisorState = 'idle';
  private failReason: string | undefined;
  private exitReason: ExitReason | null = null;
  private readonly exitCbs: Array<(r: ExitReason) => void> = [];
  private unregister: () => void = () => undefined;

  constructor(opts: SupervisorOptions, ctx?: StartContext) {
    this.id = opts.id;
    this.strategy = opts.strategy ?? 'one-for-one';
    this.intensity = opts.intensity ?? 1;
    this.periodMs = opts.periodMs ?? 5_000;
    if (!Number.isInteger(this.intensity) || this.intensity < 0) throw new GatewayError('INVALID_SUPERVISOR', `supervisor ${opts.id}: intensity must be an integer >= 0; got ${this.intensity}`);
    if (!(this.periodMs > 0)) throw new GatewayError('INVALID_SUPERVISOR', `supervisor ${opts.id}: periodMs must be > 0; got ${this.periodMs}`);
    this.backoff = opts.backoff === false ? null : { ...DEFAULT_BACKOFF, ...(opts.backoff ?? {}) };
    this.isRoot = ctx === undefined;
    this.mode = opts.onMaxIntensity ?? (this.isRoot ? 'fail' : 'escalate');
    this.failedRetryMs = opts.failedRetryMs ?? 300_000;
    this.random = opts.random ?? Math.random;
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.hub = ctx?.hub ?? new LifecycleHub();
    this.path = ctx ? ctx.path : [opts.id];
    this.version = opts.version;
    const seen = new Set<string>();
    for (const spec of opts.children ?? []) {
      if (seen.has(spec.id)) throw new GatewayError('INVALID_SUPERVISOR', `supervisor ${opts.id}: two children are named ${spec.id}; give each child a unique id`);
      seen.add(spec.id);
      this.children.push(this.record(spec));
    }
  }

  get state(): SupervisorState {
    return this._state;
  }

  get failed(): boolean {
    return this._state === 'failed';
  }

  /** Subscribe to the tree's lifecycle events. */
  on(listener: (e: LifecycleEvent) => void): () => void {
    return this.hub.on(listener);
  }

  /** Start all children in order. Rejects (escalate mode) or goes to `failed` (fail mode) if one cannot start. */
  start(): Promise<void> {
    return this.enqueue(async () => {
      if (this._state !== 'idle') return;
      this.unregister = this.hub.register(this);
      await this.startAll();
    });
  }

  /** Orderly shutdown: children in reverse order, each with its shutdown timeout. */
  stop(info?: StopInfo): Promise<void> {
    return this.enqueue(async () => {
      if (this._state === 'stopped') return;
      this._state = 'stopping';
      this.clearTimers();
      await this.terminateAll(this.children.length, info ?? { as: 'stopped', reason: 'shutdown' });
      this.children = this.children.filter((c) => c.spec.restart !== 'temporary');
      this.finish({ kind: 'shutdown' }, info);
    });
  }

  /** Kill every child at once, no waiting (brutal_kill of the whole subtree). */
  kill(): void {
    if (this._state === 'stopped') return;
    this.clearTimers();
    for (let i = this.children.length - 1; i >= 0; i--) {
      const c = this.children[i]!;
      if (c.handle) {
        c.gen++;
        const h = c.handle;
        c.handle = null;
        c.status = 'stopped';
        try {
          h.kill();
        } catch {
          // already gone
        }
      }
    }
    this.finish({ kind: 'crash', error: 'killed', crashKind: 'killed' });
  }

  onExit(cb: (reason: ExitReason) => void): void {
    if (this.exitReason) queueMicrotask(() => cb(this.exitReason!));
    else this.exitCbs.push(cb);
  }

  /** Operator command (or the slow schedule): leave `failed` and start the children again. */
  retry(): Promise<void> {
    return this.enqueue(async () => {
      if (this._state !== 'failed') return;
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = null;
      this.restartLog = [];
      await this.startAll();
    });
  }

  /** Add and start a child (OTP start_child). */
  startChild(spec: ChildSpec): Promise<void> {
    return this.enqueue(async () => {
      if (this.children.some((c) => c.spec.id === spec.id)) {
        throw new GatewayError('CHILD_EXISTS', `supervisor ${this.id} already has a child ${spec.id}; terminate and delete it first`);
      }
      const rec = this.record(spec);
      this.children.push(rec);
      if (this._state !== 'running') return;
      const err = await this.startRecord(rec);
      if (err !== null) {
        this.children = this.children.filter((c) => c !== rec);
        throw new GatewayError('CHILD_START_FAILED', `child ${spec.id} failed to start: ${err}`);
      }
    });
  }

  /** Stop a child and keep its spec (OTP terminate_child); it is not restarted. */
  terminateChild(id: string): Promise<void> {
    return this.enqueue(async () => {
      const rec = this.find(id);
      await this.terminate(rec, { as: 'stopped', reason: 'terminated by operator' });
      if (rec.spec.restart === 'temporary') this.children = this.children.filter((c) => c !== rec);
    });
  }

  /** Start a stopped child again (OTP restart_child). */
  restartChild(id: string): Promise<void> {
    return this.enqueue(async () => {
      const rec = this.find(id);
      if (rec.status !== 'stopped') throw new GatewayError('CHILD_RUNNING', `child ${id} is ${rec.status}; terminate it first`);
      const err = await this.startRecord(rec);
      if (err !== null) throw new GatewayError('CHILD_START_FAILED', `child ${id} failed to start: ${err}`);
    });
  }

  /** Remove a stopped child's spec (OTP delete_child). */
  deleteChild(id: string): Promise<void> {
    return this.enqueue(async () => {
      const rec = this.find(id);
      if (rec.status !== 'stopped') throw new GatewayError('CHILD_RUNNING', `child ${id} is ${rec.status}; terminate it before deleting`);
      this.children = this.children.filter((c) => c !== rec);
    });
  }

  /**
   * Resolves once every operation queued before it has run: a liveness probe (the service watchdog).
   * A supervisor whose queue is stuck (a child start or stop that never settles) never answers.
   */
  ping(): Promise<void> {
    return this.enqueue(async () => undefined);
  }

  whichChildren(): ChildInfo[] {
    return this.children.map((c) => ({ id: c.spec.id, status: c.status, restart: c.spec.restart, restarts: this.hub.restarts(c.path) }));
  }

  /** Resolves once every queued operation (and what it triggered synchronously) has run. */
  async idle(): Promise<void> {
    let q: Promise<void>;
    do {
      q = this.queue;
      await q;
    } while (q !== this.queue);
  }

  // ---- internals -------------------------------------------------------------------------------

  private record(spec: ChildSpec): ChildRecord {
    return { spec, handle: null, status: 'stopped', gen: 0, batch: 0, path: [...this.path, spec.id] };
  }

  private find(id: string): ChildRecord {
    const rec = this.children.find((c) => c.spec.id === id);
    if (!rec) throw new GatewayError('NO_SUCH_CHILD', `supervisor ${this.id} has no child ${id}; see whichChildren()`);
    return rec;
  }

  private enqueue(op: () => Promise<void>): Promise<void> {
    const run = this.queue.then(op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private emit(rec: ChildRecord | null, state: LifecycleState, extra: Partial<LifecycleEvent> = {}): void {
    const spec = rec?.spec;
    const path = rec ? rec.path : this.path;
    const event: LifecycleEvent = {
      id: rec ? rec.spec.id : this.id,
      path,
      state,
      ts: this.clock.now(),
      restarts: this.hub.restarts(path),
      ...(spec ? { version: spec.version, sha256: spec.sha256, meta: spec.meta } : { version: this.version }),
      ...extra,
    };
    this.hub.emit(event);
    if (spec?.onLifecycle) {
      try {
        spec.onLifecycle(event);
      } catch {
        // a child's hook must not break its supervisor
      }
    }
  }

  /** Initial start (and retry from failed): children in order; a failure undoes what started. */
  private async startAll(): Promise<void> {
    this._state = 'starting';
    if (this.isRoot || this.failReason !== undefined) this.emit(null, 'starting');
    for (const rec of this.children) {
      const err = await this.startRecord(rec);
      if (err !== null) {
        const reason = `child ${rec.spec.id} failed to start: ${err}`;
        const idx = this.children.indexOf(rec);
        await this.terminateAll(idx, { as: 'stopped', reason });
        if (this.mode === 'fail') {
          this.enterFailed(reason);
          return;
        }
        this._state = 'stopped';
        this.unregister();
        throw new GatewayError('SUPERVISOR_START_FAILED', `supervisor ${this.id}: ${reason}`);
      }
    }
    this._state = 'running';
    if (this.isRoot || this.failReason !== undefined) this.emit(null, 'running');
    this.failReason = undefined;
  }

  /** Start one child; returns null, or the error text. */
  private async startRecord(rec: ChildRecord): Promise<string | null> {
    rec.status = 'starting';
    const gen = ++rec.gen;
    this.emit(rec, 'starting');
    let handle: ChildHandle;
    try {
      handle = await rec.spec.start({ path: rec.path, hub: this.hub });
    } catch (e) {
      rec.status = 'stopped';
      return e instanceof Error ? e.message : String(e);
    }
    if (rec.gen !== gen) {
      // Killed while starting (supervisor kill): do not adopt it.
      handle.kill();
      return 'killed while starting';
    }
    rec.handle = handle;
    rec.status = 'running';
    handle.onExit((reason) => {
      void this.enqueue(() => this.childExited(rec, gen, reason));
    });
    this.emit(rec, 'running');
    return null;
  }

  private async childExited(rec: ChildRecord, gen: number, reason: ExitReason): Promise<void> {
    if (rec.gen !== gen || rec.status !== 'running' || this._state !== 'running') return;
    rec.handle = null;
    rec.status = 'stopped';
    const abnormal = reason.kind === 'crash';
    const restart = rec.spec.restart === 'permanent' || (rec.spec.restart === 'transient' && abnormal);
    if (!restart) {
      if (rec.spec.restart === 'temporary') this.children = this.children.filter((c) => c !== rec);
      this.emit(rec, 'stopped', { reason: describeExit(reason), exit: reason });
      return;
    }
    await this.restartFrom(rec, reason);
  }

  /** OTP restart/2: count the restart, give up if over intensity, else apply the strategy. */
  private async restartFrom(rec: ChildRecord, reason: ExitReason): Promise<void> {
    const now = this.clock.now();
    const threshold = now - this.periodMs;
    this.restartLog = this.restartLog.filter((r) => r.t >= threshold);
    this.restartLog.push({ t: now, id: rec.spec.id });
    const why = `${rec.spec.id}: ${describeExit(reason)}`;
    if (this.restartLog.length > this.intensity) {
      await this.giveUp(`max restart intensity reached (more than ${this.intensity} restarts in ${this.periodMs} ms); last: ${why}`, rec, reason);
      return;
    }
    const idx = this.children.indexOf(rec);
    const from = this.strategy === 'one-for-one' ? idx : this.strategy === 'rest-for-one' ? idx : 0;
    const to = this.strategy === 'one-for-one' ? idx + 1 : this.children.length;
    const group = this.children.slice(from, to);
    // Take the others down, newest first; temporary ones leave the list for good.
    for (let i = group.length - 1; i >= 0; i--) {
      const c = group[i]!;
      if (c === rec) continue;
      if (c.spec.restart === 'temporary') {
        await this.terminate(c, { as: 'stopped', reason: `sibling ${why}` });
        this.children = this.children.filter((x) => x !== c);
      } else {
        await this.terminate(c, { as: 'restarting', reason: `sibling ${why}` }, true);
      }
    }
    const n = this.restartLog.reduce((acc, r) => (r.id === rec.spec.id ? acc + 1 : acc), 0);
    const delay = this.delayFor(n);
    const batch = ++this.batchSeq;
    for (const c of group) {
      if (!this.children.includes(c)) continue;
      c.status = 'pending';
      c.batch = batch;
      this.emit(c, 'restarting', c === rec ? { reason: describeExit(reason), exit: reason, delayMs: delay } : { reason: `sibling ${why}`, delayMs: delay });
    }
    if (delay <= 0) {
      await this.startBatch(batch);
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.enqueue(() => this.startBatch(batch));
    }, delay);
    this.timers.add(timer);
  }

  /** Backoff for the n-th restart (n ≥ 1) of a child within the period (runtime/backoff.ts). */
  private delayFor(n: number): number {
    if (!this.backoff) return 0;
    const { baseMs, ...rest } = this.backoff;
    return backoffDelay({ ...rest, initialMs: baseMs }, n - 1, this.random);
  }

  private async startBatch(batch: number): Promise<void> {
    if (this._state !== 'running') return;
    for (const c of [...this.children]) {
      if (c.status !== 'pending' || c.batch !== batch) continue;
      const err = await this.startRecord(c);
      if (err !== null) {
        // OTP try_again_restart: a failed restart is another restart of that child.
        await this.restartFrom(c, { kind: 'crash', error: `failed to start: ${err}`, crashKind: 'start-failed' });
        return;
      }
    }
  }

  /** Intensity exceeded: terminate everything (reverse), then escalate or go to `failed`. */
  private async giveUp(reason: string, rec: ChildRecord, exit: ExitReason): Promise<void> {
    this.clearTimers();
    // In fail mode enterFailed reports every child; when escalating, the crashed child is already
    // down, so say here that it waits for the parent's decision.
    if (this.mode === 'escalate') this.emit(rec, 'restarting', { reason, exit });
    const as = this.mode === 'fail' ? 'failed' : 'restarting';
    await this.terminateAll(this.children.length, { as, reason });
    for (const c of this.children) {
      if (c.status === 'pending') c.status = 'stopped';
    }
    this.children = this.children.filter((c) => c.spec.restart !== 'temporary' || c.status !== 'stopped');
    if (this.mode === 'fail') {
      this.enterFailed(reason);
      return;
    }
    this.finish({ kind: 'crash', error: `supervisor ${this.id}: ${reason}`, crashKind: 'max-intensity' });
  }

  private enterFailed(reason: string): void {
    this._state = 'failed';
    this.failReason = reason;
    const nextRetryAt = this.clock.now() + this.failedRetryMs;
    // Children first, then the supervisor itself (the hub spreads `failed` over the subtree).
    for (const c of this.children) {
      if (c.spec.restart !== 'temporary') this.emit(c, 'failed', { reason, nextRetryAt });
    }
    this.emit(null, 'failed', { reason, nextRetryAt });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.retry().catch(() => undefined);
    }, this.failedRetryMs);
  }

  /** Terminate children [0, upTo) in reverse start order. */
  private async terminateAll(upTo: number, info: StopInfo): Promise<void> {
    for (let i = Math.min(upTo, this.children.length) - 1; i >= 0; i--) {
      await this.terminate(this.children[i]!, info);
    }
  }

  /**
   * OTP shutdown/2: stop, wait shutdownMs, kill. The generation bump makes the exit it causes
   * invisible to childExited. `quiet` skips the event (the caller emits `restarting` itself).
   */
  private async terminate(rec: ChildRecord, info: StopInfo, quiet = false): Promise<void> {
    const h = rec.handle;
    if (rec.status === 'pending') rec.status = 'stopped';
    if (h === null) return;
    rec.gen++;
    rec.handle = null;
    rec.status = 'terminating';
    const ms = rec.spec.shutdownMs;
    if (ms <= 0) {
      safeKill(h);
    } else {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stopped = Promise.resolve()
        .then(() => h.stop(info))
        .then(
          () => true,
          () => false,
        );
      const outcome = Number.isFinite(ms)
        ? await Promise.race([stopped, new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))])
        : await stopped;
      if (timer !== undefined) clearTimeout(timer);
      if (!outcome) safeKill(h);
    }
    rec.status = 'stopped';
    if (!quiet) this.emit(rec, info.as, { reason: info.reason });
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private finish(reason: ExitReason, info?: StopInfo): void {
    if (this._state === 'stopped' && this.exitReason) return;
    this._state = 'stopped';
    this.exitReason = reason;
    this.unregister();
    if (this.isRoot) this.emit(null, info?.as === 'failed' ? 'failed' : reason.kind === 'crash' ? 'failed' : 'stopped', { reason: describeExit(reason), exit: reason });
    const cbs = this.exitCbs.splice(0);
    for (const cb of cbs) cb(reason);
  }
}

function safeKill(h: ChildHandle): void {
  try {
    h.kill();
  } catch {
    // already gone
  }
}

/** A supervisor as a child of another (nested trees). */
export function supervisorSpec(opts: SupervisorOptions): ChildSpec {
  return {
    id: opts.id,
    restart: opts.restart ?? 'permanent',
    shutdownMs: opts.shutdownMs ?? Infinity,
    version: opts.version,
    start: async (ctx) => {
      const s = new Supervisor(opts, ctx);
      await s.start();
      return s;
    },
  };
}
