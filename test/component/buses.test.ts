import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetrySample } from '../../drivers/pipeline/host-calls.js';
import { createSimBoard } from '../../drivers/sim-board.js';
import { parseScenario } from '../../drivers/sim-scenario.js';
import { ComponentService } from '../../gateway/component/component-service.js';
import { buildWat } from '../../runtime/build/wat.js';
import { Engine } from '../../runtime/engine.js';
import { parseManifest } from '../../runtime/manifest.js';
import { busReaderWat } from '../helpers/bus-components.js';
import { cli } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A 0.2.0 WAT component reading the simulated BME280 (i2c) and MCP3008 (spi) through the jco glue,
 * inline and worker-isolated, and through `airssys run --scenario`.
 */
const SCENARIO = {
  i2c: [{ bus: 1, address: '0x76', device: 'bme280', 'temperature-c': 21.5, 'pressure-pa': 101325, 'humidity-pct': 40 }],
  spi: [{ bus: 0, 'chip-select': 0, device: 'mcp3008', channels: [612, 1023, 0, 0, 0, 0, 0, 0] }],
};
const CAPS = { telemetry: ['*'], i2c: [{ bus: 1, address: 0x76 }, { bus: 1, address: 0x77 }], spi: [{ bus: 0, 'chip-select': 0, 'speed-hz': 1_000_000 }] };

let engine: Engine;
let wasm: Uint8Array;
let svc: ComponentService | undefined;
beforeAll(async () => {
  engine = new Engine({ cacheDir: join(await mkdtemp(join(tmpdir(), 'airssys-buses-')), 'cache') });
  wasm = await buildWat(busReaderWat());
});
afterEach(async () => {
  await svc?.stop();
  svc = undefined;
});

describe('i2c and spi from a 0.2.0 component', () => {
  for (const isolation of ['inline', 'worker'] as const) {
    it(`${isolation}: reads the BME280 chip id, gets absent for an empty address, reads the MCP3008`, async () => {
      const s = parseScenario(SCENARIO);
      const samples: { channel: string; value: number }[] = [];
      svc = new ComponentService({
        manifest: parseManifest({ name: 'weather', version: '1.0.0', 'tick-ms': 20, isolation, capabilities: CAPS }),
        prepared: await engine.prepare(wasm, { memoryMb: 16 }),
        board: createSimBoard({ devices: { i2c: s.i2c, spi: s.spi } }),
        sinks: { telemetry: (channel: string, x: TelemetrySample) => void samples.push({ channel, value: (x as { value: number }).value }), message: () => {}, log: () => {} },
      });
      await svc.start();
      await waitFor(() => samples.filter((x) => x.channel === 'adc').length >= 2, 30_000);
      expect(samples.slice(0, 3)).toEqual([
        { channel: 'chip', value: 0x60 },
        { channel: 'err', value: 104 },
        { channel: 'adc', value: 612 },
      ]);
    });
  }

  it('airssys run --scenario gives the component the simulated devices', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'airssys-run-scenario-'));
    await writeFile(join(dir, 'weather.wasm'), wasm);
    await writeFile(join(dir, 'weather.yaml'), toYaml({ name: 'weather', version: '1.0.0', 'tick-ms': 1000, capabilities: CAPS }));
    await writeFile(join(dir, 'scenario.yaml'), toYaml(SCENARIO));
    const r = await cli(['run', join(dir, 'weather.wasm'), '--manifest', join(dir, 'weather.yaml'), '--ticks', '2', '--scenario', join(dir, 'scenario.yaml'), '--data-dir', dir]);
    expect(r.code).toBe(0);
    const telemetry = r.out.map((l) => JSON.parse(l) as { telemetry?: { channel: string; value: number } }).flatMap((o) => (o.telemetry ? [o.telemetry] : []));
    expect(telemetry.filter((t) => t.channel === 'chip').map((t) => t.value)).toEqual([0x60, 0x60]);
    expect(telemetry.filter((t) => t.channel === 'adc').map((t) => t.value)).toEqual([612, 612]);
    // Without the scenario nothing answers at 0x76 either.
    const bare = await cli(['run', join(dir, 'weather.wasm'), '--manifest', join(dir, 'weather.yaml'), '--ticks', '1', '--data-dir', dir]);
    expect(bare.out.some((l) => l.includes('"absent"'))).toBe(true);
    const badScenario = await cli(['run', join(dir, 'weather.wasm'), '--manifest', join(dir, 'weather.yaml'), '--scenario', join(dir, 'missing.yaml')]);
    expect(badScenario.code).toBe(2);
    expect(badScenario.err.join('\n')).toMatch(/cannot read --scenario .*missing.yaml: ENOENT; check the path/);
  });
});
