import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import type { TelemetrySample } from '../../drivers/pipeline/host-calls.js';
import { createSimBoard } from '../../drivers/sim-board.js';
import { ComponentService } from '../../gateway/component/component-service.js';
import { buildWat } from '../../runtime/build/wat.js';
import { Bus } from '../../runtime/bus/bus.js';
import { Engine, type PreparedComponent } from '../../runtime/engine.js';
import { parseManifest } from '../../runtime/manifest.js';
import { OK, sensorWat, strings } from '../helpers/sensor-wat.js';
import { waitFor } from '../helpers/wait.js';

/**
 * What a version swap leaves behind (the soak's per-OTA growth, docs/hardening.md): after N swaps,
 * forward and forced (a rollback's), no replaced version may stay reachable (its compiled modules,
 * glue instance and Wasm memory would stay with it), and the bus holds one subscription per
 * receive filter of the version serving, not one per version ever swapped in. Counts, not timings.
 */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const S = { temp: 'temperature' };
const T = strings(S);
const publish = (v: number) => `i32.const ${T.ptr('temp')} i32.const ${T.len('temp')} f64.const ${v} i32.const 32 call $publish ${OK}`;
const manifest = (version: string, receive: string) =>
  parseManifest({ name: 'meter', version, 'tick-ms': 10, capabilities: { telemetry: ['temperature'], messaging: { receive: [receive] } } });

let service: ComponentService | undefined;
afterEach(async () => {
  await service?.stop();
  service = undefined;
});

describe('version swaps leave nothing behind', () => {
  it('after 10 swaps only the serving version is reachable and the bus holds one subscription', async () => {
    const engine = new Engine({ cacheDir: join(await mkdtemp(join(tmpdir(), 'airssys-swap-')), 'cache') });
    const bus = new Bus<Uint8Array>();
    const seen: number[] = [];
    // Each version publishes its own number, so every one is distinct bytes (its own cache entry and compiled modules).
    const prepare = async (v: number) => engine.prepare(await buildWat(sensorWat({ strings: S, onTick: publish(v) })), { memoryMb: 16 });
    const refs: Array<WeakRef<PreparedComponent>> = [];
    // No local of this test may hold a version: each is reachable only through the service.
    const track = (p: PreparedComponent) => (refs.push(new WeakRef(p)), p);
    service = new ComponentService({
      manifest: manifest('1.0.0', 'a/0'),
      prepared: track(await prepare(0)),
      board: createSimBoard(),
      bus,
      sinks: { telemetry: (_c: string, s: TelemetrySample) => void seen.push((s as { value: number }).value), message: () => {}, log: () => {} },
    });
    await service.start();
    const swaps = 10;
    for (let v = 1; v <= swaps; v++) {
      // Every third swap is forced, as a rollback's is; each version receives another topic, so the bus is re-subscribed.
      const outcome = await service.swap(manifest(`1.0.${v}`, `a/${v}`), track(await prepare(v)), { force: v % 3 === 0 });
      expect(outcome.ok).toBe(true);
      await waitFor(() => seen.includes(v), `version ${v} serving`);
    }
    expect(bus.subscriptions).toBe(1);
    // WeakRefs hold their targets until the current job ends; then a full collection.
    await new Promise((r) => setImmediate(r));
    gc();
    await new Promise((r) => setImmediate(r));
    gc();
    const alive = refs.map((r, v) => (r.deref() === undefined ? undefined : v)).filter((v) => v !== undefined);
    expect(alive).toEqual([swaps]);
  });
});
