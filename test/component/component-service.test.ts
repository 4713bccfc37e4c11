import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetrySample } from '../../drivers/pipeline/host-calls.js';
import { createSimBoard } from '../../drivers/sim-board.js';
import { ComponentService } from '../../gateway/component/component-service.js';
import { buildWat } from '../../runtime/build/wat.js';
import { Engine } from '../../runtime/engine.js';
import { Bus } from '../../runtime/bus/bus.js';
import { parseManifest } from '../../runtime/manifest.js';
import type { LifecycleEvent } from '../../runtime/supervision/types.js';
import { OK, errWith, sensorWat, strings } from '../helpers/sensor-wat.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Version swaps on a running component service (what OTA activation and rollback use): a swap
 * whose init fails changes nothing; a forced swap (a rollback whose own init fails) leaves the
 * previous version current, and supervision restarts that version, never the one rolled back.
 */
const S = { temp: 'temperature', no: 'init refused' };
const T = strings(S);
const publish = (v: number) => `i32.const ${T.ptr('temp')} i32.const ${T.len('temp')} f64.const ${v} i32.const 32 call $publish ${OK}`;

let engine: Engine;
let service: ComponentService | undefined;
beforeAll(async () => {
  engine = new Engine({ cacheDir: join(await mkdtemp(join(tmpdir(), 'airssys-svc-')), 'cache') });
});
afterEach(async () => {
  await service?.stop();
  service = undefined;
});

const manifest = (version: string) =>
  parseManifest({ name: 'meter', version, 'tick-ms': 20, capabilities: { gpio: { read: [17] }, telemetry: ['temperature'] }, restart: { policy: 'permanent', intensity: 50, 'period-ms': 60_000 } });
const board = createSimBoard();

async function start(wat: string) {
  const telemetry: number[] = [];
  const lifecycle: LifecycleEvent[] = [];
  service = new ComponentService({
    manifest: manifest('1.0.0'),
    prepared: await engine.prepare(await buildWat(wat), { memoryMb: 16 }),
    board,
    sinks: { telemetry: (_c: string, s: TelemetrySample) => void telemetry.push((s as { value: number }).value), message: () => {}, log: () => {} },
    onLifecycle: (e) => void lifecycle.push(e),
    backoff: { baseMs: 5, maxMs: 20 },
  });
  await service.start();
  return { svc: service, telemetry, lifecycle };
}

describe('ComponentService.swap and the bus', () => {
  it('re-subscribes to the new version\'s messaging.receive: narrowed topics stop, new ones arrive', async () => {
    const bus = new Bus<Uint8Array>();
    const got: number[] = [];
    const m = (version: string, receive: string[]) => parseManifest({ name: 'listener', version, capabilities: { telemetry: ['temperature'], messaging: { receive } } });
    // on-message publishes the payload's length.
    const wat = sensorWat({ strings: S, onMessage: `i32.const ${T.ptr('temp')} i32.const ${T.len('temp')} local.get $dl f64.convert_i32_u i32.const 32 call $publish ${OK}` });
    const prepared = await engine.prepare(await buildWat(wat), { memoryMb: 16 });
    service = new ComponentService({
      manifest: m('1.0.0', ['a/#']),
      prepared,
      board,
      bus,
      sinks: { telemetry: (_c: string, s: TelemetrySample) => void got.push((s as { value: number }).value), message: () => {}, log: () => {} },
    });
    await service.start();
    bus.publish('other', 'a/x', new Uint8Array(1));
    await waitFor(() => got.length === 1, 'a/x under 1.0.0');
    expect((await service.swap(m('1.1.0', ['b/#']), prepared)).ok).toBe(true);
    bus.publish('other', 'a/x', new Uint8Array(2));
    bus.publish('other', 'b/x', new Uint8Array(3));
    await waitFor(() => got.length === 2, 'b/x under 1.1.0');
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toEqual([1, 3]);
  });
});

