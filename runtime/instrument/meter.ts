/**
 * Rewrites one function body: charges fuel at the function entry and at every loop header, and
 * turns every memory.grow into a call to a helper that records failed grows.
 *
 * Cost model: each region (the function body outside its loops, or one loop body outside its
 * nested loops) is charged the number of instructions it contains, once per entry (function) or
 * per iteration (loop header). Blocks and ifs inside a region are counted whole, whether or not they
 * run: an upper bound that keeps the check count at one per region, as Wasmtime does.
 *
 * Two passes: the first decodes and records where loops and grows are and what each region costs;
 * the second copies the body, splicing the inserted code in at those positions.
 */
import { invalid, Reader, Writer } from './binary.js';
import { decodeInstruction, Op, type Decoded } from './instructions.js';

export interface MeterContext {
  /** Index of the appended i64 fuel global. */
  fuelGlobal: number;
  /** Function index of the grow helper for a memory index (creates it on first use). */
  growHelper(memidx: number): number;
}

/**
 * The inserted check: fuel -= cost; if (fuel < 0) unreachable.
 *   global.get F; i64.const C; i64.sub; global.set F;
 *   global.get F; i64.const 0; i64.lt_s; if; unreachable; end
 * V8's optimizing tier forwards the stored value to the reload, so the hot path is one load,
 * one subtract, one store and a compare-and-branch that is never taken.
 */
function emitCheck(w: Writer, fuelGlobal: number, cost: number): void {
  w.byte(0x23).u32(fuelGlobal);
  w.byte(0x42).signed(cost);
  w.byte(0x7d);
  w.byte(0x24).u32(fuelGlobal);
  w.byte(0x23).u32(fuelGlobal);
  w.byte(0x42).byte(0x00);
  w.byte(0x53);
  w.byte(0x04).byte(0x40).byte(0x00).byte(0x0b);
}

const EV_LOOP = 0;
const EV_GROW = 1;

/**
 * Appends the rewritten body (without its size prefix) of the function whose body occupies
 * bytes[start, end) to `w`.
 */
export function meterBody(bytes: Uint8Array, start: number, end: number, funcIndex: number, ctx: MeterContext, w: Writer): void {
  const r = new Reader(bytes, start, end);
  // Locals: vec of (count, valtype). Copied verbatim.
  const groups = r.u32();
  for (let i = 0; i < groups; i++) {
    r.u32();
    const t = r.byte();
    if (t === 0x63 || t === 0x64) r.signed(33);
  }
  const codeStart = r.pos;

  // Pass 1.
  const decoded: Decoded = { memidx: 0 };
  const loopCosts: number[] = [];
  /** Flat events, stride 3: kind, position, loop index or memidx. For grows, position is the opcode; the instruction is 2+ bytes. */
  const events: number[] = [];
  const growEnds: number[] = [];
  /** Per open frame: -1 for block/if/try, else the loop's index. */
  const frames: number[] = [];
  /** Open loops, innermost last. */
  const regions: number[] = [];
  let current = -1;
  let fnCost = 0;
  for (;;) {
    if (r.pos >= end) throw invalid(`function ${funcIndex} has no final end`);
    const at = r.pos;
    const op = decodeInstruction(r, decoded, funcIndex);
    if (current < 0) fnCost++;
    else loopCosts[current]!++;
    if (op === Op.Plain) continue;
    if (op === Op.Block) {
      frames.push(-1);
    } else if (op === Op.Loop) {
      const idx = loopCosts.length;
      loopCosts.push(0);
      events.push(EV_LOOP, r.pos, idx);
      frames.push(idx);
      regions.push(idx);
      current = idx;
    } else if (op === Op.End || op === Op.Delegate) {
      if (frames.length === 0) {
        if (op === Op.Delegate) throw invalid(`function ${funcIndex} has a delegate outside a try`);
        break;
      }
      if (frames.pop()! >= 0) {
        regions.pop();
        current = regions.length > 0 ? regions[regions.length - 1]! : -1;
      }
    } else if (op === Op.Grow) {
      events.push(EV_GROW, at, decoded.memidx);
      growEnds.push(r.pos);
    }
  }
  if (r.pos !== end) throw invalid(`function ${funcIndex} has bytes after its final end`);

  // Pass 2.
  w.bytes(bytes.subarray(start, codeStart));
  emitCheck(w, ctx.fuelGlobal, fnCost);
  let copied = codeStart;
  let grow = 0;
  for (let i = 0; i < events.length; i += 3) {
    const pos = events[i + 1]!;
    w.bytes(bytes.subarray(copied, pos));
    if (events[i] === EV_LOOP) {
      emitCheck(w, ctx.fuelGlobal, loopCosts[events[i + 2]!]!);
      copied = pos;
    } else {
      w.byte(0x10).u32(ctx.growHelper(events[i + 2]!));
      copied = growEnds[grow++]!;
    }
  }
  w.bytes(bytes.subarray(copied, end));
}
