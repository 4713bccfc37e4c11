import { HostCallError, type HostErrorTag } from '../errors.js';
import type { LogLevel } from '../host-api.js';

/**
 * The synchronous host-call channel between a worker and the main thread: one SharedArrayBuffer
 * per worker, one call in flight at a time (a guest is single-threaded and blocks in its import).
 *
 * Layout: an Int32 header (state, op/status, payload length), then a payload area of fixed size.
 * The worker writes a request and flips `state` to REQUEST, notifies, and blocks in Atomics.wait;
 * the main thread runs the real HostApi method, writes the reply, flips `state` to REPLY and
 * notifies. Payloads are a flat little-endian encoding (u8/u32/f64/u64, u32-length-prefixed UTF-8
 * strings and byte lists): no JSON, no structured clone, and a hard bound (the payload area) that a
 * guest cannot push past: a request that does not fit is refused in the worker with `invalid`.
 */
export const STATE = 0;
export const OP = 1;
export const LEN = 2;
const HEADER_BYTES = 16;

export const IDLE = 0;
export const REQUEST = 1;
export const REPLY = 2;

/** Reply status, written to OP. */
export const OK = 0;
export const REFUSED = 1;
/** Any other throw from the host function: the guest traps, as it would inline. */
export const FAILED = 2;

export const Op = {
  gpioRead: 1,
  gpioWrite: 2,
  serialWrite: 3,
  publish: 4,
  publishJson: 5,
  send: 6,
  log: 7,
  nowMs: 8,
  config: 9,
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];
const TAGS: readonly HostErrorTag[] = ['denied', 'invalid', 'io', 'limited'];

/** Room for the largest message payload the host accepts (256 KiB) plus its topic. */
export const DEFAULT_CHANNEL_BYTES = 320 * 1024;

export function createChannel(payloadBytes = DEFAULT_CHANNEL_BYTES): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + payloadBytes);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Raised by the writer when a payload would not fit; the caller turns it into `invalid(..)`. */
export class TooLarge extends Error {}

/** A cursor over the payload area of a channel. */
export class PayloadWriter {
  readonly header: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  pos = 0;
  constructor(sab: SharedArrayBuffer) {
    this.header = new Int32Array(sab, 0, HEADER_BYTES / 4);
    this.bytes = new Uint8Array(sab, HEADER_BYTES);
    this.view = new DataView(sab, HEADER_BYTES);
  }
  reset(): this {
    this.pos = 0;
    return this;
  }
  private room(n: number): void {
    if (this.pos + n > this.bytes.length) throw new TooLarge(`${this.pos + n} bytes do not fit the ${this.bytes.length}-byte host-call channel`);
  }
  u8(v: number): this {
    this.room(1);
    this.bytes[this.pos++] = v;
    return this;
  }
  u32(v: number): this {
    this.room(4);
    this.view.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
    return this;
  }
  f64(v: number): this {
    this.room(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
    return this;
  }
  u64(v: bigint): this {
    this.room(8);
    this.view.setBigUint64(this.pos, BigInt.asUintN(64, v), true);
    this.pos += 8;
    return this;
  }
  str(s: string): this {
    // UTF-8 is at most 3 bytes per UTF-16 unit: check the bound before encoding anything.
    const start = this.pos;
    this.room(4);
    if (s.length * 3 > this.bytes.length - start - 4) {
      const n = Buffer.byteLength(s, 'utf8');
      this.room(4 + n);
    }
    const { written } = encoder.encodeInto(s, this.bytes.subarray(start + 4));
    this.view.setUint32(start, written, true);
    this.pos = start + 4 + written;
    return this;
  }
  list(b: Uint8Array): this {
    this.room(4 + b.length);
    this.view.setUint32(this.pos, b.length, true);
    this.bytes.set(b, this.pos + 4);
    this.pos += 4 + b.length;
    return this;
  }
  /** Room left for a string's bytes after its length prefix (for truncating logs). */
  get free(): number {
    return this.bytes.length - this.pos - 4;
  }
}

export class PayloadReader {
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  pos = 0;
  constructor(sab: SharedArrayBuffer) {
    this.bytes = new Uint8Array(sab, HEADER_BYTES);
    this.view = new DataView(sab, HEADER_BYTES);
  }
  reset(): this {
    this.pos = 0;
    return this;
  }
  u8(): number {
    return this.bytes[this.pos++]!;
  }
  u32(): number {
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  f64(): number {
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  u64(): bigint {
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  str(): string {
    const n = this.u32();
    // Copy out of the shared buffer: TextDecoder refuses views on a SharedArrayBuffer.
    const s = decoder.decode(this.bytes.slice(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
  list(): Uint8Array {
    const n = this.u32();
    const b = this.bytes.slice(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

export function tagCode(tag: HostErrorTag): number {
  const i = TAGS.indexOf(tag);
  return i < 0 ? 1 : i;
}

export function refusal(code: number, message: string): HostCallError {
  return new HostCallError(TAGS[code] ?? 'invalid', message);
}
