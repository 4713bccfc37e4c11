import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../runtime/engine.js';
import { buildWat } from '../../runtime/build/wat.js';
import { parseManifest } from '../../runtime/manifest.js';
import { FUEL_SLICE, HOST_CALL_BASE_FUEL, HOST_CALL_BYTE_FUEL, HOST_CALL_SINK_FUEL } from '../../runtime/metering/index.js';
import { ComponentHost } from '../../runtime/component/component-host.js';
import { WorkerInstance } from '../../runtime/worker/index.js';
import { OK, sensorWat, strings } from '../helpers/sensor-wat.js';
import { wellBehavedSensor } from '../helpers/components.js';
import { RecordingHost } from '../helpers/recording-host.js';

/**
 * Hardening issue: the per-event deadline stops inline components whatever their fuel, and host
 * calls cost fuel. Timings (how soon after the deadline, neighbour rates) are measured in
 * bench/isolation.bench.ts; these tests check the behaviour.
 */
let engine: Engine;
beforeAll(async () => {
  engine = new Engine({ cacheDir: join(await mkdtemp(join(tmpdir(), 'airssys-deadline-')), 'cache') });
});

const HUGE_FUEL = 1e15;
const S = { hello: 'x', long: 'y'.repeat(4000) };
const T = strings(S);

async function load(wat: string, opts: { fuel: number; deadlineMs?: number }) {
  const prepared = await engine.prepare(await buildWat(wat), { memoryMb: 16 });
  const host = new RecordingHost();
  return { inst: prepared.instantiate(host, opts), host };
}

async function neighbourStillPublishes() {
  const prepared = await engine.prepare(await wellBehavedSensor(), { memoryMb: 16 });
  const host = new RecordingHost();
  const inst = prepared.instantiate(host, { fuel: 1_000_000, deadlineMs: 100 });
  for (let i = 0; i < 3; i++) expect(inst.call('on-tick', [BigInt(i)]).ok).toBe(true);
  expect(host.published).toHaveLength(3);
}

/** A tick that counts down from n: about 6n fuel, spread over many slices when n is large. */
const counted = (n: number) =>
  sensorWat({ onTick: `(local $i i32) i32.const ${n} local.set $i (block $done (loop $l local.get $i i32.eqz br_if $done local.get $i i32.const 1 i32.sub local.set $i br $l)) ${OK}` });

describe('deadline (inline)', () => {
  it('stops an endless loop with a practically unlimited fuel budget as `deadline`, and discards the instance', async () => {
    const { inst } = await load(sensorWat({ onTick: `(loop $spin br $spin) ${OK}` }), { fuel: HUGE_FUEL, deadlineMs: 200 });
    expect(inst.call('init').ok).toBe(true);
    const outcome = inst.call('on-tick', [1n]);
    expect(outcome).toMatchObject({ ok: false, kind: 'deadline', message: expect.stringMatching(/on-tick ran past its deadline of 200 ms/) });
    expect(outcome.durationMs).toBeGreaterThanOrEqual(200);
    // It was stopped, not run to the end of its budget.
    expect(outcome.fuelUsed).toBeGreaterThan(FUEL_SLICE);
    expect(outcome.fuelUsed).toBeLessThan(HUGE_FUEL);
    expect(inst.isCrashed).toBe(true);
    expect(inst.call('on-tick', [2n])).toMatchObject({ ok: false, kind: 'deadline', message: expect.stringMatching(/discarded/) });
    await neighbourStillPublishes();
  });

  it('stops a loop that only makes host calls (the calls reach the deadline check too)', async () => {
    const { inst, host } = await load(sensorWat({ onTick: `(loop $spin call $now_ms drop br $spin) ${OK}` }), { fuel: HUGE_FUEL, deadlineMs: 150 });
    host.now = 5n;
    expect(inst.call('on-tick', [1n])).toMatchObject({ ok: false, kind: 'deadline' });
  });

  it('a deadline stops an event in init too', async () => {
    const { inst } = await load(sensorWat({ init: `(loop $spin br $spin) ${OK}` }), { fuel: HUGE_FUEL, deadlineMs: 100 });
    expect(inst.call('init')).toMatchObject({ ok: false, kind: 'deadline' });
  });

  it('fuel handed out in slices is exact: the measured cost passes, one unit less does not', async () => {
    const wat = counted(2_000_000);
    const { inst: probe } = await load(wat, { fuel: HUGE_FUEL });
    const cost = probe.call('on-tick', [0n]);
    expect(cost.ok).toBe(true);
    expect(cost.fuelUsed).toBeGreaterThan(5 * FUEL_SLICE); // spans several slices
    const { inst: enough } = await load(wat, { fuel: cost.fuelUsed, deadlineMs: 60_000 });
    expect(enough.call('on-tick', [0n])).toMatchObject({ ok: true, fuelUsed: cost.fuelUsed });
    // Every event gets the whole budget again.
    expect(enough.call('on-tick', [1n])).toMatchObject({ ok: true, fuelUsed: cost.fuelUsed });
    const { inst: short } = await load(wat, { fuel: cost.fuelUsed - 1, deadlineMs: 60_000 });
    expect(short.call('on-tick', [0n])).toMatchObject({ ok: false, kind: 'out-of-fuel' });
  });

  it('through ComponentHost: the manifest deadline applies to inline components and counts as a crash', async () => {
    const prepared = await engine.prepare(await buildWat(sensorWat({ onGpio: `(loop $spin br $spin) ${OK}` })), { memoryMb: 16 });
    const manifest = parseManifest({ name: 'spinner', version: '1.0.0', limits: { fuel: 1e12, 'deadline-ms': 150 } });
    const host = new ComponentHost({ manifest, prepared, api: new RecordingHost() });
    expect(host.start().ok).toBe(true);
    expect(host.deliver({ kind: 'tick', nowMs: 1 }).ok).toBe(true);
    expect(host.deliver({ kind: 'gpio', pin: 4, value: true, atMs: 2 })).toMatchObject({ ok: false, kind: 'deadline' });
    expect(host.stats).toMatchObject({ crashes: 1, deadlineOverruns: 1, lastFailure: { kind: 'deadline', event: 'on-gpio' } });
    expect(host.running).toBe(false);
    // A restart gets a fresh instance that works.
    expect(host.start().ok).toBe(true);
    expect(host.deliver({ kind: 'tick', nowMs: 3 }).ok).toBe(true);
  });
});

