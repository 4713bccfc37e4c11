/**
 * Just enough of the WebAssembly binary format to list a core module's imports and exports with
 * their function types, and to rename exports. Node 20 has no type reflection on WebAssembly.Module,
 * and checking signatures here lets the SDK name a wrong export before wit-component sees it.
 */

export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref' | 'unknown';

export interface FuncType {
  params: ValType[];
  results: ValType[];
}

export interface CoreImport {
  module: string;
  name: string;
  kind: 'func' | 'table' | 'memory' | 'global' | 'tag';
  type?: FuncType;
}

export interface CoreExport {
  name: string;
  kind: 'func' | 'table' | 'memory' | 'global' | 'tag';
  type?: FuncType;
}

export interface CoreModuleInfo {
  imports: CoreImport[];
  exports: CoreExport[];
}

const KINDS = ['func', 'table', 'memory', 'global', 'tag'] as const;
const VALTYPES: Record<number, ValType> = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64', 0x7b: 'v128', 0x70: 'funcref', 0x6f: 'externref' };

class Reader {
  constructor(readonly buf: Uint8Array, public pos = 0) {}
  u8(): number {
    if (this.pos >= this.buf.length) throw new Error('unexpected end of module');
    return this.buf[this.pos++]!;
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.u8();
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
      if (shift > 35) throw new Error('bad LEB128');
    }
  }
  name(): string {
    const len = this.u32();
    const s = new TextDecoder().decode(this.buf.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }
  limits(): void {
    const flags = this.u8();
    this.u32();
    if (flags & 1) this.u32();
  }
}

interface Section {
  id: number;
  start: number; // first byte of the payload
  end: number;
  headerStart: number;
}

function sections(bytes: Uint8Array): Section[] {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new Error('not a WebAssembly module');
  }
  if (bytes[4] !== 1 || bytes[5] !== 0) throw new Error('not a core module (a component, or an unknown version)');
  const r = new Reader(bytes, 8);
  const out: Section[] = [];
  while (r.pos < bytes.length) {
    const headerStart = r.pos;
    const id = r.u8();
    const size = r.u32();
    out.push({ id, start: r.pos, end: r.pos + size, headerStart });
    r.pos += size;
  }
  return out;
}

/** Imports and exports of a core module, with function signatures. */
export function readCoreModule(bytes: Uint8Array): CoreModuleInfo {
  const types: FuncType[] = [];
  const funcTypes: number[] = []; // type index per function index (imports first)
  const imports: CoreImport[] = [];
  const rawExports: { name: string; kind: CoreExport['kind']; index: number }[] = [];
  for (const s of sections(bytes)) {
    const r = new Reader(bytes, s.start);
    if (s.id === 1) {
      const n = r.u32();
      for (let i = 0; i < n; i++) {
        const form = r.u8();
        if (form !== 0x60) throw new Error(`unsupported type form 0x${form.toString(16)}`);
        const params = Array.from({ length: r.u32() }, () => VALTYPES[r.u8()] ?? 'unknown');
        const results = Array.from({ length: r.u32() }, () => VALTYPES[r.u8()] ?? 'unknown');
        types.push({ params, results });
      }
    } else if (s.id === 2) {
      const n = r.u32();
      for (let i = 0; i < n; i++) {
        const module = r.name();
        const name = r.name();
        const kind = KINDS[r.u8()] ?? 'func';
        const imp: CoreImport = { module, name, kind };
        if (kind === 'func') {
          const t = r.u32();
          funcTypes.push(t);
          imp.type = types[t];
        } else if (kind === 'table') {
          r.u8();
          r.limits();
        } else if (kind === 'memory') {
          r.limits();
        } else if (kind === 'global') {
          r.u8();
          r.u8();
        } else {
          r.u8();
          r.u32();
        }
        imports.push(imp);
      }
    } else if (s.id === 3) {
      const n = r.u32();
      for (let i = 0; i < n; i++) funcTypes.push(r.u32());
    } else if (s.id === 7) {
      const n = r.u32();
      for (let i = 0; i < n; i++) {
        const name = r.name();
        const kind = KINDS[r.u8()] ?? 'func';
        rawExports.push({ name, kind, index: r.u32() });
      }
    }
  }
  const exports = rawExports.map(({ name, kind, index }) => {
    const e: CoreExport = { name, kind };
    if (kind === 'func') e.type = types[funcTypes[index]!];
    return e;
  });
  return { imports, exports };
}

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

/** Returns a copy of the module with exports renamed (AssemblyScript cannot spell `on-tick`). */
export function renameExports(bytes: Uint8Array, rename: (name: string) => string): Uint8Array {
  const secs = sections(bytes);
  const exp = secs.find((s) => s.id === 7);
  if (!exp) return bytes;
  const r = new Reader(bytes, exp.start);
  const n = r.u32();
  const body: number[] = [...leb(n)];
  const enc = new TextEncoder();
  for (let i = 0; i < n; i++) {
    const name = rename(r.name());
    const kind = r.u8();
    const index = r.u32();
    const nb = enc.encode(name);
    body.push(...leb(nb.length), ...nb, kind, ...leb(index));
  }
  const section = [7, ...leb(body.length), ...body];
  const out = new Uint8Array(exp.headerStart + section.length + (bytes.length - exp.end));
  out.set(bytes.subarray(0, exp.headerStart), 0);
  out.set(section, exp.headerStart);
  out.set(bytes.subarray(exp.end), exp.headerStart + section.length);
  return out;
}

/**
 * Returns a copy of the module with import module names renamed; the rest of each import (its
 * field name and type) is copied byte for byte. The SDK declares the 0.1.0 interfaces once and
 * moves them to the world version a component targets (a component imports one version only).
 */
export function renameImportModules(bytes: Uint8Array, rename: (module: string) => string): Uint8Array {
  const imp = sections(bytes).find((s) => s.id === 2);
  if (!imp) return bytes;
  const r = new Reader(bytes, imp.start);
  const n = r.u32();
  const body: number[] = [...leb(n)];
  const enc = new TextEncoder();
  for (let i = 0; i < n; i++) {
    const module = rename(r.name());
    const rest = r.pos;
    r.name();
    const kind = r.u8();
    if (kind === 0) r.u32();
    else if (kind === 1) (r.u8(), r.limits());
    else if (kind === 2) r.limits();
    else if (kind === 3) (r.u8(), r.u8());
    else (r.u8(), r.u32());
    const mb = enc.encode(module);
    body.push(...leb(mb.length), ...mb, ...bytes.subarray(rest, r.pos));
  }
  const section = [2, ...leb(body.length), ...body];
  const out = new Uint8Array(imp.headerStart + section.length + (bytes.length - imp.end));
  out.set(bytes.subarray(0, imp.headerStart), 0);
  out.set(section, imp.headerStart);
  out.set(bytes.subarray(imp.end), imp.headerStart + section.length);
  return out;
}

export function signature(t: FuncType | undefined): string {
  if (!t) return '?';
  return `(${t.params.join(', ')}) -> ${t.results.length ? t.results.join(', ') : '()'}`;
}
