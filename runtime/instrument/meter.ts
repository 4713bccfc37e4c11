/**
 * Rewrites one function body: charges fuel at the function entry and at every loop header, and
 * turns every memory.grow into a call to a helper that records failed grows.
 *
 * Cost model: each region (the function body outside its loops, or one loop body outside its
 * nested loops) is charged the number of instructions it contains, once per entry (function) or
 * per iteration (loop header). Blocks and ifs inside a region are counted whole, whether or not they
 * run: an upper bound that keeps the check count at one per region, as Wasmtime does. Small
 * innermost loops are unrolled (UNROLL_MAX) and charged once per group of iterations.
 *
 * Two ways to keep the count, chosen per function:
 * - global mode (functions without loops, or with exception handling): every check does
 *   `fuel -= cost` on the exported global directly.
 * - local mode (functions with loops): like Wasmtime, the function keeps fuel in a local of its own,
 *   loaded from the global at entry, written back before every call and every way out (return,
 *   tail call, throw, branch to the function label, final end) and reloaded after every call. Loop
 *   headers then cost a register subtract and a never-taken branch, not a load and a store. Functions
 *   with try/try_table stay in global mode: a catch can land where the local is stale.
 * Either way the global is exact whenever control is outside the function.
 *
 * A check that finds the count below zero does not trap at once: it writes the count to the global
 * and calls the appended refill helper (index.ts), which lets the host top the count up (fuel is
 * handed out in slices; between slices the host checks the event's deadline) or traps. In local
 * mode a loop header does this from outside the loop, through a wrapper (emitLoopExitCheck), so no
 * loop contains a call it did not have. When that loop sits inside another loop, the wrapper's
 * refill passes the locals live at the loop header through scratch globals (emitRefill,
 * liveness.ts), so that no value is live across its call: otherwise TurboFan keeps the enclosing
 * loops' values in memory on their hot path too. Scratch globals are shared by all functions: no
 * guest code runs between a save and its restore (the host's refill does not call into the guest).
 *
 * Two passes: the first decodes and records where loops, calls, exits and grows are and what each
 * region costs; the second copies the body, splicing the inserted code in at those positions.
 */
import { invalid, Reader, Writer } from './binary.js';
import { decodeInstruction, Op, type Decoded } from './instructions.js';
import { liveAtLoopHeaders } from './liveness.js';

export interface MeterContext {
  /** Index of the appended i64 fuel global. */
  fuelGlobal: number;
  /** Function index of the refill helper a failing check calls (see REFILL_EXPORT). */
  refillFunc: number;
  /** Function index of the grow helper for a memory index (creates it on first use). */
  growHelper(memidx: number): number;
  /** Parameter count of a type index (a loop whose block type has parameters is not wrapped). */
  typeParams(typeIndex: number): number;
  /**
   * Index of the k-th scratch global of value type `valType` (created on first use), where a
   * wrapper's refill keeps a live local (see emitRefill); undefined for types it cannot hold.
   */
  scratchGlobal(valType: number, k: number): number | undefined;
}

/** Event kinds recorded by pass 1, applied by pass 2 (flat array, stride 3: kind, position, argument). */
const EV_LOOP = 0; // charge a loop at position (right after the loop's block type); argument = loop index
const EV_GROW = 1; // replace the memory.grow at position; argument = memory index
const EV_SYNC = 2; // local -> global before the instruction at position
const EV_RELOAD = 3; // global -> local at position (after a call)
const EV_WRAP_OPEN = 4; // open the refill wrapper before the loop opcode at position; argument = loop index
const EV_WRAP_CLOSE = 5; // close the refill wrapper after the loop's end at position; argument = loop index
const EV_BRANCH = 6; // re-encode the branch at position with shifted labels; argument = branch index
const BR = 0x0c;
const BR_IF = 0x0d;
const BR_TABLE = 0x0e;

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
 * Loop header of a wrapped loop (local mode): the cold path leaves the loop instead of calling out
 * of it: (local.get L); i64.const C; i64.sub; local.tee L; i64.const 0; i64.lt_s; br_if 1.
 *
 * Why: a call anywhere inside a loop, even in a branch that never runs, makes V8's TurboFan keep
 * the loop's values in memory around it (measured: FIR 4-7x slower, tight loop 2-4x). So each loop
 * (without block parameters) is wrapped as
 *   block BT  loop  block  <the loop, its header check doing br_if 1>  br 2  end
 *             sync; call $refill; reload; br 0  end  unreachable  end
 * The check leaves the loop for the wrapper (the operand stack is empty at a loop header), which
 * refills and re-enters the loop at its top, where the header check runs again (a refill charges
 * one header twice). Branches inside that target labels outside the loop get 3 more depth per
 * wrapper they cross.
 */
