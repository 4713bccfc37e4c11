/**
 * The refill of a loop nested in another loop passes the locals live at its header through scratch
 * globals (runtime/instrument/meter.ts emitRefill, liveness.ts), so that no value is live across the
 * call. These tests check which locals are passed, that every value type comes back bit for bit, and
 * that endless loops of that shape still run out of fuel and still reach the deadline check.
 */
import { describe, expect, it } from 'vitest';
import { findSection, readSections, Reader, SectionId } from '../../runtime/instrument/binary.js';
import { liveAtLoopHeaders } from '../../runtime/instrument/liveness.js';
import { FuelMeter } from '../../runtime/metering/fuel-meter.js';
import { fuelUsed, pair, wat } from './helpers.js';

/** The live locals (by index) at each loop header of the module's first function. */
function liveness(bytes: Uint8Array): number[][] | undefined {
  const code = findSection(readSections(bytes), SectionId.code)!;
  const r = new Reader(code.payload);
  r.u32(); // function count
  const size = r.u32();
  const end = r.pos + size;
  let locals = 1; // every test function here has one parameter
  for (let g = r.u32(); g > 0; g--) {
    locals += r.u32();
    r.valType();
  }
  return liveAtLoopHeaders(code.payload, r.pos, end, locals, 0);
}

/** The names of the locals a refill stores to scratch globals (index > 1: 0 is fuel, 1 the grow flag). */
async function savedLocals(bytes: Uint8Array): Promise<string[]> {
  const jco = await import('@bytecodealliance/jco');
  const text: string = await jco.print(bytes);
  const saved = [...text.matchAll(/local\.get (\$\w+)\s+global\.set (\d+)/g)].filter((m) => Number(m[2]) > 1).map((m) => m[1]!);
  const restored = [...text.matchAll(/global\.get (\d+)\s+local\.set (\$\w+)/g)].filter((m) => Number(m[1]) > 1).map((m) => m[2]!);
  expect(restored).toEqual(saved);
  return saved.sort();
}

// $tmp and $dead are written before they are read in every iteration; $n never changes.
const NEST = `(module
  (func (export "nest") (param $n i32) (result i32) (local $i i32) (local $dead i32) (local $acc i32) (local $tmp i32) (local $k i32)
    (loop $outer
      (local.set $tmp (local.get $i))
      (local.set $k (i32.const 0))
      (loop $inner
        (local.set $dead (i32.and (local.get $k) (i32.const 1)))
        (local.set $acc (i32.add (local.get $acc) (i32.add (local.get $tmp) (local.get $dead))))
        (br_if $inner (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 50))))
      (br_if $outer (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (local.get $acc)))`;

describe('live locals at loop headers', () => {
  it('are the locals read before being written on some path from the header', async () => {
    // Locals: 0 $n, 1 $i, 2 $dead, 3 $acc, 4 $tmp, 5 $k.
    expect(liveness(await wat(NEST))).toEqual([
      [0, 1, 3],
      [0, 1, 3, 4, 5],
    ]);
  });

  it('follow if/else arms, branches out of the loop and reads after it', async () => {
    // Locals: 0 $c, 1 $one (written on one arm only), 2 $both (written on both arms), 3 $after (read after the loop only), 4 $gone (read only after a branch out).
    const bytes = await wat(`(module
      (func (param $c i32) (local $one i32) (local $both i32) (local $after i32) (local $gone i32)
        (block $out
          (loop $l
            (if (local.get $c)
              (then (local.set $one (i32.const 1)) (local.set $both (i32.const 1)))
              (else (local.set $both (i32.const 2))))
            (drop (i32.add (local.get $one) (local.get $both)))
            (br_if $out (local.get $c))
            (local.set $gone (i32.const 3))
            (drop (local.get $gone))
            (br $l)))
        (drop (local.get $after))))`);
    expect(liveness(bytes)).toEqual([[0, 1, 3]]);
  });
});

