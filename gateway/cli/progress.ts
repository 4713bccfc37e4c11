import type { CliIo } from './io.js';

/**
 * Progress on stderr. Status lines are printed once each (a repeated text is dropped). Counters and
 * countdowns are transient: on a terminal one line redrawn in place, otherwise a plain line only
 * when the value has moved on enough (every 10 % of a bar; a countdown as its caller decides).
 */
export class ProgressView {
  private readonly printed = new Set<string>();
  private readonly barStep = new Map<string, number>();
  private open = false;
  constructor(private readonly io: CliIo) {}

  /** A line that stays, printed at most once. */
  status(text: string): void {
    if (this.printed.has(text)) return;
    this.printed.add(text);
    if (this.io.tty) {
      this.io.tty.write(`\r${text}\x1b[K\n`);
      this.open = false;
    } else this.io.err(text);
  }

  /** A counter `label done/total`: a bar on a terminal, a line every 10 % otherwise. */
  bar(label: string, done: number, total: number): void {
    const frac = total === 0 ? 1 : Math.min(1, done / total);
    if (this.io.tty) {
      const width = 30;
      const fill = Math.round(frac * width);
      this.transient(`${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${done}/${total}`);
      if (done >= total) this.end();
      return;
    }
    const step = Math.floor(frac * 10);
    if (step !== this.barStep.get(label)) {
      this.barStep.set(label, step);
      this.status(`${label} ${done}/${total}`);
    }
  }

  /** A line the next one replaces (terminal only; elsewhere it is a status line). */
  transient(text: string): void {
    if (!this.io.tty) return this.status(text);
    this.io.tty.write(`\r${text}\x1b[K`);
    this.open = true;
  }

  /** A line the next one replaces on a terminal; elsewhere every line is printed, repeats too (rollout's wave lines). */
  line(text: string): void {
    if (!this.io.tty) return this.io.err(text);
    this.transient(text);
  }

  /** Ends a transient line so the next output starts on a fresh one. */
  end(): void {
    if (this.open && this.io.tty) this.io.tty.write('\n');
    this.open = false;
  }
}
