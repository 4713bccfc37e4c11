/**
 * Instrumented modules validate and compute exactly what the originals compute, over programs that
 * exercise every part of the decoder and of the rewriting (loops, branches out of the function,
 * calls, tail calls, exceptions, bulk memory, SIMD, multi-value, atomics).
 */
import { describe, expect, it } from 'vitest';
import { crc32, fft, fir, tightLoop } from '../../bench/fuel-kernels.js';
import { pair, wat } from './helpers.js';
import { FuelMeter } from '../../runtime/metering/fuel-meter.js';

interface Program {
  name: string;
  wat: string;
  calls: [string, unknown[]][];
  imports?: () => WebAssembly.Imports;
  setup?: (e: Record<string, any>) => void;
}

const programs: Program[] = [
  {
    name: 'loops, nested blocks, br_table, branch to the function label',
    wat: `(module
      (func (export "mix") (param $n i32) (result i32) (local $i i32) (local $acc i32)
        (block $exit
          (loop $l
            (br_if $exit (i32.ge_u (local.get $i) (local.get $n)))
            (block $d (block $c (block $b (block $a
              (br_table $a $b $c $d (i32.rem_u (local.get $i) (i32.const 4))))
              (local.set $acc (i32.add (local.get $acc) (i32.const 1))) (br $d))
              (local.set $acc (i32.mul (local.get $acc) (i32.const 3))) (br $d))
              (local.set $acc (i32.xor (local.get $acc) (local.get $i))) (br $d))
            (local.set $acc (i32.sub (local.get $acc) (i32.const 7)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $l)))
        (local.get $acc))
      (func (export "isqrt") (param $x i32) (result i32) (local $i i32)
        (loop $l
          (if (i32.eq (i32.mul (local.get $i) (local.get $i)) (local.get $x)) (then (return (local.get $i))))
          (br_if 1 (i32.const -1) (i32.gt_u (i32.mul (local.get $i) (local.get $i)) (local.get $x)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l))
        (i32.const -2))
      (func (export "nested") (param $n i32) (result i64) (local $i i32) (local $j i32) (local $s i64)
        (loop $outer
          (local.set $j (i32.const 0))
          (loop $inner
            (local.set $s (i64.add (local.get $s) (i64.extend_i32_u (i32.mul (local.get $i) (local.get $j)))))
            (br_if $inner (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $n))))
          (br_if $outer (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
        (local.get $s)))`,
    calls: [['mix', [0]], ['mix', [1]], ['mix', [57]], ['mix', [1000]], ['isqrt', [49]], ['isqrt', [50]], ['isqrt', [0]], ['nested', [30]]],
  },
  {
    // Innermost loops without calls get a fast copy (unrolled when small) and a slow copy run after
    // a refill: branches that continue the loop, leave it for an outer block or loop, or stay
    // inside it, from every copy, including through br_table.
    name: 'small innermost loops: continue, exit two loops out, br_table',
    wat: `(module
      (func (export "scan") (param $n i32) (param $stop i32) (result i32) (local $i i32) (local $j i32) (local $acc i32)
        (block $found
          (loop $outer
            (local.set $j (i32.const 0))
            (loop $inner
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br_if $found (i32.eq (i32.add (local.get $acc) (local.get $j)) (local.get $stop)))
              (block $b
                (block $a (br_table $a $b $inner (i32.rem_u (local.get $j) (i32.const 3))))
                (local.set $acc (i32.add (local.get $acc) (local.get $j))))
              (local.set $acc (i32.xor (local.get $acc) (i32.const 5)))
              (br_if $inner (i32.lt_u (local.get $j) (local.get $n))))
            (br_if $outer (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
          (return (local.get $acc)))
        (i32.sub (i32.const 0) (local.get $acc)))
      (func (export "count") (param $n i32) (result i32) (local $c i32)
        (loop $l
          (br_if 1 (local.get $c) (i32.ge_u (local.get $c) (local.get $n)))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br $l))
        (i32.const -1)))`,
    calls: [['scan', [0, -1]], ['scan', [10, -1]], ['scan', [7, 30]], ['scan', [50, 100]], ['scan', [200, 7000]], ['count', [0]], ['count', [1]], ['count', [13]], ['count', [1000]]],
  },
  {
    name: 'call_indirect, recursion, tail calls',
    wat: `(module
      (type $un (func (param i32) (result i32)))
      (table 3 funcref)
      (elem (i32.const 0) $dbl $inc $sq)
      (func $dbl (type $un) (i32.shl (local.get 0) (i32.const 1)))
      (func $inc (type $un) (i32.add (local.get 0) (i32.const 1)))
      (func $sq (type $un) (i32.mul (local.get 0) (local.get 0)))
      (func (export "dispatch") (param $n i32) (result i32) (local $i i32) (local $acc i32)
        (local.set $acc (i32.const 1))
        (loop $l
          (local.set $acc (call_indirect (type $un) (local.get $acc) (i32.rem_u (local.get $i) (i32.const 3))))
          (local.set $acc (i32.and (local.get $acc) (i32.const 0xffff)))
          (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
        (local.get $acc))
      (func $fib (export "fib") (param $n i32) (result i32)
        (if (result i32) (i32.lt_u (local.get $n) (i32.const 2)) (then (local.get $n))
          (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1))) (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
      (func $count (export "count") (param $n i32) (param $acc i32) (result i32)
        (if (result i32) (i32.eqz (local.get $n)) (then (local.get $acc))
          (else (return_call $count (i32.sub (local.get $n) (i32.const 1)) (i32.add (local.get $acc) (i32.const 3))))))
      (func (export "count_indirect") (param $n i32) (result i32)
        (return_call_indirect (type $un) (local.get $n) (i32.const 2))))`,
    calls: [['dispatch', [1]], ['dispatch', [100]], ['fib', [20]], ['count', [100000, 0]], ['count_indirect', [9]]],
  },
  {
    name: 'bulk memory, memory.grow, sign-extension, saturating conversions',
    wat: `(module
      (memory 1 4)
      (data $d "hello, bulk memory")
      (func (export "bulk") (result i32) (local $i i32) (local $s i32)
        (memory.fill (i32.const 100) (i32.const 7) (i32.const 50))
        (memory.init $d (i32.const 200) (i32.const 0) (i32.const 18))
        (data.drop $d)
        (memory.copy (i32.const 120) (i32.const 200) (i32.const 18))
        (loop $l
          (local.set $s (i32.add (i32.mul (local.get $s) (i32.const 31)) (i32.load8_u offset=100 (local.get $i))))
          (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 150))))
        (local.get $s))
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
      (func (export "size") (result i32) (memory.size))
      (func (export "signext") (param i32) (result i32) (i32.add (i32.extend8_s (local.get 0)) (i32.extend16_s (local.get 0))))
      (func (export "sat") (param f64) (result i32) (i32.trunc_sat_f64_s (local.get 0))))`,
    calls: [['bulk', []], ['grow', [1]], ['size', []], ['grow', [10]], ['size', []], ['signext', [0x18081]], ['sat', [1e300]], ['sat', [-3.7]], ['sat', [NaN]]],
  },
  {
    name: 'SIMD',
    wat: `(module
      (memory 1)
      (func (export "fill") (param $n i32) (local $i i32)
        (loop $l
          (i32.store (i32.shl (local.get $i) (i32.const 2)) (i32.mul (local.get $i) (i32.const 7)))
          (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n)))))
      (func (export "sum") (param $n i32) (result i32) (local $i i32) (local $acc v128)
        (loop $l
          (local.set $acc (i32x4.add (local.get $acc) (v128.load (i32.shl (local.get $i) (i32.const 2)))))
          (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 4))) (local.get $n))))
        (i32.add (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
                 (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc)))))
      (func (export "shuffle") (result i32)
        (i8x16.extract_lane_u 3 (i8x16.shuffle 15 14 13 12 11 10 9 8 7 6 5 4 3 2 1 0
          (v128.const i8x16 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15) (v128.const i32x4 0 0 0 0))))
      (func (export "lanes") (result f64) (local $v v128)
        (local.set $v (v128.load32_zero offset=8 (i32.const 0)))
        (local.set $v (v128.load8_lane 5 (i32.const 12) (local.get $v)))
        (v128.store16_lane offset=400 1 (i32.const 0) (local.get $v))
        (f64x2.extract_lane 1 (f64x2.mul (f64x2.splat (f64.const 1.5))
          (f64x2.replace_lane 1 (f64x2.splat (f64.const 2)) (f64.convert_i32_u (i32.load16_u offset=400 (i32.const 0))))))))`,
    calls: [['fill', [256]], ['sum', [256]], ['shuffle', []], ['lanes', []]],
  },
  {
    name: 'multi-value blocks and functions',
    wat: `(module
      (type $pair (func (param i32 i32) (result i32 i32)))
      (func $swapadd (type $pair) (local.get 1) (i32.add (local.get 0) (local.get 1)))
      (func (export "fibpair") (param $n i32) (result i32 i32) (local $a i32) (local $b i32)
        (local.set $b (i32.const 1))
        (local.get $a) (local.get $b)
        (loop $l (param i32 i32) (result i32 i32)
          (call $swapadd)
          (br_if $l (i32.gt_s (local.tee $n (i32.sub (local.get $n) (i32.const 1))) (i32.const 0)))))
      (func (export "blockpair") (param i32) (result i32)
        (local.get 0) (i32.const 10)
        (block (type $pair) (call $swapadd))
        (block (param i32 i32) (result i32 i32) (call $swapadd))
        (i32.sub)))`,
    calls: [['fibpair', [10]], ['fibpair', [1]], ['blockpair', [5]]],
  },
  {
    name: 'reference types, atomics, legacy exceptions',
    wat: `(module
      (memory 1 1 shared)
      (table $t 4 funcref)
      (tag $oops (param i32))
      (func $f (result i32) (i32.const 11))
      (elem declare func $f)
      (func (export "refs") (result i32)
        (table.set $t (i32.const 1) (ref.func $f))
        (i32.add (ref.is_null (table.get $t (i32.const 0)))
          (select (result i32) (i32.const 5) (i32.const 6) (ref.is_null (table.get $t (i32.const 1))))))
      (func (export "atomics") (param $n i32) (result i32)
        (loop $l
          (drop (i32.atomic.rmw.add (i32.const 64) (i32.const 3)))
          (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
        (atomic.fence)
        (i32.atomic.load (i32.const 64)))
      (func $thrower (param i32) (throw $oops (local.get 0)))
      (func (export "eh") (param $n i32) (result i32) (local $s i32)
        (loop $l
          try (result i32)
            (call $thrower (local.get $n))
            (i32.const 0)
          catch $oops
          end
          (local.set $s (i32.add (local.get $s)))
          (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
        (local.get $s)))`,
    calls: [['refs', []], ['atomics', [10]], ['eh', [10]]],
  },
  {
    name: 'host imports called from a metered loop',
    wat: `(module
      (import "env" "mix" (func $mix (param i32) (result i32)))
      (global $g (import "env" "g") (mut i32))
      (func (export "run") (param $n i32) (result i32) (local $acc i32)
        (loop $l
          (local.set $acc (i32.add (local.get $acc) (call $mix (local.get $n))))
          (global.set $g (i32.add (global.get $g) (i32.const 1)))
          (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
        (i32.add (local.get $acc) (global.get $g))))`,
    imports: () => ({ env: { mix: (x: number) => (x * 2654435761) | 0, g: new WebAssembly.Global({ value: 'i32', mutable: true }, 0) } }),
    calls: [['run', [50]]],
  },
];

