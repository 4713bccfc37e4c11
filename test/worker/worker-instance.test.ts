import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildWat } from '../../runtime/build/wat.js';
import { Engine } from '../../runtime/engine.js';
import { GatewayError } from '../../runtime/errors.js';
import { parseManifest } from '../../runtime/manifest.js';
import { WorkerInstance } from '../../runtime/worker/index.js';
import { ComponentHost } from '../../runtime/component/component-host.js';
import { trapsOnTick, wellBehavedSensor } from '../helpers/components.js';
import { RecordingHost } from '../helpers/recording-host.js';
import { OK, sensorWat, strings } from '../helpers/sensor-wat.js';

/**
 * `isolation: worker`: one instance per worker thread, host calls proxied synchronously to the
 * main thread, and a wall-clock deadline that terminates a runaway event.
 */
let engine: Engine;
const live: WorkerInstance[] = [];
beforeAll(async () => {
  engine = new Engine({ cacheDir: join(await mkdtemp(join(tmpdir(), 'airssys-worker-')), 'cache') });
});
afterEach(async () => {
  await Promise.all(live.splice(0).map((w) => w.terminate()));
});

const HUGE_FUEL = 1e15;

async function start(bytes: Uint8Array, host = new RecordingHost(), opts: { fuel?: number; deadlineMs?: number; memoryMb?: number } = {}) {
  const prepared = await engine.prepare(bytes, { memoryMb: opts.memoryMb ?? 16 });
  const w = await WorkerInstance.start(prepared.workerSource(), host, { fuel: opts.fuel ?? 1_000_000, deadlineMs: opts.deadlineMs ?? 5_000 });
  live.push(w);
  return { w, host, prepared };
}

const S = { temp: 'temperature', topic: 'big/out', key: 'setpoint' };
const T = strings(S);
/** Publishes `temperature` = 100 * ok/err discriminant + host-error case of the result at 32. */
const PUBLISH_RESULT = `i32.const ${T.ptr('temp')} i32.const ${T.len('temp')}
  i32.const 32 i32.load8_u f64.convert_i32_u f64.const 100 f64.mul i32.const 36 i32.load8_u f64.convert_i32_u f64.add
  i32.const 48 call $publish`;

describe('worker instance: host calls through the proxy', () => {
  it('publishes telemetry, logs and reads GPIO through the proxied HostApi', async () => {
    const host = new RecordingHost();
    host.pins.set(17, true);
    const { w } = await start(await wellBehavedSensor(), host);
    expect(await w.callAsync('init')).toMatchObject({ ok: true });
    expect(await w.callAsync('on-tick', [1n])).toMatchObject({ ok: true });
    host.pins.set(17, false);
    const tick = await w.callAsync('on-tick', [2n]);
    expect(tick.ok).toBe(true);
    expect(tick.fuelUsed).toBeGreaterThan(0);
    expect(host.logs).toEqual([{ level: 'info', message: 'sensor ready' }]);
    expect(host.published).toEqual([
      { channel: 'temperature', value: 21 },
      { channel: 'temperature', value: 20 },
    ]);
    expect(w.hostCalls).toBe(5);
    expect(w.memoryBytes()).toBe(65536);
  });

  it('carries strings, byte lists, u64 and option results both ways', async () => {
    const host = new RecordingHost();
    host.configValues = { setpoint: '21.5 °C' };
    host.now = 1_700_000_000_123n;
    const wat = sensorWat({
      strings: S,
      // on-message: forward the payload to big/out; then publish now-ms and the config value's length.
      onMessage: `i32.const ${T.ptr('topic')} i32.const ${T.len('topic')} local.get $dp local.get $dl i32.const 32 call $send
        i32.const ${T.ptr('temp')} i32.const ${T.len('temp')} call $now_ms f64.convert_i64_u i32.const 48 call $publish
        i32.const ${T.ptr('key')} i32.const ${T.len('key')} i32.const 64 call $config
        i32.const ${T.ptr('temp')} i32.const ${T.len('temp')} i32.const 72 i32.load f64.convert_i32_u i32.const 48 call $publish
        ${OK}`,
    });
    const { w } = await start(await buildWat(wat), host);
    const payload = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
    expect(await w.callAsync('on-message', ['in/topic', payload])).toMatchObject({ ok: true });
    expect(host.sent).toHaveLength(1);
    expect(host.sent[0]!.topic).toBe('big/out');
    expect([...host.sent[0]!.payload]).toEqual([...payload]);
    expect(host.published.map((p) => p.value)).toEqual([1_700_000_000_123, Buffer.byteLength('21.5 °C')]);
  });

  it('a host refusal arrives in the guest as err(host-error), not a trap', async () => {
    const host = new RecordingHost();
    host.deniedPins.add(17);
    const { w } = await start(await wellBehavedSensor(), host);
    const outcome = await w.callAsync('on-tick', [1n]);
    expect(outcome.ok).toBe(true);
    // 100 + case 0 (denied): what the guest read from its result
    expect(host.published).toEqual([{ channel: 'temperature', value: 100 }]);
    expect(w.isCrashed).toBe(false);
  });

  it('arguments larger than the host-call channel are refused with invalid in the guest', async () => {
    const host = new RecordingHost();
    const wat = sensorWat({
      strings: S,
      memoryPages: 8,
      onTick: `i32.const ${T.ptr('topic')} i32.const ${T.len('topic')} i32.const 4096 i32.const 400000 i32.const 32 call $send ${PUBLISH_RESULT} ${OK}`,
    });
    // Host calls are charged per byte of arguments (runtime/metering): 400 kB needs more than the default test budget.
    const { w } = await start(await buildWat(wat), host, { fuel: 20_000_000 });
    expect(await w.callAsync('on-tick', [1n])).toMatchObject({ ok: true });
    expect(host.sent).toEqual([]);
    // err (1) with case invalid (1)
    expect(host.published).toEqual([{ channel: 'temperature', value: 101 }]);
  });

  it('a host function that throws unexpectedly traps the guest, with the message', async () => {
    const host = new RecordingHost();
    host.gpioRead = () => {
      throw new TypeError('driver bug');
    };
    const { w } = await start(await wellBehavedSensor(), host);
    expect(await w.callAsync('on-tick', [1n])).toMatchObject({ ok: false, kind: 'trap', message: expect.stringMatching(/driver bug/) });
    expect(w.isCrashed).toBe(true);
  });
});