function emitLoopExitCheck(w: Writer, l: number, cost: number): void {
  w.byte(LOCAL_GET).u32(l).byte(I64_CONST).signed(cost).byte(I64_SUB).byte(LOCAL_TEE).u32(l);
  w.byte(I64_CONST).byte(0).byte(I64_LT_S).byte(BR_IF).u32(1);
}

/**
 * Small innermost loops whose body neither calls, leaves, grows nor catches are unrolled k times
 * (k <= UNROLL_MAX, when a body costs at most UNROLL_MAX_COST and the k copies fit in UNROLL_BYTES;
 * see writeUnrolledLoop in meterBody), so their header check runs once per k iterations and charges
 * k bodies: an upper bound, like blocks counted whole (a run of n iterations pays for n rounded up
 * to a multiple of k). Measured (bench/fuel.bench.ts): the check, a subtract and a
 * compare-and-branch, in FIR's 9-instruction inner loop cost 1.3-1.6x; once per 4 iterations,
 * ~1.1x. Real modules' instrumented code grows by 2-7 % of their size (docs/limits.md).
 */
const UNROLL_MAX = 4;
const UNROLL_MAX_COST = 32;
const UNROLL_BYTES = 256;

function unrollFactor(cost: number, bodyBytes: number): number {
  if (cost > UNROLL_MAX_COST) return 1;
  return Math.max(1, Math.min(UNROLL_MAX, Math.floor(UNROLL_BYTES / Math.max(bodyBytes, 1))));
}

/**
 * Refill from a loop's wrapper (local mode): local.get L; global.set F; (local.get V; global.set S)*;
 * call $refill; (global.get S; local.set V)*; global.get F; local.set L.
 *
 * `saves` (pairs: local V, scratch global S) are the locals live at the loop header, when the loop
 * sits inside another loop. Why: a value live across a call that can loop back makes TurboFan keep
 * the enclosing loops' values in memory, also on the hot path (measured on FFT: 1.21x with the
 * butterfly loop's refill as it was, 1.10x when it trapped instead, 1.09-1.10x with the live
 * locals passed through globals). Through globals, nothing is live across the call. Only the live
 * ones: saving dead locals keeps them alive into the loop (all 18 of FFT's locals: 1.27x).
 */
function emitRefill(w: Writer, g: number, l: number, refill: number, saves: readonly number[]): void {
  w.byte(LOCAL_GET).u32(l).byte(GLOBAL_SET).u32(g);
  for (let i = 0; i < saves.length; i += 2) w.byte(LOCAL_GET).u32(saves[i]!).byte(GLOBAL_SET).u32(saves[i + 1]!);
  w.byte(CALL).u32(refill);
  for (let i = 0; i < saves.length; i += 2) w.byte(GLOBAL_GET).u32(saves[i + 1]!).byte(LOCAL_SET).u32(saves[i]!);
  w.byte(GLOBAL_GET).u32(g).byte(LOCAL_SET).u32(l);
}

/**
 * At most this many locals pass through scratch globals per wrapper (the rest stay live across the
 * call: slower, still correct). Instrumented code grows by a further 2.4-4.9 % of a module's size
 * with 16 (wasm-tools, StarlingMonkey, splicer; docs/limits.md); x64 has about that many registers.
 */
const SAVE_MAX = 16;

/** Parameter count of the block type at bytes[pos..end). */
function blockTypeParams(bytes: Uint8Array, pos: number, end: number, ctx: MeterContext): number {
  const b = bytes[pos]!;
  if (b === 0x40 || b === 0x7f || b === 0x7e || b === 0x7d || b === 0x7c || b === 0x7b || b === 0x70 || b === 0x6f || b === 0x63 || b === 0x64 || (b >= 0x69 && b <= 0x74)) return 0;
  const idx = new Reader(bytes, pos, end).signed(33);
  return idx >= 0 ? ctx.typeParams(idx) : 0;
}

/** The label immediates of the branch at bytes[at] (br, br_if, br_on_null, br_on_non_null: one; br_table: all, default last). */
function branchLabels(bytes: Uint8Array, at: number, end: number): number[] {
  const r = new Reader(bytes, at + 1, end);
  if (bytes[at] === BR_TABLE) {
    const n = r.u32();
    const out: number[] = [];
    for (let i = 0; i <= n; i++) out.push(r.u32());
    return out;
  }
  return [r.u32()];
}