describe('instrumented modules compute what the originals compute', () => {
  for (const prog of programs) {
    it(prog.name, async () => {
      const p = await pair(await wat(prog.wat), { memoryMaxPages: 64 }, prog.imports);
      p.fuel.value = 1n << 40n;
      for (const [fn, args] of prog.calls) {
        const expected = p.plain[fn](...args);
        expect(p.metered[fn](...args), `${fn}(${args.join(', ')})`).toEqual(expected);
      }
      expect(p.fuel.value as bigint).toBeLessThan(1n << 40n);
    });
  }

  for (const k of [fir, crc32, fft, tightLoop]) {
    it(`bench kernel: ${k.name}`, async () => {
      const p = await pair(await wat(k.wat), { memoryMaxPages: 16 });
      k.prepare(p.plain);
      k.prepare(p.metered);
      p.fuel.value = 1n << 40n;
      expect(k.run(p.metered)).toEqual(k.run(p.plain));
      expect(k.run(p.metered)).toEqual(k.run(p.plain)); // FFT: copies its input each time, so runs repeat
    });
  }

  it('keeps the name section', async () => {
    const p = await pair(await wat('(module (func $named (export "f") (result i32) (i32.const 1)))'));
    const mod = new WebAssembly.Module(p.bytes as BufferSource);
    expect(WebAssembly.Module.customSections(mod, 'name').length).toBe(1);
  });

  it('instruments an empty module', async () => {
    const p = await pair(await wat('(module)'));
    expect(typeof p.fuel.value).toBe('bigint');
    expect(p.growFailed.value).toBe(0);
  });
});

