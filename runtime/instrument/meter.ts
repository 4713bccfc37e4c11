/**
 * Rewrites one function body: charges fuel at the function entry and at every loop header, and
 * turns every memory.grow into a call to a helper that records failed grows.
 *
 * Cost model: each region (the function body outside its loops, or one loop body outside its
 * nested loops) is charged the number of instructions it contains, once per entry (function) or
 * per iteration (loop header). Blocks and ifs inside a region are counted whole, whether or not they
 * run: an upper bound that keeps the check count at one per region, as Wasmtime does.
 *
 * Two ways to keep the count, chosen per function:
 * - global mode (functions without loops, or with exception handling): every check does
 *   `fuel -= cost` on the exported global directly.
 * - local mode (functions with loops): like Wasmtime, the function keeps fuel in a local of its own,
 *   loaded from the global at entry, written back before every call and every way out (return,
 *   tail call, throw, branch to the function label, final end) and reloaded after every call. Loop
 *   headers then cost a register subtract and a never-taken branch, not a load and a store. Functions
 *   with try/try_table stay in global mode: a catch can land where the local is stale.
 * Either way the global is exact whenever control is outside the function, and set below zero
 * before the out-of-fuel `unreachable`.
 *
 * Two passes: the first decodes and records where loops, calls, exits and grows are and what each
 * region costs; the second copies the body, splicing the inserted code in at those positions.
 */
import { invalid, Reader, Writer } from './binary.js';
import { decodeInstruction, Op, type Decoded } from './instructions.js';

export interface MeterContext {
  /** Index of the appended i64 fuel global. */
  fuelGlobal: number;
  /** Function index of the refill helper a failing check calls (see REFILL_EXPORT). */
  refillFunc: number;
  /** Function index of the grow helper for a memory index (creates it on first use). */
  growHelper(memidx: number): number;
}

/** Event kinds recorded by pass 1, applied by pass 2 (flat array, stride 3: kind, position, argument). */
const EV_LOOP = 0; // charge a loop at position (right after the loop's block type); argument = loop index
const EV_GROW = 1; // replace the memory.grow at position; argument = memory index
const EV_SYNC = 2; // local -> global before the instruction at position
const EV_RELOAD = 3; // global -> local at position (after a call)

const I64_CONST = 0x42;
const I64_SUB = 0x7d;
const I64_LT_S = 0x53;
const GLOBAL_GET = 0x23;
const GLOBAL_SET = 0x24;
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const LOCAL_TEE = 0x22;

const CALL = 0x10;

/**
 * global mode: global.get F; i64.const C; i64.sub; global.set F; global.get F; i64.const 0; i64.lt_s;
 * if call $refill end
 * The refill helper either tops the global up (execution continues) or traps.
 */
function emitGlobalCheck(w: Writer, g: number, cost: number, refill: number): void {
  w.byte(GLOBAL_GET).u32(g).byte(I64_CONST).signed(cost).byte(I64_SUB).byte(GLOBAL_SET).u32(g);
  w.byte(GLOBAL_GET).u32(g).byte(I64_CONST).byte(0).byte(I64_LT_S);
  w.byte(0x04).byte(0x40).byte(CALL).u32(refill).byte(0x0b);
}

/**
 * local mode: (global.get F | local.get L); i64.const C; i64.sub; local.tee L; i64.const 0; i64.lt_s;
 * if local.get L; global.set F; call $refill; global.get F; local.set L end
 * The hot path (the branch not taken) is unchanged by refills: they live in the cold branch.
 */
function emitLocalCheck(w: Writer, g: number, l: number, cost: number, entry: boolean, refill: number): void {
  if (entry) w.byte(GLOBAL_GET).u32(g);
  else w.byte(LOCAL_GET).u32(l);
  w.byte(I64_CONST).signed(cost).byte(I64_SUB).byte(LOCAL_TEE).u32(l);
  w.byte(I64_CONST).byte(0).byte(I64_LT_S);
  w.byte(0x04).byte(0x40).byte(LOCAL_GET).u32(l).byte(GLOBAL_SET).u32(g);
  w.byte(CALL).u32(refill).byte(GLOBAL_GET).u32(g).byte(LOCAL_SET).u32(l).byte(0x0b);
}

/**
 * Appends the rewritten body (without its size prefix) of the function whose body occupies
 * bytes[start, end) and which has `paramCount` parameters to `w`.
 */