describe('worker instance: limits and crashes', () => {
  it('an infinite loop with a huge fuel budget is stopped by the deadline; the event loop keeps running', async () => {
    const { w, host } = await start(await buildWat(sensorWat({ strings: S, onTick: `(loop $spin br $spin) ${OK}`, onGpio: `i32.const ${T.ptr('temp')} i32.const ${T.len('temp')} f64.const 1 i32.const 48 call $publish ${OK}` })), undefined, {
      fuel: HUGE_FUEL,
      deadlineMs: 400,
    });
    let fired = 0;
    const interval = setInterval(() => fired++, 10);
    const outcome = await w.callAsync('on-tick', [1n]);
    clearInterval(interval);
    expect(outcome).toMatchObject({ ok: false, kind: 'deadline', message: expect.stringMatching(/deadline of 400 ms/) });
    expect(outcome.durationMs).toBeGreaterThanOrEqual(400);
    // The main thread was free while the guest spun: the interval kept firing.
    expect(fired).toBeGreaterThanOrEqual(5);
    expect(w.isCrashed).toBe(true);
    expect(await w.callAsync('on-gpio', [1, true, 0n])).toMatchObject({ ok: false, kind: 'deadline', message: expect.stringMatching(/discarded/) });
    expect(host.published).toEqual([]);
  });

  it('out of fuel, a trap, stack overflow and the memory limit are classified as inline', async () => {
    const spin = await start(await buildWat(sensorWat({ onTick: `(loop $spin br $spin) ${OK}` })), undefined, { fuel: 100_000 });
    expect(await spin.w.callAsync('on-tick', [1n])).toMatchObject({ ok: false, kind: 'out-of-fuel' });

    const trap = await start(await trapsOnTick());
    expect(await trap.w.callAsync('on-tick', [1n])).toMatchObject({ ok: false, kind: 'trap', message: expect.stringMatching(/unreachable/) });
    expect(trap.host.published).toHaveLength(1);

    const deep = await start(await buildWat(sensorWat({ extra: '(func $down (param i32) (result i32) local.get 0 i32.const 1 i32.add call $down)', onTick: `i32.const 0 call $down drop ${OK}` })), undefined, { fuel: 1e12 });
    expect(await deep.w.callAsync('on-tick', [1n])).toMatchObject({ ok: false, kind: 'stack-overflow' });

    const grow = await start(await buildWat(sensorWat({ onTick: `(loop $more i32.const 16 memory.grow i32.const -1 i32.ne br_if $more) unreachable ${OK}` })), undefined, { memoryMb: 2 });
    expect(await grow.w.callAsync('on-tick', [1n])).toMatchObject({ ok: false, kind: 'memory-limit' });
    expect(grow.w.memoryBytes()).toBeLessThanOrEqual(2 * 1024 * 1024);
  });

  it('a start function that traps fails instantiation with INSTANTIATE_FAILED', async () => {
    const wat = sensorWat({ extra: '(func $boom unreachable) (start $boom)' });
    const prepared = await engine.prepare(await buildWat(wat), { memoryMb: 16 });
    const err = await WorkerInstance.start(prepared.workerSource(), new RecordingHost(), { fuel: 1_000_000, deadlineMs: 1000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('INSTANTIATE_FAILED');
  });
});

describe('ComponentHost with isolation: worker', () => {
  const manifest = (extra: Record<string, unknown> = {}) => parseManifest({ name: 'spinner', version: '1.0.0', isolation: 'worker', limits: { fuel: HUGE_FUEL, 'deadline-ms': 300 }, ...extra });
  // on-gpio spins forever; on-tick publishes.
  const spinnerWat = sensorWat({ strings: S, onGpio: `(loop $spin br $spin) ${OK}`, onTick: `i32.const ${T.ptr('temp')} i32.const ${T.len('temp')} f64.const 7 i32.const 48 call $publish ${OK}` });

  it('a worker stopped at its deadline is replaced by a fresh one on restart', async () => {
    const prepared = await engine.prepare(await buildWat(spinnerWat), { memoryMb: 16 });
    const api = new RecordingHost();
    const host = new ComponentHost({ manifest: manifest(), prepared, api });
    expect(host.isolated).toBe(true);
    expect(await host.startAsync()).toMatchObject({ ok: true });
    expect(await host.deliverAsync({ kind: 'tick', nowMs: 1 })).toMatchObject({ ok: true });
    expect(await host.deliverAsync({ kind: 'gpio', pin: 4, value: true, atMs: 2 })).toMatchObject({ ok: false, kind: 'deadline' });
    expect(host.running).toBe(false);
    expect(host.stats).toMatchObject({ crashes: 1, deadlineOverruns: 1, lastFailure: { kind: 'deadline', event: 'on-gpio' } });
    expect(await host.deliverAsync({ kind: 'tick', nowMs: 3 })).toMatchObject({ ok: false, message: 'component is not running' });
    // Restart: a fresh worker, which serves again.
    expect(await host.startAsync()).toMatchObject({ ok: true });
    expect(host.running).toBe(true);
    expect(await host.deliverAsync({ kind: 'tick', nowMs: 4 })).toMatchObject({ ok: true });
    expect(api.published).toEqual([
      { channel: 'temperature', value: 7 },
      { channel: 'temperature', value: 7 },
    ]);
    await host.stop();
    expect(host.running).toBe(false);
  });

  it('replaceAsync swaps an inline version for a worker one and back', async () => {
    const prepared = await engine.prepare(await buildWat(spinnerWat), { memoryMb: 16 });
    const api = new RecordingHost();
    const inline = parseManifest({ name: 'spinner', version: '1.0.0', limits: { fuel: 1_000_000, 'deadline-ms': 300 } });
    const host = new ComponentHost({ manifest: inline, prepared, api });
    expect(host.start().ok).toBe(true);
    expect(await host.replaceAsync({ manifest: manifest({ version: '2.0.0' }), prepared, api })).toMatchObject({ ok: true });
    expect(host).toMatchObject({ version: '2.0.0', isolated: true, running: true });
    expect(await host.deliverAsync({ kind: 'gpio', pin: 4, value: true, atMs: 2 })).toMatchObject({ ok: false, kind: 'deadline' });
    expect(await host.startAsync()).toMatchObject({ ok: true });
    expect(await host.replaceAsync({ manifest: inline, prepared, api })).toMatchObject({ ok: true });
    expect(host).toMatchObject({ version: '1.0.0', isolated: false, running: true });
    // Inline again: fuel, not the deadline, stops the loop.
    expect(host.deliver({ kind: 'gpio', pin: 4, value: true, atMs: 3 })).toMatchObject({ ok: false, kind: 'out-of-fuel' });
  });
});