/**
 * The same programs with fuel handed out in tiny slices, so the refill path (leave the loop through
 * its wrapper, refill, re-enter at the top; branches renumbered around the wrappers) runs inside
 * every loop many times per call. The slice must exceed the largest loop-header charge (an
 * unrolled loop charges up to 4 x 32): a refill re-enters the loop at its header, which charges again.
 */
const TINY_SLICE = 131;
describe('with fuel in tiny slices (refill inside every loop)', () => {
  const sliced = (p: Awaited<ReturnType<typeof pair>>) => {
    const meter = new FuelMeter(Number.MAX_SAFE_INTEGER, TINY_SLICE);
    meter.attach(p.metered as unknown as WebAssembly.Exports, true);
    meter.begin();
    return meter;
  };
  for (const prog of programs) {
    it(prog.name, async () => {
      const p = await pair(await wat(prog.wat), { memoryMaxPages: 64 }, prog.imports);
      const meter = sliced(p);
      for (const [fn, args] of prog.calls) {
        const expected = p.plain[fn](...args);
        expect(p.metered[fn](...args), `${fn}(${args.join(', ')})`).toEqual(expected);
      }
      expect(meter.used()).toBeGreaterThan(0);
    });
  }
  for (const k of [fir, crc32, fft, tightLoop]) {
    it(`bench kernel: ${k.name}`, async () => {
      const p = await pair(await wat(k.wat), { memoryMaxPages: 16 });
      k.prepare(p.plain);
      k.prepare(p.metered);
      const meter = sliced(p);
      expect(k.run(p.metered)).toEqual(k.run(p.plain));
      expect(k.run(p.metered)).toEqual(k.run(p.plain));
      expect(meter.used()).toBeGreaterThan(1000 * TINY_SLICE); // over a thousand refills
    });
  }
});