describe('refills in nested loops', () => {
  it('pass exactly the live locals that the nest changes or the loop reads through globals', async () => {
    const p = await pair(await wat(NEST));
    // Inner loop: live $n $i $acc $tmp $k; $n is read only by the outer loop and never written.
    // The outer loop has no enclosing loop: its refill saves nothing.
    expect(await savedLocals(p.bytes)).toEqual(['$acc', '$i', '$k', '$tmp']);
  });

  it('give back every value type bit for bit (i32, i64, f32 and f64 NaN payloads, v128, funcref, externref)', async () => {
    const text = `(module
      (func $f (result i32) (i32.const 7))
      (elem declare func $f)
      (func (export "mix") (param $n i32) (param $ext externref) (result i64)
        (local $i i32) (local $k i32) (local $a i64) (local $fs f32) (local $fd f64) (local $v v128) (local $fr funcref) (local $e externref)
        (loop $outer
          (local.set $fs (f32.reinterpret_i32 (i32.or (i32.const 0x7fa00000) (local.get $i))))
          (local.set $fd (f64.reinterpret_i64 (i64.or (i64.const 0x7ff4000000000000) (i64.extend_i32_u (local.get $i)))))
          (local.set $fr (ref.func $f))
          (local.set $e (local.get $ext))
          (local.set $k (i32.const 0))
          (loop $inner
            (local.set $a (i64.add (i64.rotl (local.get $a) (i64.const 5))
              (i64.xor (i64.extend_i32_u (i32.reinterpret_f32 (local.get $fs))) (i64.reinterpret_f64 (local.get $fd)))))
            (local.set $v (i32x4.add (local.get $v) (i32x4.splat (local.get $k))))
            (local.set $a (i64.add (local.get $a) (i64.extend_i32_u (i32.add (ref.is_null (local.get $e)) (ref.is_null (local.get $fr))))))
            (br_if $inner (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 40))))
          (br_if $outer (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
        (i64.add (local.get $a) (i64.extend_i32_u (i32x4.extract_lane 3 (local.get $v))))))`;
    const p = await pair(await wat(text));
    expect(await savedLocals(p.bytes)).toEqual(['$a', '$e', '$fd', '$fr', '$fs', '$i', '$k', '$v']);
    const ext = { host: 'object' };
    const expected = p.plain.mix(300, ext);
    // Fuel in slices of 131: a refill (and the save and restore) every few iterations of $inner.
    const meter = new FuelMeter(Number.MAX_SAFE_INTEGER, 131);
    meter.attach(p.metered as unknown as WebAssembly.Exports, true);
    meter.begin();
    expect(p.metered.mix(300, ext)).toBe(expected);
    expect(meter.used()).toBeGreaterThan(1000 * 131);
    // Refills charge at least what one big budget is charged (a refill re-charges one loop header).
    expect(meter.used()).toBeGreaterThanOrEqual(fuelUsed(p, () => p.metered.mix(300, ext)));
    expect(p.metered.mix(300, null)).toBe(p.plain.mix(300, null));
  });

  const ENDLESS_INNER = `(module
    (func (export "spin") (param $n i32) (result i32) (local $i i32) (local $acc i32)
      (loop $outer
        (loop $inner
          (local.set $acc (i32.add (local.get $acc) (local.get $i)))
          (br $inner))
        (br_if $outer (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
      (local.get $acc)))`;

  it('an endless inner loop with live outer values still runs out of fuel', async () => {
    const p = await pair(await wat(ENDLESS_INNER));
    expect(await savedLocals(p.bytes)).toEqual(['$acc', '$i']);
    p.fuel.value = 100_000n;
    expect(() => p.metered.spin(10)).toThrow(WebAssembly.RuntimeError);
    expect(p.fuel.value as bigint).toBeLessThan(0n);
    // Under the meter: out of fuel after many refills, and the meter says so.
    const meter = new FuelMeter(5_000_000, 1000);
    meter.attach(p.metered as unknown as WebAssembly.Exports, true);
    meter.begin();
    expect(() => p.metered.spin(10)).toThrow(WebAssembly.RuntimeError);
    expect(meter.exhausted()).toBe(true);
    expect(meter.deadlineHit).toBe(false);
  });

  it('an endless inner loop with live outer values still reaches the deadline check', async () => {
    const p = await pair(await wat(ENDLESS_INNER));
    const meter = new FuelMeter(Number.MAX_SAFE_INTEGER, 1000);
    meter.attach(p.metered as unknown as WebAssembly.Exports, true);
    meter.begin(performance.now() + 30);
    expect(() => p.metered.spin(10)).toThrow(WebAssembly.RuntimeError);
    expect(meter.deadlineHit).toBe(true);
  });
});
