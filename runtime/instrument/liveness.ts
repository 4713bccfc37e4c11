/**
 * Which locals are live at each loop header of one function body: read on some path from the
 * header before being written. meter.ts uses it to spill exactly those locals to scratch globals
 * around the refill call of a loop's wrapper (see emitRefill), so that no value is live across that
 * call and TurboFan need not keep the enclosing loops' values in memory.
 *
 * A classic backward data-flow over basic blocks cut at wasm's structured control (block, loop, if,
 * else, end, branches, exits). Being an approximation in either direction is safe: saving a dead
 * local or not saving a live one changes only speed, never results, since the save and the restore
 * are exact. So the analysis may over-approximate (a call or `unreachable` does not end a block).
 */
import { Reader } from './binary.js';
import { decodeInstruction, Op, type Decoded } from './instructions.js';

/** Blocks x 32-bit words per local set above which the analysis gives up (4 MB for each of gen, kill, live). */
const MAX_WORDS = 1_000_000;
/**
 * Word operations the fixpoint may take before giving up (tens of ms). Blocks are visited in
 * reverse program order, so it settles in about (loop nesting depth + 2) passes; the largest
 * function of StarlingMonkey, wasm-tools and the splicer takes far less.
 */
const MAX_WORK = 50_000_000;

interface Frame {
  /** Where a branch to this frame's label goes: the loop header, or the block after `end`. */
  target: number;
  /** After `end`. */
  end: number;
  /** An `if`'s condition block (the else edge starts there); -1 for block and loop. */
  cond: number;
  sawElse: boolean;
}

/**
 * For the body code at bytes[codeStart, end) of a function with `localCount` locals (parameters
 * included), the live locals at each loop header, loops numbered in order of appearance; or
 * undefined when the function is too large to analyse or uses exception handling.
 */
export function liveAtLoopHeaders(bytes: Uint8Array, codeStart: number, end: number, localCount: number, funcIndex: number): number[][] | undefined {
  const words = Math.max(1, Math.ceil(localCount / 32));
  const gen: Uint32Array[] = [];
  const kill: Uint32Array[] = [];
  const succ: number[][] = [];
  const newBlock = (): number => {
    gen.push(new Uint32Array(words));
    kill.push(new Uint32Array(words));
    succ.push([]);
    return succ.length - 1;
  };
  const edge = (from: number, to: number): void => {
    succ[from]!.push(to);
  };
  const headers: number[] = [];
  /** Blocks in the order their code starts (the fixpoint visits them backwards). */
  const order: number[] = [];
  const frames: Frame[] = [];
  const target = (depth: number): number => (depth < frames.length ? frames[frames.length - 1 - depth]!.target : -1);
  const r = new Reader(bytes, codeStart, end);
  const decoded: Decoded = { memidx: 0, maxLabel: 0, catchLabels: [] };
  let cur = newBlock();
  order.push(cur);
  const enter = (b: number): void => {
    cur = b;
    order.push(b);
  };
  scan: for (;;) {
    if (succ.length * words > MAX_WORDS) return undefined;
    const at = r.pos;
    const byte = bytes[at]!;
    const op = decodeInstruction(r, decoded, funcIndex);
    switch (op) {
      case Op.Plain:
        if (byte === 0x20 || byte === 0x21 || byte === 0x22) {
          const v = new Reader(bytes, at + 1, r.pos).u32();
          const w = v >>> 5;
          const bit = 1 << (v & 31);
          if (byte === 0x20) {
            if (!(kill[cur]![w]! & bit)) gen[cur]![w]! |= bit;
          } else kill[cur]![w]! |= bit;
        } else if (byte === 0x05) {
          // else: the then-arm falls through to the end; the else-arm starts from the condition.
          const f = frames[frames.length - 1]!;
          edge(cur, f.end);
          enter(newBlock());
          edge(f.cond, cur);
          f.sawElse = true;
        } else if (byte === 0x00) {
          enter(newBlock()); // unreachable: nothing follows
        }
        break;
      case Op.Block: {
        const e = newBlock();
        if (byte === 0x04) {
          const then = newBlock();
          edge(cur, then);
          frames.push({ target: e, end: e, cond: cur, sawElse: false });
          enter(then);
        } else frames.push({ target: e, end: e, cond: -1, sawElse: false });
        break;
      }
      case Op.Loop: {
        const h = newBlock();
        edge(cur, h);
        headers.push(h);
        frames.push({ target: h, end: newBlock(), cond: -1, sawElse: false });
        enter(h);
        break;
      }
      case Op.End: {
        const f = frames.pop();
        if (!f) break scan; // the function's final end
        edge(cur, f.end);
        if (f.cond >= 0 && !f.sawElse) edge(f.cond, f.end);
        enter(f.end);
        break;
      }
      case Op.Branch: {
        const labels = byte === 0x0e ? tableLabels(bytes, at, r.pos) : [new Reader(bytes, at + 1, r.pos).u32()];
        for (const d of labels) {
          const t = target(d);
          if (t >= 0) edge(cur, t);
        }
        if (byte === 0x0c || byte === 0x0e) enter(newBlock());
        else {
          // br_if, br_on_null, br_on_non_null: may fall through.
          const next = newBlock();
          edge(cur, next);
          enter(next);
        }
        break;
      }
      case Op.Exit:
        enter(newBlock());
        break;
      case Op.Try:
      case Op.Catch:
      case Op.Delegate:
        return undefined;
      case Op.Call:
      case Op.Grow:
        break;
    }
  }

  // live_in = gen | (live_out & ~kill), live_out = union of the successors' live_in; to a fixpoint.
  const live: Uint32Array[] = gen.map((g) => g.slice());
  const out = new Uint32Array(words);
  let edges = 0;
  for (const s of succ) edges += s.length;
  let work = 0;
  for (let changed = true; changed; ) {
    changed = false;
    work += (order.length + edges) * words;
    if (work > MAX_WORK) return undefined;
    for (let o = order.length - 1; o >= 0; o--) {
      const b = order[o]!;
      out.fill(0);
      for (const s of succ[b]!) {
        const ls = live[s]!;
        for (let i = 0; i < words; i++) out[i]! |= ls[i]!;
      }
      const lb = live[b]!;
      const g = gen[b]!;
      const k = kill[b]!;
      for (let i = 0; i < words; i++) {
        const v = (g[i]! | (out[i]! & ~k[i]!)) >>> 0; // unsigned, as the Uint32Array holds it
        if (v !== lb[i]) {
          lb[i] = v;
          changed = true;
        }
      }
    }
  }
  return headers.map((h) => {
    const set: number[] = [];
    const lh = live[h]!;
    for (let v = 0; v < localCount; v++) if (lh[v >>> 5]! & (1 << (v & 31))) set.push(v);
    return set;
  });
}

/** br_table's labels (default last). */
function tableLabels(bytes: Uint8Array, at: number, end: number): number[] {
  const r = new Reader(bytes, at + 1, end);
  const n = r.u32();
  const out: number[] = [];
  for (let i = 0; i <= n; i++) out.push(r.u32());
  return out;
}
