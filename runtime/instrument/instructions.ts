/**
 * Instruction decoder: steps over one instruction and its immediates, and tells the rewriter what
 * it needs to know about it (opens a block or loop, ends one, calls, leaves the function, branches,
 * catches, is a memory.grow). It does
 * not validate: V8 validates the rewritten module when it compiles it. What it must get right is the
 * length of every immediate, for every proposal the toolchains we meet emit (MVP, sign-ext,
 * saturating conversions, bulk memory, reference types, typed function references, multi-value,
 * SIMD + relaxed SIMD, tail calls, exception handling (legacy and exnref), threads/atomics,
 * multi-memory memargs). GC (0xFB) and anything unknown fail with UNSUPPORTED_WASM.
 */
import { GatewayError } from '../errors.js';
import type { Reader } from './binary.js';

export enum Op {
  Plain = 0,
  /** block, if, try, try_table: a frame that an `end` closes. */
  Block = 1,
  Loop = 2,
  End = 3,
  /** Legacy EH `delegate`: closes a `try` frame like `end`. */
  Delegate = 4,
  /** memory.grow; the memory index is in `Decoded.memidx`. */
  Grow = 5,
  /** call, call_indirect, call_ref: control leaves and comes back. */
  Call = 6,
  /** return, return_call*, throw, rethrow, throw_ref: control leaves for good. */
  Exit = 7,
  /** br, br_if, br_table, br_on_null, br_on_non_null; the deepest label is in `Decoded.maxLabel`. */
  Branch = 8,
  /** Legacy EH catch / catch_all: control arrives from a throw. */
  Catch = 9,
  /** try or try_table: opens a frame like Block; try_table's catch labels are in `Decoded.catchLabels`. */
  Try = 10,
}

export interface Decoded {
  /** Memory index of the last memory.grow decoded. */
  memidx: number;
  /** Largest label of the last branch decoded. */
  maxLabel: number;
  /** Labels of the last try_table's catch clauses (reused between calls). */
  catchLabels: number[];
}

function unsupported(op: string, funcIndex: number, offset: number): GatewayError {
  return new GatewayError(
    'UNSUPPORTED_WASM',
    `cannot meter function ${funcIndex}: unknown or unsupported opcode ${op} at byte offset ${offset}; build the component without that wasm feature`,
  );
}

function blockType(r: Reader): void {
  const v = r.signed(33);
  // 0x63 (ref null ht) and 0x64 (ref ht) read as -29 / -28 and carry a heap type.
  if (v === -29 || v === -28) r.signed(33);
}

function memarg(r: Reader): void {
  const align = r.u32();
  if (align & 0x40) r.u32(); // multi-memory: explicit memory index
  r.u64(); // offset (u64 so memory64 offsets decode too)
}

/**
 * Decodes the instruction at `r.pos` and leaves `r.pos` after it. `funcIndex` only names the
 * function in errors.
 */