/**
 * Appends the rewritten body (without its size prefix) of the function whose body occupies
 * bytes[start, end) and whose parameters have the value types `paramTypes` (first byte of each) to `w`.
 */
export function meterBody(bytes: Uint8Array, start: number, end: number, funcIndex: number, paramTypes: readonly number[], ctx: MeterContext, w: Writer): void {
  const r = new Reader(bytes, start, end);
  // Locals: vec of (count, valtype). Their types by local index (first byte of the valtype), for emitRefill.
  const groups = r.u32();
  const groupsStart = r.pos;
  const localTypes: number[] = [...paramTypes];
  let localCount = paramTypes.length;
  for (let i = 0; i < groups; i++) {
    const n = r.u32();
    localCount += n;
    const t = r.valType();
    // V8 refuses more anyway; checked before the array below grows by a count read from the input.
    if (localCount > 50_000) throw invalid(`function ${funcIndex} declares more than 50000 locals`);
    for (let k = 0; k < n; k++) localTypes.push(t);
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
  /** Per open frame: whether it is a loop that gets a refill wrapper. */
  const wrappedFrames: boolean[] = [];
  const loopWrapped: boolean[] = [];
  const loopTypes: [number, number][] = [];
  const branchShifts: number[][] = [];
  const branchEnds: number[] = [];
  const branchAt: number[] = [];
  /** Per branch: its innermost loop (-1: none) and how many frames inside that loop enclose it. */
  const branchLoop: number[] = [];
  const branchDepth: number[] = [];
  /** Per loop: not to be unrolled (see UNROLL_MAX); its frame's index; where its body starts and its end is; its branches. */
  const loopBlocked: boolean[] = [];
  const loopFrame: number[] = [];
  const loopBodyStart: number[] = [];
  const loopEndAt: number[] = [];
  const loopBranches: number[][] = [];
  /** Per loop: whether it sits inside another loop (its wrapper's refill then saves live locals). */
  const loopNested: boolean[] = [];
  /** Per loop: the outermost loop around it (itself if none). */
  const loopRoot: number[] = [];
  /** Per outermost loop: the locals written anywhere inside it. Per loop: the locals read in its own body (not in nested loops). */
  const writtenIn = new Map<number, Set<number>>();
  const readIn = new Map<number, Set<number>>();
  // Only innermost loops whose body neither calls, leaves, grows nor catches are unrolled: their
  // copies then need no synchronisation of the fuel local and no handler bookkeeping.
  const blockUnroll = (): void => {
    if (regions.length > 0) loopBlocked[regions[regions.length - 1]!] = true;
  };
  scan: for (;;) {
    if (r.pos >= end) throw invalid(`function ${funcIndex} has no final end`);
    const at = r.pos;
    const op = decodeInstruction(r, decoded, funcIndex);
    if (current < 0) fnCost++;
    else loopCosts[current]!++;
    switch (op) {
      case Op.Plain:
        if (regions.length > 0 && (bytes[at] === LOCAL_GET || bytes[at] === LOCAL_SET || bytes[at] === LOCAL_TEE)) {
          const [map, key] = bytes[at] === LOCAL_GET ? [readIn, current] : [writtenIn, regions[0]!];
          let set = map.get(key);
          if (!set) map.set(key, (set = new Set()));
          set.add(new Reader(bytes, at + 1, r.pos).u32());
        }
        break;
      case Op.Block:
        frames.push(-1);
        wrappedFrames.push(false);
        break;
      case Op.Try:
        usesExceptions = true;
        blockUnroll();
        frames.push(-1);
        wrappedFrames.push(false);
        break;
      case Op.Loop: {
        const idx = loopCosts.length;
        loopCosts.push(0);
        const wrap = blockTypeParams(bytes, at + 1, r.pos, ctx) === 0;
        blockUnroll(); // the enclosing loop is not innermost
        loopNested.push(regions.length > 0);
        loopRoot.push(regions.length > 0 ? regions[0]! : idx);
        loopBlocked.push(bytes[at + 1] !== 0x40); // copies of a body with results or parameters would not chain
        loopFrame.push(frames.length);
        loopBodyStart.push(r.pos);
        loopEndAt.push(-1);
        loopBranches.push([]);
        loopWrapped.push(wrap);
        loopTypes.push([at + 1, r.pos]);
        if (wrap) events.push(EV_WRAP_OPEN, at, idx);
        events.push(EV_LOOP, r.pos, idx);
        frames.push(idx);
        wrappedFrames.push(wrap);
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
        {
          const closed = frames.pop()!;
          if (closed >= 0) loopEndAt[closed] = at;
          if (wrappedFrames.pop()) events.push(EV_WRAP_CLOSE, r.pos, closed);
          if (closed >= 0) {
            regions.pop();
            current = regions.length > 0 ? regions[regions.length - 1]! : -1;
          }
        }
        break;
      case Op.Grow:
        blockUnroll();
        events.push(EV_GROW, at, decoded.memidx);
        growEnds.push(r.pos);
        break;
      case Op.Call:
        blockUnroll();
        events.push(EV_SYNC, at, 0, EV_RELOAD, r.pos, 0);
        break;
      case Op.Exit:
        blockUnroll();
        events.push(EV_SYNC, at, 0);
        break;
      case Op.Branch: {
        // A branch to the function's own label is a return.
        if (decoded.maxLabel >= frames.length) {
          blockUnroll();
          events.push(EV_SYNC, at, 0);
        }
        // Labels beyond a wrapped loop get 3 more depth per wrapper crossed.
        const labels = branchLabels(bytes, at, r.pos);
        let shifted = false;
        const shifts = labels.map((d) => {
          let n = 0;
          for (let f = Math.max(frames.length - d, 0); f < frames.length; f++) if (wrappedFrames[f]) n += 3;
          if (n) shifted = true;
          return n;
        });
        // Every branch inside a loop is recorded: the loop may be copied (decided after pass 1).
        if (shifted || regions.length > 0) {
          const b = branchShifts.length;
          events.push(EV_BRANCH, at, b);
          branchShifts.push(shifts);
          branchEnds.push(r.pos);
          branchAt.push(at);
          const loop = regions.length > 0 ? regions[regions.length - 1]! : -1;
          branchLoop.push(loop);
          branchDepth.push(loop >= 0 ? frames.length - 1 - loopFrame[loop]! : 0);
          if (loop >= 0) loopBranches[loop]!.push(b);
        }
        break;
      }
      case Op.Catch:
        usesExceptions = true;
        blockUnroll();
        break;
    }
  }
  if (r.pos !== end) throw invalid(`function ${funcIndex} has bytes after its final end`);

  // Pass 2.
  const g = ctx.fuelGlobal;
  const local = loopCosts.length > 0 && !usesExceptions;
  const l = localCount; // the new local's index: after every parameter and declared local
  /** Per loop: the (local, scratch global) pairs its wrapper's refill passes through globals. */
  const saves: number[][] = loopCosts.map(() => []);
  if (local && loopNested.some((n, i) => n && loopWrapped[i])) {
    const live = liveAtLoopHeaders(bytes, codeStart, end, localCount, funcIndex);
    if (live) {
      loopNested.forEach((nested, i) => {
        if (!nested || !loopWrapped[i]) return;
        const perType = new Map<number, number>();
        const written = writtenIn.get(loopRoot[i]!);
        const read = readIn.get(i);
        for (const v of live[i]!) {
          if (saves[i]!.length >= 2 * SAVE_MAX) break;
          // Unchanged in the whole nest and not used by this loop itself: V8 reloads it after the
          // call, off the hot path (saving such locals only adds code).
          if (!written?.has(v) && !read?.has(v)) continue;
          const t = localTypes[v]!;
          const k = perType.get(t) ?? 0;
          const s = ctx.scratchGlobal(t, k);
          if (s === undefined) continue;
          perType.set(t, k + 1);
          saves[i]!.push(v, s);
        }
      });
    }
  }
  // Small innermost loops that neither call, leave, grow nor catch are unrolled (see UNROLL_MAX).
  const unroll = loopCosts.map((cost, i) => (local && loopWrapped[i]! && !loopBlocked[i]! ? unrollFactor(cost, loopEndAt[i]! - loopBodyStart[i]!) : 1));
  /**
   * Writes a copy of loop idx's body (without its end) with every branch's labels moved past the
   * frames inserted around it: `outer` more for labels that leave the loop (beside its wrapper
   * shifts), `cont` more for the label that continues it.
   */
  const writeBody = (idx: number, outer: number, cont: number): void => {
    let from = loopBodyStart[idx]!;
    for (const b of loopBranches[idx]!) {
      w.bytes(bytes.subarray(from, branchAt[b]!));
      writeBranch(b, outer, cont);
      from = branchEnds[b]!;
    }
    w.bytes(bytes.subarray(from, loopEndAt[idx]!));
  };
  const writeBranch = (b: number, outer: number, cont: number): void => {
    const at = branchAt[b]!;
    const labels = branchLabels(bytes, at, branchEnds[b]!);
    const shifts = branchShifts[b]!;
    const depth = branchDepth[b]!;
    const op = bytes[at]!;
    w.byte(op);
    if (op === BR_TABLE) w.u32(labels.length - 1);
    labels.forEach((d, k) => w.u32(d + shifts[k]! + (d > depth ? outer : d === depth ? cont : 0)));
  };
  /**
   * An unrolled loop (see `unroll`) with its refill wrapper, replacing `loop <body> end`:
   *   block
   *     loop $again
   *       block $cold
   *         loop  check(u * cost) br_if $cold
   *           block $x  (block <body> br $x end) x (u - 1)  <body>  end
   *         end
   *         br 2
   *       end
   *       sync; call $refill; reload; br $again
   *     end
   *     unreachable
   *   end
   * A copy but the last continues the loop by leaving its own block, whose depth is the loop's
   * old one; labels that leave the loop cross $x (and the copy's block) besides the wrapper's 3.
   */
  const writeUnrolledLoop = (idx: number): void => {
    const u = unroll[idx]!;
    w.byte(0x02).byte(0x40).byte(0x03).byte(0x40).byte(0x02).byte(0x40).byte(0x03).byte(0x40);
    emitLoopExitCheck(w, l, loopCosts[idx]! * u);
    w.byte(0x02).byte(0x40);
    for (let c = 1; c < u; c++) {
      w.byte(0x02).byte(0x40);
      writeBody(idx, 2, 0);
      w.byte(BR).u32(1).byte(0x0b);
    }
    writeBody(idx, 1, 1);
    w.byte(0x0b).byte(0x0b).byte(BR).u32(2).byte(0x0b);
    emitRefill(w, g, l, ctx.refillFunc, saves[idx]!);
    w.byte(BR).u32(0).byte(0x0b).byte(0x00).byte(0x0b);
  };
  if (local) {
    w.u32(groups + 1).bytes(bytes.subarray(groupsStart, codeStart)).byte(1).byte(0x7e);
    emitLocalCheck(w, g, l, fnCost, true, ctx.refillFunc);
  } else {
    w.bytes(bytes.subarray(start, codeStart));
    emitGlobalCheck(w, g, fnCost, ctx.refillFunc);
  }
  let copied = codeStart;
  let grow = 0;
  /** While an unrolled loop was written whole: the loop, and where its code ends (its events are done). */
  let skipLoop = -1;
  let skipUntil = -1;
  for (let i = 0; i < events.length; i += 3) {
    const kind = events[i]!;
    const pos = events[i + 1]!;
    if (pos < skipUntil || (kind === EV_WRAP_CLOSE && events[i + 2] === skipLoop)) continue;
    if (!local && (kind === EV_SYNC || kind === EV_RELOAD)) continue;
    w.bytes(bytes.subarray(copied, pos));
    copied = pos;
    if (!local && (kind === EV_WRAP_OPEN || kind === EV_WRAP_CLOSE || kind === EV_BRANCH)) continue;
    switch (kind) {
      case EV_LOOP: {
        const idx = events[i + 2]!;
        if (local && loopWrapped[idx]) emitLoopExitCheck(w, l, loopCosts[idx]!);
        else if (local) emitLocalCheck(w, g, l, loopCosts[idx]!, false, ctx.refillFunc);
        else emitGlobalCheck(w, g, loopCosts[idx]!, ctx.refillFunc);
        break;
      }
      case EV_WRAP_OPEN: {
        const idx = events[i + 2]!;
        if (unroll[idx]! > 1) {
          writeUnrolledLoop(idx);
          skipLoop = idx;
          skipUntil = copied = loopEndAt[idx]! + 1;
          break;
        }
        const [bt, btEnd] = loopTypes[idx]!;
        w.byte(0x02).bytes(bytes.subarray(bt, btEnd)).byte(0x03).byte(0x40).byte(0x02).byte(0x40);
        break;
      }
      case EV_WRAP_CLOSE:
        w.byte(BR).u32(2).byte(0x0b);
        emitRefill(w, g, l, ctx.refillFunc, saves[events[i + 2]!]!);
        w.byte(BR).u32(0).byte(0x0b).byte(0x00).byte(0x0b);
        break;
      case EV_BRANCH: {
        const b = events[i + 2]!;
        writeBranch(b, 0, 0);
        copied = branchEnds[b]!;
        break;
      }
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
