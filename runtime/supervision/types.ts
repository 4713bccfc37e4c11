/**
 * The shapes a supervisor works with. Children are abstract (anything that can be started, asked to
 * stop, killed, and reports how it ended), so an actor, a Wasm component, a driver or another
 * supervisor all fit.
 */

export type RestartType = 'permanent' | 'transient' | 'temporary';
export type Strategy = 'one-for-one' | 'one-for-all' | 'rest-for-one';

/** How a child ended. `normal` and `shutdown` are normal exits (a transient child is not restarted). */
export type ExitReason =
  | { kind: 'normal' }
  | { kind: 'shutdown' }
  | { kind: 'crash'; error: string; crashKind?: string };

/** States published on `…/components/<name>/state` (contract section 4). */
export type LifecycleState = 'starting' | 'running' | 'restarting' | 'failed' | 'stopped';

/**
 * Why a child is being stopped, so a nested supervisor can report the right state for its own
 * children (`restarting` when a sibling's crash takes the group down, `stopped` on shutdown).
 */
export interface StopInfo {
  as: 'stopped' | 'restarting' | 'failed';
  reason?: string;
}

export interface ChildHandle {
  /** Ask the child to stop; resolves once it has. The supervisor kills it after `shutdownMs`. */
  stop(info?: StopInfo): Promise<void>;
  /** Stop now, without cleanup (OTP `brutal_kill`). */
  kill(): void;
  /** Called once when the child ends on its own (exits of children being stopped are ignored). */
  onExit(cb: (reason: ExitReason) => void): void;
}

/** Given to `start` so nested supervisors join the tree (events, path, clock). Plain children ignore it. */
export interface StartContext {
  path: readonly string[];
  hub: import('./events.js').LifecycleHub;
}

export interface ChildSpec {
  id: string;
  restart: RestartType;
  /** Milliseconds to wait after `stop()` before `kill()`. 0 = kill at once; Infinity = wait forever (supervisors). */
  shutdownMs: number;
  start: (ctx: StartContext) => Promise<ChildHandle> | ChildHandle;
  /** Passed through to lifecycle events (the state topic carries them). */
  version?: string;
  sha256?: string;
  meta?: Record<string, unknown>;
  /** Told about every lifecycle change of this child (an actor's stable mailbox uses it to open/close). */
  onLifecycle?: (event: LifecycleEvent) => void;
}

export interface LifecycleEvent {
  /** The child's id and its path from the root supervisor (root first). */
  id: string;
  path: readonly string[];
  state: LifecycleState;
  ts: number;
  /** Restarts of this child since the tree started (survives restarts of its parents). */
  restarts: number;
  version?: string;
  sha256?: string;
  meta?: Record<string, unknown>;
  /** Why: the exit reason for `restarting`/`stopped`, the give-up reason for `failed`. */
  reason?: string;
  exit?: ExitReason;
  /** `restarting`: backoff before the start. */
  delayMs?: number;
  /** `failed`: when the slow retry will run. */
  nextRetryAt?: number;
}

export interface BackoffOptions {
  /** First restart delay; 0 restarts at once (plain OTP). */
  baseMs: number;
  maxMs: number;
  /** Growth per restart within the intensity period. Default 2. */
  factor?: number;
  /** Fraction of the delay that is randomised: delay ∈ [d·(1−jitter), d]. Default 0.5. */
  jitter?: number;
}

export interface Clock {
  now(): number;
}

export function describeExit(reason: ExitReason): string {
  if (reason.kind === 'crash') return reason.crashKind ? `${reason.crashKind}: ${reason.error}` : reason.error;
  return reason.kind;
}
