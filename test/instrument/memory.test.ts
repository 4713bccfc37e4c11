/** Memory cap: grows past the cap fail inside the guest and raise the flag; oversize modules are refused. */
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../runtime/errors.js';
import { GROW_FAILED_EXPORT, instrumentCoreModule } from '../../runtime/instrument/index.js';
import { pair, wat } from './helpers.js';

const GROWER = (mem: string) => `(module
  (memory (export "memory") ${mem})
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "grow_loop") (param $n i32) (result i32) (local $r i32)
    (loop $l
      (local.set $r (memory.grow (i32.const 1)))
      (br_if $l (select (i32.ne (local.get $r) (i32.const -1)) (i32.const 0) (local.tee $n (i32.sub (local.get $n) (i32.const 1))))))
    (local.get $r)))`;

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    return (err as GatewayError).code;
  }
  return undefined;
}

describe('memory cap', () => {
  it('lets memory.grow work within the cap and return -1 past it, raising the flag', async () => {
    const p = await pair(await wat(GROWER('1')), { memoryMaxPages: 4 });
    p.fuel.value = 1n << 40n;
    expect(p.metered.grow(2)).toBe(1);
    expect(p.growFailed.value).toBe(0);
    expect(p.metered.grow(1)).toBe(3);
    expect(p.metered.grow(1)).toBe(-1);
    expect(p.growFailed.value).toBe(1);
    expect((p.metered.memory as WebAssembly.Memory).buffer.byteLength).toBe(4 * 65536);
    // The original, uncapped, grows on.
    expect(p.plain.grow(10)).toBe(1);
  });

  it('stops an unbounded grow loop at the cap', async () => {
    const p = await pair(await wat(GROWER('1')), { memoryMaxPages: 8 });
    p.fuel.value = 1n << 40n;
    expect(p.metered.grow_loop(1_000_000)).toBe(-1);
    expect(p.growFailed.value).toBe(1);
    expect((p.metered.memory as WebAssembly.Memory).buffer.byteLength).toBe(8 * 65536);
  });

  it('caps the maximum on the module and reports it', async () => {
    const r1 = instrumentCoreModule(await wat(GROWER('2')), { memoryMaxPages: 16 });
    expect(r1.report.memories).toEqual([{ initialPages: 2, maxPages: 16 }]);
    const r2 = instrumentCoreModule(await wat(GROWER('2 100')), { memoryMaxPages: 16 });
    expect(r2.report.memories).toEqual([{ initialPages: 2, maxPages: 16 }]);
    // The JS API sees the new maximum through the exported memory's type on a fresh instance.
    const { instance } = await WebAssembly.instantiate(r2.bytes);
    expect((instance.exports.grow as (n: number) => number)(14)).toBe(2);
    expect((instance.exports.grow as (n: number) => number)(1)).toBe(-1);
  });

  it('keeps a maximum that is already below the cap', async () => {
    const { bytes, report } = instrumentCoreModule(await wat(GROWER('1 3')), { memoryMaxPages: 16 });
    expect(report.memories).toEqual([{ initialPages: 1, maxPages: 3 }]);
    const { instance } = await WebAssembly.instantiate(bytes);
    const grow = instance.exports.grow as (n: number) => number;
    expect(grow(2)).toBe(1);
    expect(grow(1)).toBe(-1);
    expect((instance.exports[GROW_FAILED_EXPORT] as WebAssembly.Global).value).toBe(1);
  });

  it('caps shared memories too', async () => {
    const { report, bytes } = instrumentCoreModule(await wat('(module (memory 1 100 shared))'), { memoryMaxPages: 10 });
    expect(report.memories).toEqual([{ initialPages: 1, maxPages: 10 }]);
    expect(WebAssembly.validate(bytes)).toBe(true);
  });

  it('refuses a module whose initial memory is above the cap', async () => {
    const bytes = await wat(GROWER('40'));
    expect(() => instrumentCoreModule(bytes, { memoryMaxPages: 32 })).toThrow(
      'component needs 2.5 MiB of initial memory, above its limit of 2 MiB; raise limits.memory-mb in the manifest or shrink the component',
    );
    expect(codeOf(() => instrumentCoreModule(bytes, { memoryMaxPages: 32 }))).toBe('MEMORY_LIMIT');
    expect(codeOf(() => instrumentCoreModule(bytes, { memoryMaxPages: 40 }))).toBeUndefined();
  });

  it('leaves imported memories alone but still tracks their failed grows', async () => {
    const bytes = await wat(`(module (import "env" "mem" (memory 1 2))
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`);
    const { bytes: out, report } = instrumentCoreModule(bytes, { memoryMaxPages: 1 });
    expect(report.memories).toEqual([]);
    const mem = new WebAssembly.Memory({ initial: 1, maximum: 2 });
    const { instance } = await WebAssembly.instantiate(out, { env: { mem } });
    const grow = instance.exports.grow as (n: number) => number;
    expect(grow(1)).toBe(1);
    expect(grow(1)).toBe(-1);
    expect((instance.exports[GROW_FAILED_EXPORT] as WebAssembly.Global).value).toBe(1);
  });

  it('handles memory.grow on a second memory (multi-memory)', async () => {
    const bytes = await wat(`(module (memory 1) (memory $b 1)
      (func (export "grow") (param i32) (result i32) (memory.grow $b (local.get 0))))`);
    const { bytes: out, report } = instrumentCoreModule(bytes, { memoryMaxPages: 4 });
    expect(report.memories).toEqual([{ initialPages: 1, maxPages: 4 }, { initialPages: 1, maxPages: 4 }]);
    // Node 20 cannot run multi-memory; check the rewrite by decoding it back.
    const jco = await import('@bytecodealliance/jco');
    const text = await jco.print(out);
    expect(text).toMatch(/memory\.grow \$b|memory\.grow 1/);
    expect(text).toContain('(memory (;0;) 1 4)');
  });

  it('refuses memory64', async () => {
    expect(codeOf(() => instrumentCoreModule(Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 4, 1]), { memoryMaxPages: 4 }))).toBe(
      'UNSUPPORTED_WASM',
    );
  });

  it('rejects a cap that is not a page count', async () => {
    const bytes = await wat('(module)');
    expect(codeOf(() => instrumentCoreModule(bytes, { memoryMaxPages: 1.5 }))).toBe('INVALID_OPTIONS');
    expect(codeOf(() => instrumentCoreModule(bytes, { memoryMaxPages: 70000 }))).toBe('INVALID_OPTIONS');
  });
});
