import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetrySample } from '../../drivers/pipeline/host-calls.js';
import { createSimBoard } from '../../drivers/sim-board.js';
import { ComponentService } from '../../gateway/component/component-service.js';
import { buildWat } from '../../runtime/build/wat.js';
import { Engine } from '../../runtime/engine.js';
import { parseManifest } from '../../runtime/manifest.js';
import type { LifecycleEvent } from '../../runtime/supervision/types.js';
import { OK, sensorWat, strings } from '../helpers/sensor-wat.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A worker-isolated component under its supervisor, as the gateway runs it: events go through the
 * actor's async path, a runaway event ends at its deadline, the supervisor restarts the component
 * in a fresh worker, and its ticks go on.
 */
const S = { temp: 'temperature' };
const T = strings(S);

let engine: Engine;
let service: ComponentService | undefined;
beforeAll(async () => {
  engine = new Engine({ cacheDir: join(await mkdtemp(join(tmpdir(), 'airssys-worker-svc-')), 'cache') });
});
afterEach(async () => {
  await service?.stop();
  service = undefined;
});

describe('ComponentService with isolation: worker', () => {
  it('publishes from ticks, survives a runaway message by deadline and restart, and keeps ticking', async () => {
    // on-tick reads GPIO 17 and publishes 20 + its value; on-message spins forever.
    const wat = sensorWat({
      strings: S,
      onTick: `i32.const 17 i32.const 16 call $gpio_read
        i32.const ${T.ptr('temp')} i32.const ${T.len('temp')} i32.const 20 i32.load8_u f64.convert_i32_u f64.const 20 f64.add i32.const 32 call $publish ${OK}`,
      onMessage: `(loop $spin br $spin) ${OK}`,
    });
    const manifest = parseManifest({
      name: 'spinner',
      version: '1.0.0',
      'tick-ms': 30,
      isolation: 'worker',
      capabilities: { gpio: { read: [17] }, telemetry: ['temperature'], messaging: { receive: ['cmd/#'] } },
      limits: { fuel: 1e15, 'deadline-ms': 300 },
      restart: { policy: 'permanent', intensity: 5, 'period-ms': 60_000 },
    });
    const board = createSimBoard({ pins: { min: 0, max: 27 } });
    board.sim.gpio.setInput(17, true);
    const telemetry: [string, TelemetrySample][] = [];
    const lifecycle: LifecycleEvent[] = [];
    service = new ComponentService({
      manifest,
      prepared: await engine.prepare(await buildWat(wat), { memoryMb: 16 }),
      board,
      sinks: { telemetry: (c, s) => telemetry.push([c, s]), message: () => undefined, log: () => undefined },
      onLifecycle: (e) => lifecycle.push(e),
      backoff: { baseMs: 10, maxMs: 50 },
    });
    await service.start();
    await waitFor(() => telemetry.length >= 3, 'first telemetry', 15_000);
    expect(telemetry[0]).toEqual(['temperature', { value: 21 }]);

    let fired = 0;
    const interval = setInterval(() => fired++, 10);
    expect(service.deliverMessage('broker', 'cmd/spin', new Uint8Array([1]))).toMatchObject({ ok: true });
    await waitFor(() => lifecycle.some((e) => e.state === 'restarting'), 'restart after deadline', 15_000);
    clearInterval(interval);
    expect(fired).toBeGreaterThanOrEqual(5);
    expect(lifecycle.find((e) => e.state === 'restarting')!.reason).toMatch(/deadline/);
    expect(service.host.stats).toMatchObject({ deadlineOverruns: 1, lastFailure: { kind: 'deadline', event: 'on-message' } });

    const after = telemetry.length;
    await waitFor(() => telemetry.length >= after + 3, 'telemetry after restart', 15_000);
    expect(service.state).toBe('running');
    expect(service.host.running).toBe(true);
  });
});
