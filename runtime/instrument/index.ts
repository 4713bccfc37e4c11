/**
 * Core-module instrumentation: fuel metering and a memory cap, by rewriting the binary directly
 * (no binaryen: loading it costs more than rewriting, and warm starts must not pay for it).
 *
 * Everything added is appended (a type, two globals, two exports, one grow helper per memory that
 * grows, the scratch globals of refills in nested loops: meter.ts), so no existing index shifts and nothing but function bodies, the memory section and the
 * section counts needs rewriting. Custom sections other than `name`, `producers` and
 * `target_features` are dropped: DWARF and source maps point at code offsets that move.
 */
import { GatewayError } from '../errors.js';
import { findSection, invalid, putSection, readSections, Reader, SectionId, writeModule, Writer, type Section } from './binary.js';
import { capMemorySection, checkMemoryKind, readLimits } from './memory.js';
import { meterBody } from './meter.js';

export interface InstrumentOptions {
  /** Cap on each defined memory, in 64 KiB pages. */
  memoryMaxPages: number;
  /**
   * Fuel the module starts with, before the host first sets the global: it pays for a start
   * function run during instantiation. Default DEFAULT_INITIAL_FUEL.
   */
  initialFuel?: bigint;
}

export interface InstrumentReport {
  instrumentedFunctions: number;
  memories: { initialPages: number; maxPages: number }[];
}

/** Exported mutable i64 global: remaining fuel. Set it before a call; below zero after a trap means out of fuel. */
export const FUEL_EXPORT = 'airssys_fuel';
/** Exported mutable i32 global: set to 1 when a memory.grow returned -1. */
export const GROW_FAILED_EXPORT = 'airssys_grow_failed';
/**
 * Exported one-slot funcref table. When a fuel check finds the counter below zero, the module calls
 * the function in slot 0 (if the host put one there) before deciding it is out of fuel: the host
 * hands out fuel in slices and uses these calls to top the counter up and to read the clock (the
 * per-event deadline). An empty slot means no refill: the first negative check traps, as before.
 * The function there must not call into the module: some refills keep live locals in scratch
 * globals shared by all functions (meter.ts emitRefill).
 */
export const REFILL_EXPORT = 'airssys_refill';
/** Enough for any reasonable start function (about a second of guest code on a Pi). */
export const DEFAULT_INITIAL_FUEL = 1_000_000_000n;

const KEPT_CUSTOM_SECTIONS = new Set(['name', 'producers', 'target_features']);
const GROW_TYPE = [0x60, 0x01, 0x7f, 0x01, 0x7f]; // (func (param i32) (result i32))
const VOID_TYPE = [0x60, 0x00, 0x00]; // (func)
/** Scratch global init expressions (without the end) by value type: zero or null. v128 needs SIMD, which a v128 local implies. */
const SCRATCH_INIT = new Map<number, number[]>([
  [0x7f, [0x41, 0x00]],
  [0x7e, [0x42, 0x00]],
  [0x7d, [0x43, 0, 0, 0, 0]],
  [0x7c, [0x44, 0, 0, 0, 0, 0, 0, 0, 0]],
  [0x7b, [0xfd, 0x0c, ...new Array<number>(16).fill(0)]],
  [0x70, [0xd0, 0x70]],
  [0x6f, [0xd0, 0x6f]],
]);

export function instrumentCoreModule(bytes: Uint8Array, opts: InstrumentOptions): { bytes: Uint8Array<ArrayBuffer>; report: InstrumentReport } {
  const cap = opts.memoryMaxPages;
  if (!Number.isInteger(cap) || cap < 0 || cap > 65536) {
    throw new GatewayError('INVALID_OPTIONS', `memoryMaxPages must be an integer from 0 to 65536, got ${cap}; pass the cap in 64 KiB pages`);
  }
  const initialFuel = opts.initialFuel ?? DEFAULT_INITIAL_FUEL;
  if (typeof initialFuel !== 'bigint' || initialFuel < -(1n << 63n) || initialFuel >= 1n << 63n) {
    throw new GatewayError('INVALID_OPTIONS', `initialFuel must be a bigint that fits in an i64, got ${String(initialFuel)}; pass e.g. 1_000_000_000n`);
  }
  try {
    return instrument(bytes, cap, initialFuel);
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    // Belt and braces: a decoding slip must not crash the caller with a RangeError.
    throw invalid(err instanceof Error ? err.message : String(err));
  }
}

