/**
 * Just enough of the WebAssembly binary format to list a core module's imports and exports with
 * their function types, and to rename exports. Node 20 has no type reflection on WebAssembly.Module,
 * and checking signatures here lets the SDK name a wrong export before wit-component sees it.
 * The bytes are read with the runtime's one binary reader (runtime/instrument/binary.ts).
 */
import { findSection, invalid, putSection, Reader, readSections, SectionId, Writer, writeModule } from '../runtime/instrument/binary.js';
import { readLimits } from '../runtime/instrument/memory.js';

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

/** Imports and exports of a core module, with function signatures. */
export function readCoreModule(bytes: Uint8Array): CoreModuleInfo {
  const types: FuncType[] = [];
  const funcTypes: number[] = []; // type index per function index (imports first)
  const imports: CoreImport[] = [];
  const rawExports: { name: string; kind: CoreExport['kind']; index: number }[] = [];
  for (const s of readSections(bytes)) {
    const r = new Reader(s.payload);
    if (s.id === SectionId.type) {
      const n = r.u32();
      for (let i = 0; i < n; i++) {
        const form = r.byte();
        if (form !== 0x60) throw invalid(`unsupported type form 0x${form.toString(16)}`);
        const params = Array.from({ length: r.u32() }, () => VALTYPES[r.valType()] ?? 'unknown');
        const results = Array.from({ length: r.u32() }, () => VALTYPES[r.valType()] ?? 'unknown');
        types.push({ params, results });
      }
    } else if (s.id === SectionId.import) {
      const n = r.u32();
      for (let i = 0; i < n; i++) {
        const module = r.name();
        const name = r.name();
        const kind = KINDS[r.byte()] ?? 'func';
        const imp: CoreImport = { module, name, kind };
        if (kind === 'func') {
          const t = r.u32();
          funcTypes.push(t);
          imp.type = types[t];
        } else if (kind === 'table') {
          r.valType();
          readLimits(r);
        } else if (kind === 'memory') {
          readLimits(r);
        } else if (kind === 'global') {
          r.valType();
          r.byte();
        } else {
          r.byte();
          r.u32();
        }
        imports.push(imp);
      }
    } else if (s.id === SectionId.function) {
      const n = r.u32();
      for (let i = 0; i < n; i++) funcTypes.push(r.u32());
    } else if (s.id === SectionId.export) {
      const n = r.u32();
      for (let i = 0; i < n; i++) {
        const name = r.name();
        const kind = KINDS[r.byte()] ?? 'func';
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

/** Returns a copy of the module with exports renamed (AssemblyScript cannot spell `on-tick`). */
export function renameExports(bytes: Uint8Array, rename: (name: string) => string): Uint8Array {
  const sections = readSections(bytes);
  const exp = findSection(sections, SectionId.export);
  if (!exp) return bytes;
  const r = new Reader(exp.payload);
  const n = r.u32();
  const w = new Writer(exp.payload.length + 64).u32(n);
  for (let i = 0; i < n; i++) {
    const name = rename(r.name());
    w.name(name).byte(r.byte()).u32(r.u32());
  }
  putSection(sections, SectionId.export, w.finish());
  return writeModule(sections);
}

/**
 * Returns a copy of the module with import module names renamed; the rest of each import (its
 * field name and type) is copied byte for byte. The SDK declares the 0.1.0 interfaces once and
 * moves them to the world version a component targets (a component imports one version only).
 */
export function renameImportModules(bytes: Uint8Array, rename: (module: string) => string): Uint8Array {
  const sections = readSections(bytes);
  const imp = findSection(sections, SectionId.import);
  if (!imp) return bytes;
  const r = new Reader(imp.payload);
  const n = r.u32();
  const w = new Writer(imp.payload.length + 64).u32(n);
  for (let i = 0; i < n; i++) {
    const module = rename(r.name());
    const rest = r.pos;
    r.name();
    const kind = r.byte();
    if (kind === 0) r.u32();
    else if (kind === 1) (r.valType(), readLimits(r));
    else if (kind === 2) readLimits(r);
    else if (kind === 3) (r.valType(), r.byte());
    else (r.byte(), r.u32());
    w.name(module).bytes(imp.payload.subarray(rest, r.pos));
  }
  putSection(sections, SectionId.import, w.finish());
  return writeModule(sections);
}

export function signature(t: FuncType | undefined): string {
  if (!t) return '?';
  return `(${t.params.join(', ')}) -> ${t.results.length ? t.results.join(', ') : '()'}`;
}
