import type { Framing } from '../../runtime/manifest.js';

export const DEFAULT_MAX_FRAME_BYTES = 4096;

export interface FramerOptions {
  /** Largest frame delivered; default 4096. Memory used is fixed at about this size. */
  maxFrameBytes?: number;
  /**
   * What to do when a frame outgrows `maxFrameBytes` before its delimiter arrives:
   * `discard` (default) drops bytes up to the next delimiter, so no half-frame is mistaken for a
   * whole one; `emit` delivers the full buffer as a truncated frame and keeps going.
   */
  overflow?: 'discard' | 'emit';
}

export interface FramerStats {
  frames: number;
  /** Times a frame outgrew the buffer. */
  overflows: number;
  /** Bytes thrown away by `discard` overflows. */
  discardedBytes: number;
}

export type FrameCallback = (frame: Uint8Array) => void;

/**
 * Splits a byte stream into frames: `line` (\n, a trailing \r stripped), `bytes` (each chunk as it
 * arrives, cut at maxFrameBytes) or `delimiter:<hex>` (any byte sequence, matched across chunk
 * boundaries with KMP so a delimiter like `abab` cannot be missed). Empty frames are not delivered.
 * The buffer is allocated once: an endless stream with no delimiter costs no extra memory, only
 * overflow counts.
 */
export class Framer {
  readonly stats: FramerStats = { frames: 0, overflows: 0, discardedBytes: 0 };
  private readonly max: number;
  /** Bytes a frame may reach before its delimiter: max, plus one for a `line` frame's \r. */
  private readonly limit: number;
  private readonly mode: 'bytes' | 'delimited';
  private readonly stripCr: boolean;
  private readonly delim: Uint8Array;
  private readonly fail: Int32Array;
  private readonly buf: Uint8Array;
  private readonly overflow: 'discard' | 'emit';
  private len = 0;
  private matched = 0;
  private discarding = false;

  constructor(framing: Framing, private readonly onFrame: FrameCallback, opts: FramerOptions = {}) {
    const max = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(max) || max < 1 || max > 16 * 1024 * 1024) throw new RangeError(`maxFrameBytes ${max}: expected an integer from 1 to 16777216`);
    this.max = max;
    this.overflow = opts.overflow ?? 'discard';
    this.mode = framing.kind === 'bytes' ? 'bytes' : 'delimited';
    this.stripCr = framing.kind === 'line';
    this.delim = framing.kind === 'delimiter' ? framing.delimiter : Uint8Array.of(0x0a);
    if (this.delim.length === 0) throw new RangeError('delimiter framing needs at least one byte');
    this.fail = failureTable(this.delim);
    // Room for a full frame plus a delimiter still being matched at its end.
    this.limit = max + (this.stripCr ? 1 : 0);
    this.buf = new Uint8Array(this.mode === 'bytes' ? 0 : this.limit + this.delim.length);
  }

  push(chunk: Uint8Array): void {
    if (this.mode === 'bytes') {
      for (let off = 0; off < chunk.length; off += this.max) {
        // Copy: the caller's buffer (serialport's pool) is reused after this returns.
        this.deliver(chunk.slice(off, Math.min(chunk.length, off + this.max)));
      }
      return;
    }
    const d = this.delim;
    const k = d.length;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      let m = this.matched;
      while (m > 0 && d[m] !== b) m = this.fail[m - 1]!;
      if (d[m] === b) m++;
      if (m === k) {
        this.matched = 0;
        if (this.discarding) {
          this.discarding = false;
          this.stats.discardedBytes += 1;
        } else {
          // The buffer holds the frame plus the first k-1 delimiter bytes.
          this.finishFrame(this.len - (k - 1));
        }
        this.len = 0;
        continue;
      }
      this.matched = m;
      if (this.discarding) {
        this.stats.discardedBytes++;
        continue;
      }
      // The frame part is everything but the bytes that may still turn out to be a delimiter.
      if (this.len - m + 1 > this.limit) {
        this.stats.overflows++;
        if (this.overflow === 'emit') {
          this.finishFrame(Math.min(this.len, this.max));
          this.len = 0;
          this.matched = 0;
          this.buf[this.len++] = b;
          this.matched = d[0] === b ? 1 : 0;
        } else {
          this.stats.discardedBytes += this.len + 1;
          this.len = 0;
          this.discarding = true;
        }
        continue;
      }
      this.buf[this.len++] = b;
    }
  }

  /** Bytes waiting for a delimiter. */
  get buffered(): number {
    return this.len;
  }

  /** Drops a partial frame (port closed or reopened). */
  reset(): void {
    this.len = 0;
    this.matched = 0;
    this.discarding = false;
  }

  private finishFrame(end: number): void {
    if (this.stripCr && end > 0 && this.buf[end - 1] === 0x0d) end--;
    if (end <= 0) return;
    if (end > this.max) {
      // Only possible for `line`: max+1 bytes whose last one was not \r.
      this.stats.overflows++;
      this.stats.discardedBytes += end;
      return;
    }
    this.deliver(this.buf.slice(0, end));
  }

  private deliver(frame: Uint8Array): void {
    if (frame.length === 0) return;
    this.stats.frames++;
    this.onFrame(frame);
  }
}

function failureTable(d: Uint8Array): Int32Array {
  const f = new Int32Array(d.length);
  let k = 0;
  for (let i = 1; i < d.length; i++) {
    while (k > 0 && d[i] !== d[k]) k = f[k - 1]!;
    if (d[i] === d[k]) k++;
    f[i] = k;
  }
  return f;
}
