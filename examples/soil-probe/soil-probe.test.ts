import { beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { componentBytes, loadComponent, type TestComponent } from '../../sdk/testing.js';
import { MemoryStore } from '../../drivers/storage/store.js';
import type { Mcp3008 } from '../../drivers/sim/mcp3008.js';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const MANIFEST = here('./soil-probe.yaml');

const load = (raw: number, store = new MemoryStore()) =>
  loadComponent(here('./soil-probe.ts'), { manifest: MANIFEST, storage: store, scenario: { spi: [{ bus: 0, 'chip-select': 0, device: 'mcp3008', channels: [raw, 1023, 0, 0, 0, 0, 0, 0] }] } });
const adc = (c: TestComponent) => c.board.spi.devices.get('0.0') as Mcp3008;
const f64 = (b: Uint8Array | undefined) => (b ? Buffer.from(b).readDoubleLE(0) : undefined);

describe('soil-probe example (MCP3008 over SPI)', () => {
  // Build once, with room for a loaded machine (the first AssemblyScript build loads the compiler).
  beforeAll(() => componentBytes(here('./soil-probe.ts')).then(() => undefined), 300_000);

  it('publishes the raw reading and moisture from the config calibration (dry 850, wet 430)', async () => {
    const c = await load(640);
    expect(c.init()).toMatchObject({ ok: true });
    c.tick();
    expect(c.last('raw')).toBe(640);
    expect(c.last('moisture')).toBe(50); // (850 - 640) / (850 - 430)
    adc(c).channels[0] = 300; // wetter than the wet point: clamped
    c.tick();
    expect(c.last('moisture')).toBe(100);
    adc(c).channels[0] = 1000;
    c.tick();
    expect(c.last('moisture')).toBe(0);
    expect(c.errors()).toEqual([]);
    // The gateway opened the chip select with the manifest's speed and mode.
    expect(c.board.spi.lastOptions.get('0.0')).toEqual({ speedHz: 1_000_000, mode: 0 });
  });

  it('is calibrated by command: dry and wet from the current reading or a value, kept in storage', async () => {
    const store = new MemoryStore();
    const c = await load(900, store);
    c.init();
    expect(c.message('calibrate', 'dry')).toMatchObject({ ok: true }); // probe in air reads 900
    adc(c).channels[0] = 400;
    expect(c.message('calibrate', 'wet')).toMatchObject({ ok: true }); // in water: 400
    adc(c).channels[0] = 650;
    c.tick();
    expect(c.last('moisture')).toBe(50);
    const bucket = store.bucket('soil-probe');
    expect(f64(bucket.get('dry'))).toBe(900);
    expect(f64(bucket.get('wet'))).toBe(400);
    expect(c.message('calibrate', 'WET = 500')).toMatchObject({ ok: true });
    c.tick();
    expect(c.last('moisture')).toBe(62.5);
  });

  it('keeps the calibration across a restart and forgets it on reset', async () => {
    const store = new MemoryStore();
    const first = await load(700, store);
    first.init();
    first.message('calibrate', 'dry=800');
    first.message('calibrate', 'wet=600');
    await first.close();

    const second = await load(700, store); // the gateway restarted: a new instance, the same bucket
    expect(second.init()).toMatchObject({ ok: true });
    expect(second.logs[0]!.message).toContain('dry 800.0, wet 600.0');
    second.tick();
    expect(second.last('moisture')).toBe(50);
    expect(second.message('calibrate', 'reset')).toMatchObject({ ok: true });
    expect(store.bucket('soil-probe').keys()).toEqual([]);
    second.tick();
    expect(second.last('moisture')).toBeCloseTo(35.7, 1); // back to 850 / 430
  });

  it('refuses a bad calibration with the reason and keeps the old one', async () => {
    const c = await load(640);
    c.init();
    expect(c.message('calibrate', 'soggy')).toMatchObject({ ok: false, kind: 'returned-err', message: expect.stringContaining('calibrate takes dry, wet') });
    expect(c.message('calibrate', 'dry=2000')).toMatchObject({ ok: false, message: expect.stringContaining('dry must be a raw reading 0-1023') });
    expect(c.message('calibrate', 'wet=850')).toMatchObject({ ok: false, message: expect.stringContaining('equals the dry point') });
    expect(c.message('other-topic', 'dry')).toBeUndefined(); // not in messaging.receive: never delivered
    c.tick();
    expect(c.last('moisture')).toBe(50);
    expect(c.storage.bucket('soil-probe').size).toBe(0);
  });

  it('reads the channel the config names, and refuses one the MCP3008 does not have', async () => {
    const c = await loadComponent(here('./soil-probe.ts'), {
      manifest: { name: 'soil-probe', version: '1.0.0', capabilities: { spi: [{ bus: 0, 'chip-select': 0 }], storage: { 'max-bytes': 256, 'max-keys': 4 }, telemetry: ['moisture', 'raw'], config: { channel: '1' } } },
      scenario: { spi: [{ bus: 0, 'chip-select': 0, device: 'mcp3008', channels: [0, 430] }] },
    });
    c.init();
    c.tick();
    expect(c.last('raw')).toBe(430);
    expect(c.last('moisture')).toBe(100);
    const bad = await loadComponent(here('./soil-probe.ts'), { manifest: { name: 'soil-probe', version: '1.0.0', capabilities: { spi: [{ bus: 0, 'chip-select': 0 }], config: { channel: '8' } } } });
    expect(bad.init()).toMatchObject({ ok: false, message: expect.stringContaining('config channel must be 0-7') });
  });
});
