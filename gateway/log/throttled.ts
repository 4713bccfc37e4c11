/**
 * Log lines about traffic we refuse (oversized or flooding commands, junk OTA envelopes, commands
 * for components that do not exist) come at whatever rate the sender likes: one line per message
 * lets anyone on the broker fill the SD card. Per kind, the first refusal is logged at once, then
 * at most one line per window, each saying how many were folded into it; a window that ends with
 * refusals not yet reported gets a closing summary line. Counters keep the exact totals (health).
 */

export type ThrottledLevel = 'info' | 'warn' | 'error';
export type LogSink = (level: ThrottledLevel, fields: Record<string, unknown>, message: string) => void;

export interface ThrottledLogOptions {
  sink: LogSink;
  /** At most one line per kind per window (default 10 s). */
  windowMs?: number;
  now?: () => number;
}

interface KindState {
  total: number;
  /** Refusals since the last line written for this kind. */
  unreported: number;
  lastLineAt: number;
  level: ThrottledLevel;
  last: { fields: Record<string, unknown>; message: string } | undefined;
  timer: NodeJS.Timeout | undefined;
}

export class ThrottledLog {
  private readonly kinds = new Map<string, KindState>();
  private readonly windowMs: number;
  private readonly now: () => number;
  private linesWritten = 0;
  private closed = false;

  constructor(private readonly opts: ThrottledLogOptions) {
    this.windowMs = opts.windowMs ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** Counts one refusal of `kind`; writes a line if this kind has not written one this window. */
  note(kind: string, level: ThrottledLevel, fields: Record<string, unknown>, message: string): void {
    let k = this.kinds.get(kind);
    if (!k) this.kinds.set(kind, (k = { total: 0, unreported: 0, lastLineAt: -Infinity, level, last: undefined, timer: undefined }));
    k.total++;
    k.unreported++;
    k.level = level;
    k.last = { fields, message };
    const t = this.now();
    if (t - k.lastLineAt >= this.windowMs) return this.write(kind, k, t, false);
    if (!k.timer && !this.closed) {
      const state = k;
      // The window's summary, so the last refusals of a burst are not left unsaid.
      k.timer = setTimeout(() => {
        state.timer = undefined;
        if (state.unreported > 0) this.write(kind, state, this.now(), true);
      }, Math.max(0, state.lastLineAt + this.windowMs - t));
      k.timer.unref?.();
    }
  }

  /** Totals per kind since start, and how many lines were written about them. */
  stats(): { lines: number; byKind: Record<string, number> } {
    const byKind: Record<string, number> = {};
    for (const [kind, k] of this.kinds) byKind[kind] = k.total;
    return { lines: this.linesWritten, byKind };
  }

  /** Writes what is still unreported and stops the window timers. */
  close(): void {
    this.closed = true;
    for (const [kind, k] of this.kinds) {
      if (k.timer) clearTimeout(k.timer);
      k.timer = undefined;
      if (k.unreported > 0) this.write(kind, k, this.now(), true);
    }
  }

  /** `summary`: a line for refusals already folded (window end, close), even when only one was. */
  private write(kind: string, k: KindState, t: number, summary: boolean): void {
    const n = k.unreported;
    k.unreported = 0;
    k.lastLineAt = t;
    this.linesWritten++;
    const { fields, message } = k.last!;
    const folded = summary || n > 1 ? ` (${n} like this since the last line, ${k.total} in all; at most one line per ${Math.round(this.windowMs / 1000)} s)` : '';
    this.opts.sink(k.level, { ...fields, refused: kind, count: n, total: k.total }, message + folded);
  }
}