export function meterBody(bytes: Uint8Array, start: number, end: number, funcIndex: number, paramCount: number, ctx: MeterContext, w: Writer): void {
  const r = new Reader(bytes, start, end);
  // Locals: vec of (count, valtype).
  const groups = r.u32();
  const groupsStart = r.pos;
  let localCount = paramCount;
  for (let i = 0; i < groups; i++) {
    localCount += r.u32();
    const t = r.byte();
    if (t === 0x63 || t === 0x64) r.signed(33);
  }
  const codeStart = r.pos;

  // Pass 1.
  const decoded: Decoded = { memidx: 0, maxLabel: 0, catchLabels: [] };
  const loopCosts: number[] = [];
  const events: number[] = [];
  const growEnds: number[] = [];
  /** Per open frame: -1 for block/if/try, else the loop's index. */
  const frames: number[] = [];
  /** Open loops, innermost last. */
  const regions: number[] = [];
  let current = -1;
  let fnCost = 0;
  let usesExceptions = false;
  scan: for (;;) {
    if (r.pos >= end) throw invalid(`function ${funcIndex} has no final end`);
    const at = r.pos;
    const op = decodeInstruction(r, decoded, funcIndex);
    if (current < 0) fnCost++;
    else loopCosts[current]!++;
    switch (op) {
      case Op.Plain:
        break;
      case Op.Block:
        frames.push(-1);
        break;
      case Op.Try:
        usesExceptions = true;
        frames.push(-1);
        break;
      case Op.Loop: {
        const idx = loopCosts.length;
        loopCosts.push(0);
        events.push(EV_LOOP, r.pos, idx);
        frames.push(idx);
        regions.push(idx);
        current = idx;
        break;
      }
      case Op.End:
      case Op.Delegate:
        if (frames.length === 0) {
          if (op === Op.Delegate) throw invalid(`function ${funcIndex} has a delegate outside a try`);
          events.push(EV_SYNC, at, 0);
          break scan;
        }
        if (frames.pop()! >= 0) {
          regions.pop();
          current = regions.length > 0 ? regions[regions.length - 1]! : -1;
        }
        break;
      case Op.Grow:
        events.push(EV_GROW, at, decoded.memidx);
        growEnds.push(r.pos);
        break;
      case Op.Call:
        events.push(EV_SYNC, at, 0, EV_RELOAD, r.pos, 0);
        break;
      case Op.Exit:
        events.push(EV_SYNC, at, 0);
        break;
      case Op.Branch:
        // A branch to the function's own label is a return.
        if (decoded.maxLabel >= frames.length) events.push(EV_SYNC, at, 0);
        break;
      case Op.Catch:
        usesExceptions = true;
        break;
    }
  }
  if (r.pos !== end) throw invalid(`function ${funcIndex} has bytes after its final end`);

  // Pass 2.
  const g = ctx.fuelGlobal;
  const local = loopCosts.length > 0 && !usesExceptions;
  const l = localCount; // the new local's index: after every parameter and declared local
  if (local) {
    w.u32(groups + 1).bytes(bytes.subarray(groupsStart, codeStart)).byte(1).byte(0x7e);
    emitLocalCheck(w, g, l, fnCost, true, ctx.refillFunc);
  } else {
    w.bytes(bytes.subarray(start, codeStart));
    emitGlobalCheck(w, g, fnCost, ctx.refillFunc);
  }
  let copied = codeStart;
  let grow = 0;
  for (let i = 0; i < events.length; i += 3) {
    const kind = events[i]!;
    const pos = events[i + 1]!;
    if (!local && (kind === EV_SYNC || kind === EV_RELOAD)) continue;
    w.bytes(bytes.subarray(copied, pos));
    copied = pos;
    switch (kind) {
      case EV_LOOP:
        if (local) emitLocalCheck(w, g, l, loopCosts[events[i + 2]!]!, false, ctx.refillFunc);
        else emitGlobalCheck(w, g, loopCosts[events[i + 2]!]!, ctx.refillFunc);
        break;
      case EV_GROW:
        w.byte(0x10).u32(ctx.growHelper(events[i + 2]!));
        copied = growEnds[grow++]!;
        break;
      case EV_SYNC:
        w.byte(LOCAL_GET).u32(l).byte(GLOBAL_SET).u32(g);
        break;
      case EV_RELOAD:
        w.byte(GLOBAL_GET).u32(g).byte(LOCAL_SET).u32(l);
        break;
    }
  }
  w.bytes(bytes.subarray(copied, end));
}
