/**
 * Byte-level plumbing for the rewriter and the SDK's module reader (sdk/wasm-core.ts), the one
 * WebAssembly binary reader: LEB128 reading and writing, and splitting a core module into
 * sections and putting it back together. Every read is bounds-checked and fails with a GatewayError,
 * so a truncated or garbage module never surfaces as a RangeError from deep inside the rewriter.
 */
import { GatewayError } from '../errors.js';

export function invalid(what: string): GatewayError {
  return new GatewayError('INVALID_WASM', `not a valid core wasm module: ${what}; rebuild the component`);
}

/** A cursor over a byte range. `end` bounds every read (a section or a function body). */
export class Reader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    pos = 0,
    readonly end = bytes.length,
  ) {
    this.pos = pos;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  byte(): number {
    if (this.pos >= this.end) throw invalid(`unexpected end of data at offset ${this.pos}`);
    return this.bytes[this.pos++]!;
  }

  skip(n: number): void {
    if (n < 0 || this.pos + n > this.end) throw invalid(`unexpected end of data at offset ${this.pos}`);
    this.pos += n;
  }

  /** Unsigned LEB128 up to 32 bits, as a non-negative number. */
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      if (shift === 28 && b > 0x0f) throw invalid(`u32 LEB128 too long at offset ${this.pos - 1}`);
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
  }

  /** Unsigned LEB128 up to 64 bits; only skipped or compared, so precision above 2^53 does not matter. */
  u64(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      if (shift > 63) throw invalid(`u64 LEB128 too long at offset ${this.pos - 1}`);
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
  }

  /** Signed LEB128 of at most `bits` bits, as a number (exact up to 2^53; larger values only get skipped). */
  signed(bits: number): number {
    let result = 0;
    let shift = 0;
    const maxBytes = Math.ceil(bits / 7);
    for (let i = 0; ; i++) {
      if (i >= maxBytes) throw invalid(`s${bits} LEB128 too long at offset ${this.pos}`);
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) {
        if (b & 0x40) result -= 2 ** shift;
        return result;
      }
    }
  }

  /** A value type; a typed reference (0x63/0x64) also consumes its heap type. Returns the first byte. */
  valType(): number {
    const b = this.byte();
    if (b === 0x63 || b === 0x64) this.signed(33);
    return b;
  }

  /** A length-prefixed UTF-8 name. */
  name(): string {
    const len = this.u32();
    const start = this.pos;
    this.skip(len);
    return new TextDecoder('utf-8', { fatal: false }).decode(this.bytes.subarray(start, start + len));
  }
}

/** A growable byte buffer. */
export class Writer {
  private buf: Uint8Array;
  length = 0;

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(Math.max(16, Math.ceil(initialCapacity)));
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  byte(b: number): this {
    this.reserve(1);
    this.buf[this.length++] = b;
    return this;
  }

  bytes(src: Uint8Array | readonly number[]): this {
    this.reserve(src.length);
    this.buf.set(src, this.length);
    this.length += src.length;
    return this;
  }

  u32(value: number): this {
    this.reserve(5);
    let v = value >>> 0;
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.buf[this.length++] = b;
    } while (v !== 0);
    return this;
  }

  /** Signed LEB128 of any width (i32 or i64 immediates). */
  signed(value: bigint | number): this {
    let v = BigInt(value);
    this.reserve(10);
    for (;;) {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0);
      this.buf[this.length++] = done ? b : b | 0x80;
      if (done) return this;
    }
  }

  name(text: string): this {
    const encoded = new TextEncoder().encode(text);
    return this.u32(encoded.length).bytes(encoded);
  }

  /** Appends `body` prefixed with its u32 byte length (sections, function bodies). */
  sized(body: Uint8Array): this {
    return this.u32(body.length).bytes(body);
  }

  /** The bytes written so far, without copying; valid until the next write. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  finish(): Uint8Array<ArrayBuffer> {
    return this.buf.slice(0, this.length);
  }
}

export function encodeU32(value: number): Uint8Array {
  return new Writer(8).u32(value).finish();
}

export const SectionId = {
  custom: 0,
  type: 1,
  import: 2,
  function: 3,
  table: 4,
  memory: 5,
  global: 6,
  export: 7,
  start: 8,
  element: 9,
  code: 10,
  data: 11,
  dataCount: 12,
  tag: 13,
} as const;

/** Position of each known section id in the order the spec requires (tag sits between memory and global). */
const ORDER: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13 };

export interface Section {
  id: number;
  /** The section's contents without the id and size header. */
  payload: Uint8Array;
  /** For custom sections: the name. */
  customName?: string;
}

const MAGIC = [0x00, 0x61, 0x73, 0x6d];

/** Splits a core module into sections; checks the header and that known sections appear once, in order. */
export function readSections(bytes: Uint8Array): Section[] {
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b)) throw invalid('missing the \\0asm header');
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
    if (bytes[4] === 0x0d && bytes[6] === 0x01) {
      throw new GatewayError('UNSUPPORTED_WASM', 'this is a wasm component, not a core module; instrument the core modules jco extracts from it');
    }
    throw invalid(`unknown binary version ${Array.from(bytes.subarray(4, 8)).join('.')}`);
  }
  const r = new Reader(bytes, 8);
  const sections: Section[] = [];
  let lastOrder = 0;
  while (!r.done) {
    const id = r.byte();
    const size = r.u32();
    const start = r.pos;
    r.skip(size);
    const payload = bytes.subarray(start, start + size);
    if (id === SectionId.custom) {
      const nr = new Reader(payload);
      sections.push({ id, payload, customName: nr.name() });
      continue;
    }
    const order = ORDER[id];
    if (order === undefined) throw invalid(`unknown section id ${id}`);
    if (order <= lastOrder) throw invalid(`section ${id} out of order or repeated`);
    lastOrder = order;
    sections.push({ id, payload });
  }
  return sections;
}

/**
 * Replaces the payload of section `id`, or inserts the section where the spec order wants it
 * (after the last known section that must precede it; custom sections stay where they were).
 */
export function putSection(sections: Section[], id: number, payload: Uint8Array): void {
  const existing = sections.findIndex((s) => s.id === id);
  if (existing >= 0) {
    sections[existing] = { id, payload };
    return;
  }
  const order = ORDER[id]!;
  let insertAt = 0;
  sections.forEach((s, i) => {
    if (s.id !== SectionId.custom && ORDER[s.id]! < order) insertAt = i + 1;
  });
  sections.splice(insertAt, 0, { id, payload });
}

export function findSection(sections: Section[], id: number): Section | undefined {
  return sections.find((s) => s.id === id);
}

export function writeModule(sections: Section[]): Uint8Array<ArrayBuffer> {
  const total = sections.reduce((n, s) => n + s.payload.length + 6, 8);
  const w = new Writer(total);
  w.bytes(MAGIC).bytes([1, 0, 0, 0]);
  for (const s of sections) w.byte(s.id).sized(s.payload);
  return w.finish();
}