export function decodeInstruction(r: Reader, out: Decoded, funcIndex: number): Op {
  const at = r.pos;
  const op = r.byte();
  switch (op) {
    case 0x0a: // throw_ref
    case 0x0f: // return
      return Op.Exit;
    case 0x19: // catch_all
      return Op.Catch;
    case 0x00: // unreachable
    case 0x01: // nop
    case 0x05: // else
    case 0x1a: // drop
    case 0x1b: // select
    case 0xd1: // ref.is_null
    case 0xd3: // ref.eq
    case 0xd4: // ref.as_non_null
      return Op.Plain;
    case 0x02: // block
    case 0x04: // if
      blockType(r);
      return Op.Block;
    case 0x06: // try (legacy EH)
      blockType(r);
      out.catchLabels.length = 0;
      return Op.Try;
    case 0x03: // loop
      blockType(r);
      return Op.Loop;
    case 0x0b:
      return Op.End;
    case 0x18: // delegate l
      r.u32();
      return Op.Delegate;
    case 0x1f: {
      // try_table bt vec(catch)
      blockType(r);
      const n = r.u32();
      out.catchLabels.length = 0;
      for (let i = 0; i < n; i++) {
        const kind = r.byte();
        if (kind === 0x00 || kind === 0x01) r.u32(); // tag index
        else if (kind !== 0x02 && kind !== 0x03) throw unsupported(`try_table catch kind 0x${kind.toString(16)}`, funcIndex, at);
        out.catchLabels.push(r.u32());
      }
      return Op.Try;
    }
    case 0x07: // catch tag
      r.u32();
      return Op.Catch;
    case 0x08: // throw tag
    case 0x09: // rethrow l
    case 0x12: // return_call f
    case 0x15: // return_call_ref t
      r.u32();
      return Op.Exit;
    case 0x10: // call f
    case 0x14: // call_ref t
      r.u32();
      return Op.Call;
    case 0x0c: // br l
    case 0x0d: // br_if l
    case 0xd5: // br_on_null l
    case 0xd6: // br_on_non_null l
      out.maxLabel = r.u32();
      return Op.Branch;
    case 0x20: // local.get
    case 0x21: // local.set
    case 0x22: // local.tee
    case 0x23: // global.get
    case 0x24: // global.set
    case 0x25: // table.get
    case 0x26: // table.set
    case 0x3f: // memory.size mem
    case 0xd2: // ref.func f
      r.u32();
      return Op.Plain;
    case 0x40: // memory.grow mem
      out.memidx = r.u32();
      return Op.Grow;
    case 0x0e: {
      // br_table vec(l) l
      const n = r.u32();
      let max = 0;
      for (let i = 0; i <= n; i++) max = Math.max(max, r.u32());
      out.maxLabel = max;
      return Op.Branch;
    }
    case 0x11: // call_indirect type table
      r.u32();
      r.u32();
      return Op.Call;
    case 0x13: // return_call_indirect type table
      r.u32();
      r.u32();
      return Op.Exit;
    case 0x1c: {
      // select t*
      const n = r.u32();
      for (let i = 0; i < n; i++) r.valType();
      return Op.Plain;
    }
    case 0x41: // i32.const
      r.signed(32);
      return Op.Plain;
    case 0x42: // i64.const
      r.signed(64);
      return Op.Plain;
    case 0x43: // f32.const
      r.skip(4);
      return Op.Plain;
    case 0x44: // f64.const
      r.skip(8);
      return Op.Plain;
    case 0xd0: // ref.null ht
      r.signed(33);
      return Op.Plain;
    case 0xfc:
      return prefixFC(r, funcIndex, at);
    case 0xfd:
      return prefixFD(r, funcIndex, at);
    case 0xfe:
      return prefixFE(r, funcIndex, at);
    default:
      if (op >= 0x28 && op <= 0x3e) {
        memarg(r); // loads and stores
        return Op.Plain;
      }
      if (op >= 0x45 && op <= 0xc4) return Op.Plain; // numeric, incl. sign-extension 0xc0..0xc4
      throw unsupported(`0x${op.toString(16).padStart(2, '0')}`, funcIndex, at);
  }
}

/** 0xFC: saturating truncation, bulk memory, table ops. */
function prefixFC(r: Reader, funcIndex: number, at: number): Op {
  const sub = r.u32();
  switch (sub) {
    case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7: // trunc_sat
      return Op.Plain;
    case 8: // memory.init data mem
    case 10: // memory.copy mem mem
    case 12: // table.init elem table
    case 14: // table.copy table table
      r.u32();
      r.u32();
      return Op.Plain;
    case 9: // data.drop
    case 11: // memory.fill mem
    case 13: // elem.drop
    case 15: // table.grow
    case 16: // table.size
    case 17: // table.fill
      r.u32();
      return Op.Plain;
    default:
      throw unsupported(`0xfc ${sub}`, funcIndex, at);
  }
}

/** 0xFD: SIMD and relaxed SIMD. */
function prefixFD(r: Reader, funcIndex: number, at: number): Op {
  const sub = r.u32();
  if (sub <= 11 || sub === 92 || sub === 93) {
    memarg(r); // v128 loads/stores, load_splat/extend, load32_zero/load64_zero
  } else if (sub === 12 || sub === 13) {
    r.skip(16); // v128.const, i8x16.shuffle
  } else if (sub >= 21 && sub <= 34) {
    r.byte(); // extract_lane / replace_lane
  } else if (sub >= 84 && sub <= 91) {
    memarg(r); // load*_lane / store*_lane
    r.byte();
  } else if (sub > 0x113) {
    throw unsupported(`0xfd ${sub}`, funcIndex, at);
  }
  // Everything else up to 0xff, and relaxed SIMD 0x100..0x113, has no immediates.
  return Op.Plain;
}

/** 0xFE: threads / atomics. */
function prefixFE(r: Reader, funcIndex: number, at: number): Op {
  const sub = r.u32();
  if (sub === 0x03) {
    if (r.byte() !== 0) throw unsupported('atomic.fence with a non-zero flag', funcIndex, at);
    return Op.Plain;
  }
  if (sub <= 0x02 || (sub >= 0x10 && sub <= 0x4e)) {
    memarg(r);
    return Op.Plain;
  }
  throw unsupported(`0xfe ${sub}`, funcIndex, at);
}