describe('ComponentService.swap', () => {
  it('switches between two events when init succeeds; refuses and keeps serving when it fails', async () => {
    const { svc, telemetry } = await start(sensorWat({ strings: S, onTick: publish(1) }));
    await waitFor(() => telemetry.length >= 2, 'v1 samples');
    const v2 = await engine.prepare(await buildWat(sensorWat({ strings: S, onTick: publish(2) })), { memoryMb: 16 });
    expect((await svc.swap(manifest('1.1.0'), v2)).ok).toBe(true);
    expect(svc.host.version).toBe('1.1.0');
    const at = telemetry.length;
    await waitFor(() => telemetry.length >= at + 2, 'v2 samples');
    expect(telemetry.slice(at)).not.toContain(1);

    const bad = await engine.prepare(await buildWat(sensorWat({ strings: S, init: errWith(T.ptr('no'), T.len('no')), onTick: publish(3) })), { memoryMb: 16 });
    const refused = await svc.swap(manifest('1.2.0'), bad);
    expect(refused).toMatchObject({ ok: false, kind: 'returned-err', message: 'init refused' });
    expect(svc.host.version).toBe('1.1.0');
    const after = telemetry.length;
    await waitFor(() => telemetry.length >= after + 2, 'v2 keeps serving');
    expect(telemetry.slice(after).every((v) => v === 2)).toBe(true);
  });

  it('a forced swap whose init fails keeps that version current, and supervision restarts it', async () => {
    const { svc, telemetry, lifecycle } = await start(sensorWat({ strings: S, onTick: publish(1) }));
    await waitFor(() => telemetry.length >= 1, 'v1 samples');
    // Init succeeds only while GPIO 17 is high (instances share no state, the board does): low
    // during the swap, so it fails; raised afterwards, so the supervisor's restart succeeds.
    const flaky = sensorWat({
      strings: S,
      init: `i32.const 17 i32.const 16 call $gpio_read i32.const 20 i32.load8_u i32.eqz if ${errWith(T.ptr('no'), T.len('no'))} return end ${OK}`,
      onTick: publish(7),
    });
    board.sim.gpio.setInput(17, false);
    const prev = await engine.prepare(await buildWat(flaky), { memoryMb: 16 });
    const outcome = await svc.swap(manifest('0.9.0'), prev, { force: true });
    expect(outcome.ok).toBe(false);
    expect(svc.host.version).toBe('0.9.0');
    board.sim.gpio.setInput(17, true);
    await waitFor(() => telemetry.includes(7), 'the adopted version serving after a restart');
    expect(lifecycle.some((e) => e.state === 'restarting')).toBe(true);
  });
});

describe('ComponentService.swap and the devices it holds', () => {
  it('a swap that re-acquires the serial port: the new version\'s writes reach the port open now, not the released one', async () => {
    const port = '/dev/ttyUSB7';
    const strs = { port, v1: 'v1\n', v2: 'v2\n' };
    const St = strings(strs);
    const write = (what: 'v1' | 'v2') => `i32.const ${St.ptr('port')} i32.const ${St.len('port')} i32.const ${St.ptr(what)} i32.const ${St.len(what)} i32.const 32 call $serial_write ${OK}`;
    // The baud differs between the versions, so the device grant differs and the swap closes the
    // port held by 1.0.0 and opens it again for 1.1.0.
    const m = (version: string, baud: number) => parseManifest({ name: 'writer', version, 'tick-ms': 10, capabilities: { serial: [{ port, baud, framing: 'line' }] } });
    const sim = createSimBoard();
    service = new ComponentService({
      manifest: m('1.0.0', 9600),
      prepared: await engine.prepare(await buildWat(sensorWat({ strings: strs, onTick: write('v1') })), { memoryMb: 16 }),
      board: sim,
      sinks: { telemetry: () => {}, message: () => {}, log: () => {} },
    });
    await service.start();
    const text = () => sim.sim.serial.written(port).toString('utf8');
    await waitFor(() => text().includes('v1\n'), '1.0.0 writing to the port');
    const before = sim.serial.get(port);

    const v2 = await engine.prepare(await buildWat(sensorWat({ strings: strs, onTick: write('v2') })), { memoryMb: 16 });
    expect((await service.swap(m('1.1.0', 19200), v2)).ok).toBe(true);
    const now = sim.serial.get(port);
    expect(now).toBeDefined();
    expect(now).not.toBe(before);
    expect(before?.state).toBe('closed');
    expect(now?.state).toBe('open');
    await waitFor(() => text().includes('v2\n'), '1.1.0 writing to the reopened port');
    await sim.close();
  });
});
