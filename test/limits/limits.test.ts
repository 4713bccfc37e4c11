import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../runtime/engine.js';
import { GatewayError } from '../../runtime/errors.js';
import { buildWat } from '../../runtime/build/wat.js';
import { OK, errWith, sensorWat, strings } from '../helpers/sensor-wat.js';
import { wellBehavedSensor } from '../helpers/components.js';
import { RecordingHost } from '../helpers/recording-host.js';

/**
 * Issue 3: every hostile component is contained, reported with the right kind, and a
 * well-behaved component beside it keeps working. Components are WAT built at test time.
 */
let engine: Engine;
beforeAll(async () => {
  engine = new Engine({ cacheDir: join(await mkdtemp(join(tmpdir(), 'airssys-limits-')), 'cache') });
});

const S = { temp: 'temperature', oom: 'out of memory' };
const T = strings(S);

async function load(wat: string, memoryMb = 16, fuel = 5_000_000) {
  const prepared = await engine.prepare(await buildWat(wat), { memoryMb });
  const host = new RecordingHost();
  return { inst: prepared.instantiate(host, { fuel }), host, prepared };
}

async function neighbourStillPublishes() {
  const prepared = await engine.prepare(await wellBehavedSensor(), { memoryMb: 16 });
  const host = new RecordingHost();
  const inst = prepared.instantiate(host, { fuel: 1_000_000 });
  for (let i = 0; i < 3; i++) expect(inst.call('on-tick', [BigInt(i)]).ok).toBe(true);
  expect(host.published).toHaveLength(3);
}

describe('fuel', () => {
  it('stops an infinite loop in on-tick with out-of-fuel, not a generic trap', async () => {
    const { inst } = await load(sensorWat({ onTick: `(loop $spin br $spin) ${OK}` }), 16, 1_000_000);
    expect(inst.call('init').ok).toBe(true);
    const outcome = inst.call('on-tick', [1n]);
    expect(outcome).toMatchObject({ ok: false, kind: 'out-of-fuel' });
    expect(outcome.fuelUsed).toBeGreaterThanOrEqual(1_000_000);
    expect(inst.isCrashed).toBe(true);
    await neighbourStillPublishes();
  });

  it('charges fuel in proportion to the work done', async () => {
    const counted = (n: number) =>
      sensorWat({ onTick: `(local $i i32) i32.const ${n} local.set $i (block $done (loop $l local.get $i i32.eqz br_if $done local.get $i i32.const 1 i32.sub local.set $i br $l)) ${OK}` });
    const small = (await load(counted(1_000))).inst.call('on-tick', [0n]);
    const large = (await load(counted(100_000))).inst.call('on-tick', [0n]);
    expect(small.ok && large.ok).toBe(true);
    const ratio = large.fuelUsed / small.fuelUsed;
    expect(ratio).toBeGreaterThan(50);
    expect(ratio).toBeLessThan(150);
  });

  it('gives every event a fresh budget', async () => {
    const body = `(local $i i32) i32.const 20000 local.set $i (block $d (loop $l local.get $i i32.eqz br_if $d local.get $i i32.const 1 i32.sub local.set $i br $l)) ${OK}`;
    const { inst } = await load(sensorWat({ onTick: body }), 16, 200_000);
    for (let i = 0; i < 20; i++) expect(inst.call('on-tick', [0n]).ok).toBe(true);
  });
});