function instrument(bytes: Uint8Array, cap: number, initialFuel: bigint): { bytes: Uint8Array<ArrayBuffer>; report: InstrumentReport } {
  const sections = readSections(bytes).filter((s) => s.id !== SectionId.custom || KEPT_CUSTOM_SECTIONS.has(s.customName!));

  const types = readTypes(findSection(sections, SectionId.type));
  const imports = readImports(findSection(sections, SectionId.import));
  const funcTypes = readFunctionTypes(findSection(sections, SectionId.function));
  const definedFuncs = funcTypes.length;
  const paramTypes = funcTypes.map((t) => {
    const p = types.paramTypes[t];
    if (p === undefined) throw invalid(`a function uses type ${t}, which does not exist`);
    return p;
  });
  const definedGlobals = countOf(findSection(sections, SectionId.global));

  // Memories.
  const memorySection = findSection(sections, SectionId.memory);
  let memories: InstrumentReport['memories'] = [];
  if (memorySection) {
    const capped = capMemorySection(memorySection.payload, cap, imports.memories);
    putSection(sections, SectionId.memory, capped.payload);
    memories = capped.memories;
  }

  // Exports: the two new names must be free.
  const exportSection = findSection(sections, SectionId.export);
  const exportNames = readExportNames(exportSection);
  for (const name of [FUEL_EXPORT, GROW_FAILED_EXPORT, REFILL_EXPORT]) {
    if (exportNames.has(name)) {
      throw new GatewayError('UNSUPPORTED_WASM', `the module already exports "${name}" (instrumented twice?); instrument the original module`);
    }
  }

  const fuelGlobal = imports.globals + definedGlobals;
  const flagGlobal = fuelGlobal + 1;
  const refillTable = imports.tables + countOf(findSection(sections, SectionId.table));

  // Appended types: reuse an existing (func) and (i32) -> i32, else append them.
  const newTypes: number[][] = [];
  let voidType = types.voidTypeIndex;
  if (voidType < 0) {
    voidType = types.count + newTypes.length;
    newTypes.push(VOID_TYPE);
  }
  let growType = types.growTypeIndex;
  // Appended functions: the refill helper first (its index is needed while metering), then one
  // grow helper per memory that grows, created as metering finds them.
  const refillFunc = imports.funcs + definedFuncs;
  const helperMemories: number[] = [];
  const helperIndex = new Map<number, number>();
  // Scratch globals (see emitRefill in meter.ts), appended after the fuel and flag globals.
  const scratchIndex = new Map<string, number>();
  const scratchEntries: Uint8Array[] = [];
  const firstHelper = refillFunc + 1;
  const ctx = {
    fuelGlobal,
    refillFunc,
    typeParams: (t: number) => {
      const p = types.paramTypes[t];
      if (p === undefined) throw invalid(`a loop uses type ${t}, which does not exist`);
      return p.length;
    },
    scratchGlobal(valType: number, k: number): number | undefined {
      const init = SCRATCH_INIT.get(valType);
      if (init === undefined) return undefined;
      const key = `${valType}:${k}`;
      let idx = scratchIndex.get(key);
      if (idx === undefined) {
        idx = flagGlobal + 1 + scratchEntries.length;
        scratchIndex.set(key, idx);
        scratchEntries.push(Uint8Array.from([valType, 0x01, ...init, 0x0b]));
      }
      return idx;
    },
    growHelper(memidx: number): number {
      let idx = helperIndex.get(memidx);
      if (idx === undefined) {
        idx = firstHelper + helperMemories.length;
        helperIndex.set(memidx, idx);
        helperMemories.push(memidx);
      }
      return idx;
    },
  };

  // Code.
  const codeSection = findSection(sections, SectionId.code);
  // The count goes in front last, once the helpers are known.
  const code = new Writer(Math.ceil((codeSection?.payload.length ?? 0) * 1.3) + 256);
  let instrumented = 0;
  if (codeSection) {
    const r = new Reader(codeSection.payload);
    const n = r.u32();
    if (n !== definedFuncs) throw invalid(`function section declares ${definedFuncs} functions but the code section has ${n}`);
    const body = new Writer(4096);
    for (let i = 0; i < n; i++) {
      const size = r.u32();
      const start = r.pos;
      r.skip(size);
      body.length = 0;
      meterBody(codeSection.payload, start, start + size, imports.funcs + i, paramTypes[i]!, ctx, body);
      instrumented++;
      code.u32(body.length).bytes(body.view());
    }
    if (!r.done) throw invalid('trailing bytes in the code section');
  } else if (definedFuncs !== 0) {
    throw invalid(`function section declares ${definedFuncs} functions but there is no code section`);
  }

  if (helperMemories.length > 0 && growType < 0) {
    growType = types.count + newTypes.length;
    newTypes.push(GROW_TYPE);
  }
  code.bytes(refillBody(refillTable, voidType, fuelGlobal));
  for (const memidx of helperMemories) code.bytes(growHelperBody(memidx, flagGlobal));

  const codePayload = new Writer(code.length + 8).u32(definedFuncs + 1 + helperMemories.length).bytes(code.view()).finish();
  putSection(sections, SectionId.code, codePayload);

  // Function section: helper signatures appended.
  const fs = findSection(sections, SectionId.function);
  putSection(sections, SectionId.function, appendEntries(fs, [new Writer(5).u32(voidType).finish(), ...helperMemories.map(() => new Writer(5).u32(growType).finish())]));
  // The refill table: funcref, one slot, no maximum (the host only ever sets slot 0).
  putSection(sections, SectionId.table, appendEntries(findSection(sections, SectionId.table), [Uint8Array.from([0x70, 0x00, 0x01])]));
  if (newTypes.length > 0) {
    putSection(sections, SectionId.type, appendEntries(findSection(sections, SectionId.type), newTypes.map((t) => Uint8Array.from(t))));
  }

  // Globals: fuel (mut i64) and the grow-failed flag (mut i32).
  const fuelEntry = new Writer(16).byte(0x7e).byte(0x01).byte(0x42).signed(initialFuel).byte(0x0b).finish();
  const flagEntry = Uint8Array.from([0x7f, 0x01, 0x41, 0x00, 0x0b]);
  putSection(sections, SectionId.global, appendEntries(findSection(sections, SectionId.global), [fuelEntry, flagEntry, ...scratchEntries]));

  const exportEntry = (name: string, global: number) => new Writer(32).name(name).byte(0x03).u32(global).finish();
  const tableExport = new Writer(32).name(REFILL_EXPORT).byte(0x01).u32(refillTable).finish();
  putSection(sections, SectionId.export, appendEntries(exportSection, [exportEntry(FUEL_EXPORT, fuelGlobal), exportEntry(GROW_FAILED_EXPORT, flagGlobal), tableExport]));

  return { bytes: writeModule(sections), report: { instrumentedFunctions: instrumented, memories } };
}

