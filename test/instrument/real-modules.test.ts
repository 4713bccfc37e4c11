/**
 * Modules from real toolchains: AssemblyScript compiled at test time (run and compared), jco's own
 * Rust-compiled wasm-tools (run end to end, metered), and the SpiderMonkey/StarlingMonkey core
 * modules of componentize-js (instrumented and validated: they are 5-13 MB of clang output).
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { instrumentCoreModule } from '../../runtime/instrument/index.js';
import { FuelMeter } from '../../runtime/metering/fuel-meter.js';
import { fuelUsed, pair } from './helpers.js';

const AS_SOURCE = `
export function primes(n: i32): i32 {
  const sieve = new Array<bool>(n + 1);
  let count = 0;
  for (let i = 2; i <= n; i++) {
    if (sieve[i]) continue;
    count++;
    for (let j = i * i; j <= n; j += i) sieve[j] = true;
  }
  return count;
}

export function strings(n: i32): i32 {
  let s = '';
  for (let i = 0; i < n; i++) s += i.toString();
  return s.length + s.charCodeAt(n / 2);
}

export function stats(n: i32): f64 {
  const xs = new Float64Array(n);
  for (let i = 0; i < n; i++) xs[i] = Math.sin(<f64>i * 0.1) * 100.0;
  let mean = 0.0;
  for (let i = 0; i < n; i++) mean += xs[i];
  mean /= <f64>n;
  let v = 0.0;
  for (let i = 0; i < n; i++) v += (xs[i] - mean) * (xs[i] - mean);
  return Math.sqrt(v / <f64>n);
}

class Node { constructor(public value: i32, public next: Node | null) {} }
export function list(n: i32): i32 {
  let head: Node | null = null;
  for (let i = 0; i < n; i++) head = new Node(i, head);
  let sum = 0;
  while (head) { sum += head.value; head = head.next; }
  return sum;
}
`;

const SLICE = 5_000;
const compiled = new Map<string, Uint8Array<ArrayBuffer>>();

async function compileAs(runtime: string): Promise<Uint8Array<ArrayBuffer>> {
  const cached = compiled.get(runtime);
  if (cached) return cached;
  const asc = (await import('assemblyscript/asc')).default;
  const result = await asc.compileString({ 'program.ts': AS_SOURCE }, { runtime, optimizeLevel: 3, shrinkLevel: 0 });
  if (result.error || !result.binary) throw new Error(`asc failed: ${result.stderr.toString()}`);
  const binary = result.binary as Uint8Array<ArrayBuffer>;
  compiled.set(runtime, binary);
  return binary;
}

const abort = () => {
  throw new Error('abort');
};

describe('real modules', () => {
  for (const runtime of ['stub', 'incremental']) {
    it(`AssemblyScript (--runtime ${runtime}) computes the same under metering`, async () => {
      const p = await pair(await compileAs(runtime), { memoryMaxPages: 256 }, () => ({ env: { abort } }));
      p.fuel.value = 1n << 40n;
      for (const [fn, arg] of [['primes', 10000], ['strings', 300], ['stats', 1000], ['list', 5000]] as const) {
        expect(p.metered[fn](arg), fn).toEqual(p.plain[fn](arg));
      }
      expect(fuelUsed(p, () => p.metered.primes(20000))).toBeGreaterThan(fuelUsed(p, () => p.metered.primes(10000)));
    });

    it(`AssemblyScript (--runtime ${runtime}) computes the same with fuel in small slices (refills in nested loops)`, async () => {
      const p = await pair(await compileAs(runtime), { memoryMaxPages: 256 }, () => ({ env: { abort } }));
      // Small slices: refills (and their saves of live locals) all over the loops. A slice must
      // exceed the largest single charge (a function's straight-line code), hence not smaller.
      const meter = new FuelMeter(Number.MAX_SAFE_INTEGER, SLICE);
      meter.attach(p.metered as unknown as WebAssembly.Exports, true);
      meter.begin();
      for (const [fn, arg] of [['primes', 10000], ['strings', 300], ['stats', 1000], ['list', 5000]] as const) {
        expect(p.metered[fn](arg), fn).toEqual(p.plain[fn](arg));
      }
      expect(meter.used()).toBeGreaterThan(100 * SLICE);
    });
  }

  it('AssemblyScript: allocation past the memory cap fails inside the guest', async () => {
    const p = await pair(await compileAs('stub'), { memoryMaxPages: 2 }, () => ({ env: { abort } }));
    p.fuel.value = 1n << 40n;
    // 1M-element list needs ~16 MB: the stub runtime's grow fails and it aborts (or traps).
    expect(() => p.metered.list(1_000_000)).toThrow();
    expect(p.growFailed.value).toBe(1);
  });

  const jcoObj = resolve('node_modules/@bytecodealliance/jco/obj');
  it.skipIf(!existsSync(join(jcoObj, 'wasm-tools.core.wasm')))('Rust: jco wasm-tools runs metered, and stops when out of fuel', async () => {
    const jco = await import('@bytecodealliance/jco');
    const text = '(module (memory 1) (func (export "f") (param i32) (result i32) (i32.add (local.get 0) (i32.const 42))))';
    const expected = await jco.parse(text);

    const load = async (initialFuel: bigint) => {
      const dir = mkdtempSync(join(tmpdir(), 'airssys-instrument-'));
      cpSync(jcoObj, dir, { recursive: true });
      // The generated JS imports preview2-shim, which lives in jco's own node_modules.
      symlinkSync(resolve('node_modules/@bytecodealliance/jco/node_modules'), join(dir, 'node_modules'));
      for (const f of ['wasm-tools.core.wasm', 'wasm-tools.core2.wasm']) {
        const { bytes } = instrumentCoreModule(readFileSync(join(jcoObj, f)), { memoryMaxPages: 1024, initialFuel });
        writeFileSync(join(dir, f), bytes);
      }
      try {
        const mod = await import(join(dir, 'wasm-tools.js'));
        await mod.$init;
        return mod.tools as { parse(text: string): Uint8Array };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };

    // The host never sets the fuel here, so the module runs on its initial fuel.
    const generous = await load(10_000_000_000n);
    expect(generous.parse(text)).toEqual(expected);
    const starved = await load(2_000n);
    expect(() => starved.parse(text)).toThrow(WebAssembly.RuntimeError);
  });

  const cjs = resolve('node_modules/@bytecodealliance/componentize-js/lib');
  for (const file of ['starlingmonkey_embedding.wasm', 'spidermonkey-embedding-splicer.core.wasm']) {
    it.skipIf(!existsSync(join(cjs, file)))(`componentize-js ${file}: instruments and validates`, () => {
      const original = readFileSync(join(cjs, file));
      const { bytes, report } = instrumentCoreModule(original, { memoryMaxPages: 16384 });
      expect(report.instrumentedFunctions).toBeGreaterThan(1000);
      expect(report.memories.length).toBe(1);
      expect(WebAssembly.validate(bytes)).toBe(true);
    });
  }
});