describe('memory', () => {
  it('memory.grow past the cap returns -1 inside the guest, which can handle it', async () => {
    const grow = `
      (block $refused (loop $more
        i32.const 16 memory.grow i32.const -1 i32.eq br_if $refused
        br $more))
      ${errWith(T.ptr('oom'), T.len('oom'))}`;
    const { inst } = await load(sensorWat({ strings: S, onTick: grow }), 4);
    const outcome = inst.call('on-tick', [0n]);
    expect(outcome).toMatchObject({ ok: false, kind: 'returned-err', message: 'out of memory' });
    expect(inst.memoryBytes()).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(inst.isCrashed).toBe(false);
  });

  it('a trap after a refused grow is reported as memory-limit', async () => {
    const grow = `(loop $more i32.const 16 memory.grow i32.const -1 i32.ne br_if $more) unreachable`;
    const { inst } = await load(sensorWat({ onTick: `${grow} ${OK}` }), 2);
    expect(inst.call('on-tick', [0n])).toMatchObject({ ok: false, kind: 'memory-limit' });
    await neighbourStillPublishes();
  });

  it('refuses at load a component whose initial memory is above the cap', async () => {
    const wasm = await buildWat(sensorWat({ memoryPages: 300 }));
    const err = await engine.prepare(wasm, { memoryMb: 16 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('MEMORY_LIMIT');
    expect((err as GatewayError).message).toMatch(/limits\.memory-mb/);
  });

  it('keeps a declared maximum that is below the cap', async () => {
    const grow = `(block $refused (loop $more i32.const 1 memory.grow i32.const -1 i32.eq br_if $refused br $more)) ${OK}`;
    const { inst } = await load(sensorWat({ onTick: grow, memoryPages: 1, memoryMaxPages: 3 }), 16);
    expect(inst.call('on-tick', [0n]).ok).toBe(true);
    expect(inst.memoryBytes()).toBe(3 * 65536);
  });
});

describe('crash containment', () => {
  it('reports deep recursion as stack-overflow', async () => {
    const { inst } = await load(sensorWat({ extra: '(func $down (param i32) (result i32) local.get 0 i32.const 1 i32.add call $down)', onTick: `i32.const 0 call $down drop ${OK}` }), 16, 1_000_000_000);
    expect(inst.call('on-tick', [0n])).toMatchObject({ ok: false, kind: 'stack-overflow' });
    await neighbourStillPublishes();
  });

  it('a pointer past the guest memory in a host call traps the guest, not the gateway', async () => {
    const { inst, host } = await load(sensorWat({ onTick: `i32.const 0x7ffffff0 i32.const 64 f64.const 1 i32.const 32 call $publish ${OK}` }));
    const outcome = inst.call('on-tick', [0n]);
    expect(outcome).toMatchObject({ ok: false, kind: 'trap' });
    expect(host.published).toEqual([]);
  });

  it('a 100 MB list is refused before any allocation (it cannot be inside a 16 MB memory)', async () => {
    const { inst, host } = await load(
      sensorWat({ strings: { port: '/dev/ttyUSB0' }, onTick: `i32.const 1024 i32.const 12 i32.const 0 i32.const ${100 * 1024 * 1024} i32.const 32 call $serial_write ${OK}` }),
    );
    const before = process.memoryUsage().arrayBuffers;
    expect(inst.call('on-tick', [0n])).toMatchObject({ ok: false, kind: 'trap' });
    expect(host.serialWrites).toEqual([]);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(50 * 1024 * 1024);
  });

  it('invalid UTF-8 from the guest arrives as replacement characters, never a crash', async () => {
    const { inst, host } = await load(sensorWat({ extra: '(data (i32.const 2000) "\\ff\\fe\\fd")', onTick: `i32.const 2000 i32.const 3 f64.const 1 i32.const 32 call $publish ${OK}` }));
    expect(inst.call('on-tick', [0n]).ok).toBe(true);
    expect(host.published[0]!.channel).toBe('\ufffd\ufffd\ufffd');
  });

  it('a host function that fails unexpectedly traps only the calling instance', async () => {
    const prepared = await engine.prepare(await wellBehavedSensor(), { memoryMb: 16 });
    const host = new RecordingHost();
    host.gpioRead = () => {
      throw new TypeError('driver bug');
    };
    const inst = prepared.instantiate(host, { fuel: 1_000_000 });
    expect(inst.call('on-tick', [0n])).toMatchObject({ ok: false, kind: 'trap', message: expect.stringMatching(/driver bug/) });
    await neighbourStillPublishes();
  });
});

describe('glue hardening', () => {
  it('rewrites every list read of the pinned jco glue into a bounds-checked view', async () => {
    const { hardenGlue } = await import('../../runtime/glue-hardening.js');
    const sample = 'var result1 = new Uint8Array(memory0.buffer.slice(ptr1, ptr1 + len1 * 1));';
    const { glue, rewrites } = hardenGlue(sample);
    expect(rewrites).toBe(1);
    const memory0 = new WebAssembly.Memory({ initial: 1 });
    const run = (ptr1: number, len1: number) => new Function('memory0', 'ptr1', 'len1', glue + ' return result1;')(memory0, ptr1, len1) as Uint8Array;
    expect(run(0, 4)).toHaveLength(4);
    expect(() => run(65530, 100)).toThrow(RangeError);
  });
});
