import { HostCallError, refusal, type HostErrorTag } from '../errors.js';
import { LOG_LEVELS } from '../host-api-types.js';
import type { WireType } from '../interfaces/index.js';

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

/** Op codes are derived from the interface descriptors (HOST_FUNCTIONS: position + 1). */
export type OpCode = number;

export { LOG_LEVELS };
const TAGS: readonly HostErrorTag[] = ['denied', 'invalid', 'io', 'limited', 'absent'];

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

/** The refusal a wire tag code stands for (the inverse of tagCode). */
export function refusalFromCode(code: number, message: string): HostCallError {
  return refusal(TAGS[code] ?? 'invalid', message);
}

/** Writes one value of a wire type (descriptors' params and results). */
export function writeWire(w: PayloadWriter, type: WireType, v: unknown): void {
  switch (type) {
    case 'u8':
      w.u8(v as number);
      return;
    case 'u16':
    case 'u32':
      w.u32(v as number);
      return;
    case 'u64':
      w.u64(v as bigint);
      return;
    case 'f64':
      w.f64(v as number);
      return;
    case 'bool':
      w.u8(v ? 1 : 0);
      return;
    case 'string':
      w.str(v as string);
      return;
    case 'bytes':
      w.list(v as Uint8Array);
      return;
    case 'log-level':
      w.u8(Math.max(0, LOG_LEVELS.indexOf(v as (typeof LOG_LEVELS)[number])));
      return;
    case 'option<string>':
      if (v === undefined) w.u8(0);
      else w.u8(1).str(v as string);
      return;
    case 'option<bytes>':
      if (v === undefined) w.u8(0);
      else w.u8(1).list(v as Uint8Array);
      return;
    case 'list<string>': {
      const items = v as string[];
      w.u32(items.length);
      for (const x of items) w.str(x);
      return;
    }
    case 'void':
      return;
  }
}

/** Reads one value of a wire type. */
export function readWire(r: PayloadReader, type: WireType): unknown {
  switch (type) {
    case 'u8':
      return r.u8();
    case 'u16':
    case 'u32':
      return r.u32();
    case 'u64':
      return r.u64();
    case 'f64':
      return r.f64();
    case 'bool':
      return r.u8() === 1;
    case 'string':
      return r.str();
    case 'bytes':
      return r.list();
    case 'log-level':
      return LOG_LEVELS[r.u8()] ?? 'info';
    case 'option<string>':
      return r.u8() === 1 ? r.str() : undefined;
    case 'option<bytes>':
      return r.u8() === 1 ? r.list() : undefined;
    case 'list<string>': {
      const n = r.u32();
      const out: string[] = [];
      for (let i = 0; i < n; i++) out.push(r.str());
      return out;
    }
    case 'void':
      return undefined;
  }
}