/**
 * Called by a fuel check that found the counter below zero: calls the host's refill in table slot 0
 * when there is one (it may add fuel, or leave the counter negative to stop the guest), then traps
 * if the counter is still negative. Cold path: runs once per slice of fuel, never per check.
 */
function refillBody(table: number, voidType: number, fuelGlobal: number): Uint8Array {
  const body = new Writer(48)
    .byte(0x00) // no locals
    .byte(0x41).signed(0) // i32.const 0
    .byte(0x25).u32(table) // table.get
    .byte(0xd1) // ref.is_null
    .byte(0x45) // i32.eqz
    .byte(0x04).byte(0x40) // if
    .byte(0x41).signed(0)
    .byte(0x11).u32(voidType).u32(table) // call_indirect
    .byte(0x0b)
    .byte(0x23).u32(fuelGlobal) // global.get
    .byte(0x42).byte(0x00) // i64.const 0
    .byte(0x53) // i64.lt_s
    .byte(0x04).byte(0x40)
    .byte(0x00) // unreachable
    .byte(0x0b)
    .byte(0x0b)
    .finish();
  return new Writer(body.length + 5).sized(body).finish();
}

/** memory.grow that raises the flag when it fails: (param $delta i32) (result i32). */
function growHelperBody(memidx: number, flagGlobal: number): Uint8Array {
  const body = new Writer(32)
    .byte(0x00) // no locals
    .byte(0x20).u32(0) // local.get 0
    .byte(0x40).u32(memidx) // memory.grow
    .byte(0x22).u32(0) // local.tee 0
    .byte(0x41).signed(-1)
    .byte(0x46) // i32.eq
    .byte(0x04).byte(0x40) // if
    .byte(0x41).signed(1)
    .byte(0x24).u32(flagGlobal)
    .byte(0x0b)
    .byte(0x20).u32(0)
    .byte(0x0b)
    .finish();
  return new Writer(body.length + 5).sized(body).finish();
}

