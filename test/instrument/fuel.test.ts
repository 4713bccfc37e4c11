/** Fuel: runaway code traps with the fuel global below zero; finite code pays in proportion to its work. */
import { describe, expect, it } from 'vitest';
import { fuelUsed, pair, wat } from './helpers.js';

const SUM = `(module
  (func (export "sum") (param $n i32) (result i32) (local $s i32)
    (block $b (loop $l
      (br_if $b (i32.eqz (local.get $n)))
      (local.set $s (i32.add (local.get $s) (local.get $n)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $s)))`;

function expectOutOfFuel(p: { fuel: WebAssembly.Global }, call: () => unknown): void {
  p.fuel.value = 100_000n;
  expect(call).toThrow(WebAssembly.RuntimeError);
  expect(p.fuel.value as bigint).toBeLessThan(0n);
}

describe('fuel', () => {
  it('stops an infinite loop with the fuel global below zero', async () => {
    const p = await pair(await wat('(module (func (export "spin") (loop $l (br $l))))'));
    expectOutOfFuel(p, () => p.metered.spin());
  });

  it('stops an infinite loop that calls a function every iteration', async () => {
    const p = await pair(await wat(`(module
      (func $work (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3)))
      (func (export "spin") (local $x i32) (loop $l (local.set $x (call $work (local.get $x))) (br $l))))`));
    expectOutOfFuel(p, () => p.metered.spin());
  });

  it('stops an infinite loop whose callee burns fuel and throws into a catch', async () => {
    const p = await pair(await wat(`(module
      (tag $t)
      (func $burn (local $i i32)
        (loop $l (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 50))))
        (throw $t))
      (func (export "spin") (loop $l try (call $burn) catch $t end (br $l))))`));
    expectOutOfFuel(p, () => p.metered.spin());
  });

  it('stops endless tail recursion and endless mutual recursion through call_indirect', async () => {
    const p = await pair(await wat(`(module
      (type $v (func))
      (table 1 funcref) (elem (i32.const 0) $again)
      (func $forever (export "tail") (return_call $forever))
      (func $again (export "indirect") (return_call_indirect (type $v) (i32.const 0))))`));
    expectOutOfFuel(p, () => p.metered.tail());
    expectOutOfFuel(p, () => p.metered.indirect());
  });

  it('charges fuel linearly in the work done, and exactly the same for the same work', async () => {
    const p = await pair(await wat(SUM));
    const f100 = fuelUsed(p, () => p.metered.sum(100));
    const f200 = fuelUsed(p, () => p.metered.sum(200));
    const f400 = fuelUsed(p, () => p.metered.sum(400));
    expect(f100).toBeGreaterThan(100);
    expect(f200).toBeGreaterThan(f100);
    expect(f400 - f200).toBe(2 * (f200 - f100));
    expect(fuelUsed(p, () => p.metered.sum(200))).toBe(f200);
  });

  it('charges a small innermost loop in whole groups of unrolled iterations', async () => {
    // The fast path checks once per 4 iterations of a small loop and charges 4 bodies each time.
    const p = await pair(
      await wat(`(module (func (export "spin") (param $n i32) (result i32)
        (loop $l (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1))))) (local.get $n)))`),
    );
    const spin = (n: number) => fuelUsed(p, () => p.metered.spin(n));
    expect(spin(1)).toBe(spin(4));
    expect(spin(5)).toBeGreaterThan(spin(4));
    expect(spin(5)).toBe(spin(8));
    expect(spin(12) - spin(8)).toBe(spin(8) - spin(4));
  });

  it('runs with exactly enough fuel and traps with one unit less', async () => {
    const p = await pair(await wat(SUM));
    const need = BigInt(fuelUsed(p, () => p.metered.sum(1000)));
    p.fuel.value = need;
    expect(p.metered.sum(1000)).toBe(500500);
    expect(p.fuel.value).toBe(0n);
    p.fuel.value = need - 1n;
    expect(() => p.metered.sum(1000)).toThrow(WebAssembly.RuntimeError);
    expect(p.fuel.value).toBe(-1n);
  });

  it('keeps the global current across calls out of a metered loop, and picks up host changes', async () => {
    const seen: bigint[] = [];
    let fuel: WebAssembly.Global | undefined;
    let stopAfter = Infinity;
    const imports = () => ({
      env: {
        tick: () => {
          if (!fuel) return;
          seen.push(fuel.value as bigint);
          // A host that wants the guest to stop zeroes its fuel.
          if (seen.length >= stopAfter) fuel.value = 0n;
        },
      },
    });
    const p = await pair(
      await wat(`(module (import "env" "tick" (func $tick))
        (func (export "loop") (param $n i32)
          (loop $l (call $tick) (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))`),
      { memoryMaxPages: 1 },
      imports,
    );
    fuel = p.fuel;
    p.fuel.value = 1_000_000n;
    p.metered.loop(10);
    expect(seen).toHaveLength(10);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeLessThan(seen[i - 1]!);
    expect(p.fuel.value as bigint).toBeLessThanOrEqual(seen[9]!);

    seen.length = 0;
    stopAfter = 3;
    p.fuel.value = 1_000_000n;
    expect(() => p.metered.loop(1_000_000)).toThrow(WebAssembly.RuntimeError);
    expect(seen).toHaveLength(3);
    expect(p.fuel.value as bigint).toBeLessThan(0n);
  });

  it('charges a function that returns through a branch to its own label', async () => {
    const p = await pair(await wat(`(module
      (func (export "early") (param $n i32) (result i32)
        (loop $l
          (br_if 1 (local.get $n) (i32.gt_u (local.get $n) (i32.const 100)))
          (local.set $n (i32.add (local.get $n) (i32.const 1)))
          (br $l))
        (i32.const -1)))`));
    const short = fuelUsed(p, () => p.metered.early(90));
    const long = fuelUsed(p, () => p.metered.early(0));
    expect(short).toBeGreaterThan(0);
    expect(long).toBeGreaterThan(short * 5);
  });

  it('uses the initial fuel for code run before the host sets the global', async () => {
    const start = await wat('(module (func $s (loop $l (br $l))) (start $s))');
    const { instrumentCoreModule } = await import('../../runtime/instrument/index.js');
    const { bytes } = instrumentCoreModule(start, { memoryMaxPages: 1, initialFuel: 10_000n });
    await expect(WebAssembly.instantiate(bytes)).rejects.toThrow(WebAssembly.RuntimeError);
  });
});