describe('host calls cost fuel', () => {
  it('each call is charged its base cost (now-ms: the plain base)', async () => {
    const calls = (n: number) => sensorWat({ onTick: `${'call $now_ms drop '.repeat(n)} ${OK}` });
    const none = (await load(calls(0), { fuel: 10_000_000 })).inst.call('on-tick', [0n]);
    const ten = (await load(calls(10), { fuel: 10_000_000 })).inst.call('on-tick', [0n]);
    expect(none.ok && ten.ok).toBe(true);
    const extra = ten.fuelUsed - none.fuelUsed;
    expect(extra).toBeGreaterThanOrEqual(10 * HOST_CALL_BASE_FUEL);
    expect(extra).toBeLessThan(10 * HOST_CALL_BASE_FUEL + 100); // plus 20 call/drop instructions
  });

  it('argument bytes are charged per byte', async () => {
    const log = (name: 'hello' | 'long') => sensorWat({ strings: S, onTick: `i32.const 2 i32.const ${T.ptr(name)} i32.const ${T.len(name)} call $log ${OK}` });
    const short = (await load(log('hello'), { fuel: 10_000_000 })).inst.call('on-tick', [0n]);
    const long = (await load(log('long'), { fuel: 10_000_000 })).inst.call('on-tick', [0n]);
    expect(short.ok && long.ok).toBe(true);
    expect(long.fuelUsed - short.fuelUsed).toBe((S.long.length - S.hello.length) * HOST_CALL_BYTE_FUEL);
  });

  it('a component calling log a million times per tick is stopped by fuel long before that', async () => {
    const flood = sensorWat({
      strings: S,
      onTick: `(local $i i32) i32.const 1000000 local.set $i
        (block $done (loop $l local.get $i i32.eqz br_if $done
          i32.const 2 i32.const ${T.ptr('hello')} i32.const ${T.len('hello')} call $log
          local.get $i i32.const 1 i32.sub local.set $i br $l)) ${OK}`,
    });
    const budget = 50_000_000; // the manifest default
    const { inst, host } = await load(flood, { fuel: budget, deadlineMs: 60_000 });
    const outcome = inst.call('on-tick', [0n]);
    expect(outcome).toMatchObject({ ok: false, kind: 'out-of-fuel' });
    expect(host.logs.length).toBeGreaterThan(0);
    expect(host.logs.length).toBeLessThanOrEqual(Math.ceil(budget / HOST_CALL_SINK_FUEL));
    await neighbourStillPublishes();
  });

  it('in a worker (isolation: worker) too: the flood is charged where the guest runs and stopped by fuel', async () => {
    const flood = sensorWat({
      strings: S,
      onTick: `(local $i i32) i32.const 1000000 local.set $i
        (block $done (loop $l local.get $i i32.eqz br_if $done
          i32.const 2 i32.const ${T.ptr('hello')} i32.const ${T.len('hello')} call $log
          local.get $i i32.const 1 i32.sub local.set $i br $l)) ${OK}`,
    });
    const prepared = await engine.prepare(await buildWat(flood), { memoryMb: 16 });
    const host = new RecordingHost();
    const budget = 10_000_000;
    const w = await WorkerInstance.start(prepared.workerSource(), host, { fuel: budget, deadlineMs: 120_000 });
    try {
      expect(await w.callAsync('on-tick', [0n])).toMatchObject({ ok: false, kind: 'out-of-fuel' });
      expect(host.logs.length).toBeGreaterThan(0);
      expect(host.logs.length).toBeLessThanOrEqual(Math.ceil(budget / HOST_CALL_SINK_FUEL));
    } finally {
      await w.terminate();
    }
  });
});