/** The type index of each defined function. */
function readFunctionTypes(section: Section | undefined): number[] {
  if (!section) return [];
  const r = new Reader(section.payload);
  const n = r.u32();
  if (n > section.payload.length) throw invalid('function section count larger than the section');
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = r.u32();
  if (!r.done) throw invalid('trailing bytes in the function section');
  return out;
}

/** The vector count at the start of a section, or 0 when it is absent. */
function countOf(section: Section | undefined): number {
  return section ? new Reader(section.payload).u32() : 0;
}

/** A vector section with `entries` appended and its count raised. */
function appendEntries(section: Section | undefined, entries: Uint8Array[]): Uint8Array {
  let count = 0;
  let rest: Uint8Array = new Uint8Array(0);
  if (section) {
    const r = new Reader(section.payload);
    count = r.u32();
    rest = section.payload.subarray(r.pos);
  }
  const w = new Writer(rest.length + 64).u32(count + entries.length).bytes(rest);
  for (const e of entries) w.bytes(e);
  return w.finish();
}

/** Counts the types and finds an existing (i32) -> i32. GC type definitions are refused. */
function readTypes(section: Section | undefined): { count: number; growTypeIndex: number; voidTypeIndex: number; paramTypes: number[][] } {
  if (!section) return { count: 0, growTypeIndex: -1, voidTypeIndex: -1, paramTypes: [] };
  const r = new Reader(section.payload);
  const n = r.u32();
  let growTypeIndex = -1;
  let voidTypeIndex = -1;
  /** Per type: the first byte of each parameter's value type. */
  const paramTypes: number[][] = [];
  for (let i = 0; i < n; i++) {
    const start = r.pos;
    const form = r.byte();
    if (form !== 0x60) {
      if (form === 0x4e || form === 0x50 || form === 0x4f || form === 0x5f || form === 0x5e) {
        throw new GatewayError('UNSUPPORTED_WASM', 'the module uses wasm GC types, which the gateway cannot meter; build the component without GC');
      }
      throw invalid(`type ${i} has unknown form 0x${form.toString(16)}`);
    }
    const params = r.u32();
    if (params > section.payload.length) throw invalid(`type ${i} declares more parameters than the section has bytes`);
    const p: number[] = [];
    for (let k = params; k > 0; k--) p.push(r.valType());
    paramTypes.push(p);
    for (let k = r.u32(); k > 0; k--) r.valType();
    if (growTypeIndex < 0 && r.pos - start === GROW_TYPE.length && GROW_TYPE.every((b, j) => section.payload[start + j] === b)) {
      growTypeIndex = i;
    }
    if (voidTypeIndex < 0 && r.pos - start === VOID_TYPE.length && VOID_TYPE.every((b, j) => section.payload[start + j] === b)) {
      voidTypeIndex = i;
    }
  }
  if (!r.done) throw invalid('trailing bytes in the type section');
  return { count: n, growTypeIndex, voidTypeIndex, paramTypes };
}

/** Counts imported functions, globals and memories; refuses imported 64-bit memories. */
function readImports(section: Section | undefined): { funcs: number; tables: number; globals: number; memories: number } {
  const out = { funcs: 0, tables: 0, globals: 0, memories: 0 };
  if (!section) return out;
  const r = new Reader(section.payload);
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    const module = r.name();
    const field = r.name();
    const kind = r.byte();
    switch (kind) {
      case 0x00:
        r.u32();
        out.funcs++;
        break;
      case 0x01:
        r.valType();
        readLimits(r);
        out.tables++;
        break;
      case 0x02:
        checkMemoryKind(readLimits(r), `imported memory ${module}.${field}`);
        out.memories++;
        break;
      case 0x03:
        r.valType();
        r.byte();
        out.globals++;
        break;
      case 0x04:
        r.byte();
        r.u32();
        break;
      default:
        throw invalid(`import ${module}.${field} has unknown kind ${kind}`);
    }
  }
  if (!r.done) throw invalid('trailing bytes in the import section');
  return out;
}

function readExportNames(section: Section | undefined): Set<string> {
  const names = new Set<string>();
  if (!section) return names;
  const r = new Reader(section.payload);
  for (let n = r.u32(); n > 0; n--) {
    names.add(r.name());
    r.byte();
    r.u32();
  }
  if (!r.done) throw invalid('trailing bytes in the export section');
  return names;
}
