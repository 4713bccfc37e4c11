/** Bad input fails with a GatewayError, never with a RangeError or a hang. */
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../runtime/errors.js';
import { FUEL_EXPORT, instrumentCoreModule } from '../../runtime/instrument/index.js';
import { wat } from './helpers.js';

const SAMPLE = `(module
  (type $un (func (param i32) (result i32)))
  (memory 1 4) (table 2 funcref) (elem (i32.const 0) $a $b)
  (global $g (mut i32) (i32.const 0))
  (data "abc")
  (func $a (type $un) (i32.add (local.get 0) (global.get $g)))
  (func $b (type $un) (local i64 f32)
    (loop $l (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))
    (drop (memory.grow (i32.const 1)))
    (br_table 0 0 (local.get 0))
    (call_indirect (type $un) (local.get 0) (i32.const 0)))
  (export "a" (func $a)) (export "b" (func $b)))`;

/** Instruments, and checks that the only failure is a GatewayError. */
function outcome(bytes: Uint8Array): 'ok' | string {
  try {
    instrumentCoreModule(bytes, { memoryMaxPages: 16 });
    return 'ok';
  } catch (err) {
    if (!(err instanceof GatewayError)) throw new Error(`non-GatewayError escaped: ${String(err)}`, { cause: err });
    return err.code;
  }
}

/** Deterministic PRNG so a failure reproduces. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s;
  };
}

describe('bad input', () => {
  it('rejects garbage and empty input', () => {
    expect(outcome(new Uint8Array(0))).toBe('INVALID_WASM');
    expect(outcome(new TextEncoder().encode('not wasm at all'))).toBe('INVALID_WASM');
    const next = rng(1);
    for (let i = 0; i < 200; i++) {
      const junk = Uint8Array.from({ length: 8 + (next() % 200) }, () => next() & 0xff);
      junk.set([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]); // a valid header over garbage sections
      outcome(junk);
    }
  });

  it('rejects every truncation of a valid module with a GatewayError (or instruments a clean prefix)', async () => {
    const bytes = await wat(SAMPLE);
    for (let len = 0; len < bytes.length; len++) {
      const result = outcome(bytes.subarray(0, len));
      if (result === 'ok') {
        // Only a cut at a section boundary can be a module in its own right.
        continue;
      }
      expect(result).toBe('INVALID_WASM');
    }
  });

  it('survives random byte flips in a valid module', async () => {
    const bytes = await wat(SAMPLE);
    const next = rng(7);
    for (let i = 0; i < 2000; i++) {
      const copy = bytes.slice();
      for (let k = 0; k < 1 + (next() % 3); k++) copy[next() % copy.length] = next() & 0xff;
      outcome(copy);
    }
  });

  it('names the opcode and the function for an unknown instruction', async () => {
    const bytes = await wat('(module (func) (func (result i32) (i32.const 7)))');
    // Replace i32.const 7 (0x41 0x07) in the second body with the GC prefix 0xfb and a sub-opcode.
    const at = bytes.findIndex((b, i) => b === 0x41 && bytes[i + 1] === 0x07);
    const patched = bytes.slice();
    patched[at] = 0xfb;
    patched[at + 1] = 0x00;
    expect(() => instrumentCoreModule(patched, { memoryMaxPages: 1 })).toThrow(/opcode 0xfb.*|function 1.*0xfb/);
    try {
      instrumentCoreModule(patched, { memoryMaxPages: 1 });
    } catch (err) {
      expect((err as GatewayError).code).toBe('UNSUPPORTED_WASM');
      expect((err as GatewayError).message).toContain('function 1');
      expect((err as GatewayError).message).toContain('0xfb');
    }
  });

  it('refuses a component, and a module that already has the export names', async () => {
    const jco = await import('@bytecodealliance/jco');
    expect(outcome(Uint8Array.from([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]))).toBe('UNSUPPORTED_WASM');
    const once = instrumentCoreModule(await wat('(module (func (export "f")))'), { memoryMaxPages: 1 }).bytes;
    expect(outcome(once)).toBe('UNSUPPORTED_WASM');
    expect(outcome(await jco.parse(`(module (global (export "${FUEL_EXPORT}") i32 (i32.const 0)))`))).toBe('UNSUPPORTED_WASM');
  });
});
