import type { ChildHandle, ChildSpec, ExitReason, RestartType, StopInfo } from '../../runtime/supervision/index.js';

/** A controllable child: records start/stop/kill in a shared log, crashes or exits on command. */
export class FakeHandle implements ChildHandle {
  private cbs: Array<(r: ExitReason) => void> = [];
  exited = false;
  stops: StopInfo[] = [];
  constructor(
    readonly id: string,
    private readonly log: string[],
    private readonly hangOnStop: boolean,
  ) {}
  stop(info?: StopInfo): Promise<void> {
    this.log.push(`stop:${this.id}`);
    this.stops.push(info ?? { as: 'stopped' });
    if (this.hangOnStop) return new Promise(() => undefined);
    this.end({ kind: 'shutdown' });
    return Promise.resolve();
  }
  kill(): void {
    this.log.push(`kill:${this.id}`);
    this.end({ kind: 'crash', error: 'killed' });
  }
  onExit(cb: (r: ExitReason) => void): void {
    this.cbs.push(cb);
  }
  crash(error = 'boom', crashKind = 'trap'): void {
    this.end({ kind: 'crash', error, crashKind });
  }
  exitNormal(kind: 'normal' | 'shutdown' = 'normal'): void {
    this.end({ kind });
  }
  private end(r: ExitReason): void {
    if (this.exited) return;
    this.exited = true;
    for (const cb of this.cbs) cb(r);
  }
}

export interface FakeChild {
  spec: ChildSpec;
  handles: FakeHandle[];
  readonly current: FakeHandle;
  readonly starts: number;
  /** Make the next N starts throw. */
  failStarts: number;
}

export function fake(
  log: string[],
  id: string,
  opts: { restart?: RestartType; shutdownMs?: number; hangOnStop?: boolean; version?: string } = {},
): FakeChild {
  const child: FakeChild = {
    handles: [],
    failStarts: 0,
    get current() {
      return this.handles[this.handles.length - 1]!;
    },
    get starts() {
      return this.handles.length;
    },
    spec: undefined as unknown as ChildSpec,
  };
  child.spec = {
    id,
    restart: opts.restart ?? 'permanent',
    shutdownMs: opts.shutdownMs ?? 1000,
    version: opts.version,
    start: () => {
      if (child.failStarts > 0) {
        child.failStarts--;
        log.push(`startfail:${id}`);
        throw new Error(`${id} cannot start`);
      }
      log.push(`start:${id}`);
      const h = new FakeHandle(id, log, opts.hangOnStop ?? false);
      child.handles.push(h);
      return h;
    },
  };
  return child;
}

/** Let queued supervisor operations and promise chains run. */
export async function flush(times = 20): Promise<void> {
  for (let i = 0; i < times; i++) await Promise.resolve();
}
