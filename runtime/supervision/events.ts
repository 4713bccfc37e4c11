import type { LifecycleEvent } from './types.js';

/**
 * One hub per supervision tree: every supervisor in the tree emits here, subscribers (the gateway's
 * state-topic publisher, tests, the CLI) see one ordered stream. It also keeps what must outlive a
 * single supervisor incarnation: restart counts per child path and the last state of each path.
 */

export type LifecycleListener = (event: LifecycleEvent) => void;

interface Retryable {
  readonly path: readonly string[];
  readonly failed: boolean;
  retry(): Promise<void>;
}

const key = (path: readonly string[]): string => path.join('\u0000');

export class LifecycleHub {
  private readonly listeners = new Set<LifecycleListener>();
  private readonly restartCounts = new Map<string, number>();
  private readonly last = new Map<string, LifecycleEvent>();
  private readonly supervisors = new Map<string, Retryable>();

  /** Subscribe; returns the unsubscribe function. */
  on(listener: LifecycleListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  restarts(path: readonly string[]): number {
    return this.restartCounts.get(key(path)) ?? 0;
  }

  bumpRestarts(path: readonly string[]): number {
    const k = key(path);
    const n = (this.restartCounts.get(k) ?? 0) + 1;
    this.restartCounts.set(k, n);
    return n;
  }

  /** Last known state of a path (the retained state topic, in memory). */
  state(path: readonly string[]): LifecycleEvent | undefined {
    return this.last.get(key(path));
  }

  /** Every path's last event, root first. */
  snapshot(): LifecycleEvent[] {
    return [...this.last.values()];
  }

  emit(event: LifecycleEvent): void {
    // Every start of a path after its first is a restart, whoever caused it (its supervisor, a
    // restarted ancestor, an operator retry), so the count survives restarts of the parents.
    if (event.state === 'starting' && this.last.has(key(event.path))) {
      event = { ...event, restarts: this.bumpRestarts(event.path) };
    }
    this.deliver(event);
    // A subtree that failed takes its whole subtree with it: children that were mid-restart when
    // their supervisor escalated would otherwise keep showing `restarting` forever.
    if (event.state === 'failed') {
      const prefix = key(event.path) + '\u0000';
      for (const [k, ev] of this.last) {
        if (k.startsWith(prefix) && ev.state !== 'failed' && ev.state !== 'stopped') {
          this.deliver({ ...ev, state: 'failed', ts: event.ts, reason: `${event.id} failed: ${event.reason ?? ''}`, delayMs: undefined, exit: undefined, nextRetryAt: event.nextRetryAt });
        }
      }
    }
  }

  private deliver(event: LifecycleEvent): void {
    this.last.set(key(event.path), event);
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // A broken listener must not break supervision.
      }
    }
  }

  /** @internal supervisors register so `retry(id)` can find them. */
  register(s: Retryable): () => void {
    const k = key(s.path);
    this.supervisors.set(k, s);
    return () => {
      if (this.supervisors.get(k) === s) this.supervisors.delete(k);
    };
  }

  /**
   * Operator command: retry the failed subtree named `id` (a supervisor id, or the id of a child
   * inside a failed supervisor). Returns the ids retried; empty when nothing by that name is failed.
   */
  async retry(id: string): Promise<string[]> {
    const hits: Retryable[] = [];
    for (const s of this.supervisors.values()) {
      if (!s.failed) continue;
      if (s.path[s.path.length - 1] === id) hits.push(s);
      else {
        const prefix = key(s.path) + '\u0000';
        for (const k of this.last.keys()) {
          if (k.startsWith(prefix) && k.endsWith('\u0000' + id)) {
            hits.push(s);
            break;
          }
        }
      }
    }
    for (const s of hits) await s.retry();
    return hits.map((s) => s.path.join('/'));
  }
}
