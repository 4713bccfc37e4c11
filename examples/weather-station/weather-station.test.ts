import { beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { readFileSync } from 'node:fs';
import { componentBytes, loadComponent, type TestComponent } from '../../sdk/testing.js';
import { loadJco } from '../../runtime/jco.js';
import { summarizeWit, worldOf } from '../../runtime/world-check.js';
import { MemoryStore } from '../../drivers/storage/store.js';
import type { Bme280 } from '../../drivers/sim/bme280.js';
import { parseManifest } from '../../runtime/manifest.js';

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const MANIFEST = here('./weather-station.yaml');
const DAY = 86_400_000;
// 2023-11-14 22:13:20 UTC: the helper's default clock, 1h47m before midnight.
const START = 1_700_000_000_000;

const scenario = (t = 21.5, p = 101_325, h = 40, address = 0x76) => ({ i2c: [{ bus: 1, address, device: 'bme280', 'temperature-c': t, 'pressure-pa': p, 'humidity-pct': h }] });
const load = (opts: { t?: number; p?: number; h?: number; store?: MemoryStore; startMs?: number } = {}) =>
  loadComponent(here('./weather-station.ts'), { manifest: MANIFEST, scenario: scenario(opts.t, opts.p, opts.h), storage: opts.store, startMs: opts.startMs });
const sensor = (c: TestComponent) => c.board.i2c.devices.get('1:118') as Bme280;
const daily = (c: TestComponent) => c.json('daily').at(-1) as { day: number; temperature: { min: number; max: number }; pressure: { min: number; max: number }; humidity: { min: number; max: number } };

describe('weather-station example (BME280 over I2C)', () => {
  // Build once, with room for a loaded machine (the first AssemblyScript build loads the compiler).
  beforeAll(() => componentBytes(here('./weather-station.ts')).then(() => undefined), 300_000);

  it('is a world 0.2.0 component whose compensation gives the sensor readings (0.01 °C, 1 Pa, 0.1 %RH)', async () => {
    const c = await load();
    expect(c.init()).toMatchObject({ ok: true });
    for (const [t, p, h] of [[21.5, 101_325, 40], [-12.34, 87_654, 91.2], [38.07, 104_321, 12.5], [0, 30_000, 0], [84.9, 110_000, 100]] as const) {
      sensor(c).set({ temperatureC: t, pressurePa: p, humidityPct: h });
      expect(c.tick()[0]).toMatchObject({ ok: true });
      expect(Math.abs(c.last('temperature')! - t)).toBeLessThanOrEqual(0.01);
      expect(Math.abs(c.last('pressure')! - p)).toBeLessThanOrEqual(1);
      expect(Math.abs(c.last('humidity')! - h)).toBeLessThanOrEqual(0.1);
    }
    expect(c.errors()).toEqual([]);
    expect(c.refused).toEqual([]);
    // Using i2c and storage made the SDK build it for world 0.2.0 (every import @0.2.0).
    const wit = summarizeWit(await (await loadJco()).componentWit(await componentBytes(here('./weather-station.ts'))));
    expect(worldOf(wit).version).toBe('0.2.0');
    expect(wit.imports.filter((i) => i.startsWith('airssys:gateway/')).every((i) => i.endsWith('@0.2.0'))).toBe(true);
  });

  it('declares its channels with units and classes (contract 7.2)', () => {
    const m = parseManifest(parseYaml(readFileSync(MANIFEST, 'utf8')));
    expect(m.capabilities.channels).toEqual(expect.arrayContaining([
      { name: 'temperature', unit: '°C', deviceClass: 'temperature', stateClass: 'measurement' },
      { name: 'pressure', unit: 'Pa', deviceClass: 'pressure', stateClass: 'measurement' },
      { name: 'humidity', unit: '%', deviceClass: 'humidity', stateClass: 'measurement' },
    ]));
  });

  it('keeps the day\'s minimum and maximum, writing storage only when one changes', async () => {
    const store = new MemoryStore();
    const c = await load({ t: 20, store });
    c.init();
    c.tick();
    expect(daily(c)).toEqual({ day: Math.floor((START + 10_000) / DAY), temperature: { min: 20, max: 20 }, pressure: { min: 101_325, max: 101_325 }, humidity: { min: 40, max: 40 } });
    const bucket = store.bucket('weather-station');
    const gen = bucket.generation;
    c.tick(5); // the same reading: nothing new to store or publish
    expect(bucket.generation).toBe(gen);
    expect(c.json('daily')).toHaveLength(1);
    sensor(c).set({ temperatureC: 24.25, pressurePa: 100_900, humidityPct: 55 });
    c.tick();
    sensor(c).set({ temperatureC: 17.5, pressurePa: 101_100, humidityPct: 47 });
    c.tick();
    expect(daily(c).temperature).toEqual({ min: 17.5, max: 24.25 });
    expect(Math.abs(daily(c).pressure.min - 100_900)).toBeLessThanOrEqual(1);
    expect(Math.abs(daily(c).pressure.max - 101_325)).toBeLessThanOrEqual(1);
    expect(daily(c).humidity.max).toBeCloseTo(55, 1);
    expect(bucket.generation).toBe(gen + 2);
    expect(bucket.get('daily')).toHaveLength(56);
  });

  it('carries today\'s extremes across a restart and starts them over the next day', async () => {
    const store = new MemoryStore();
    const first = await load({ t: 30, store });
    first.init();
    first.tick();
    sensor(first).set({ temperatureC: 10, pressurePa: 101_325, humidityPct: 40 });
    first.tick();
    await first.close();

    // A new instance on a new board (the gateway restarted), same bucket, an hour later, reading 20 °C.
    const second = await load({ t: 20, store, startMs: START + 3_600_000 });
    expect(second.init()).toMatchObject({ ok: true });
    second.tick();
    expect(daily(second).temperature).toEqual({ min: 10, max: 30 }); // restored, and announced once after the start
    expect(second.last('temperature')).toBe(20);

    // Past midnight UTC: a new day starts from the current reading.
    second.advance(DAY);
    expect(daily(second).temperature).toEqual({ min: 20, max: 20 });
    expect(daily(second).day).toBe(daily(first).day + 1);
  });

  it('names the fix when no BME280 answers, or a BMP280 does', async () => {
    const c = await loadComponent(here('./weather-station.ts'), { manifest: MANIFEST, scenario: { i2c: [] } });
    expect(c.init()).toMatchObject({ ok: false, kind: 'returned-err', message: expect.stringMatching(/cannot read the BME280 chip id at address 0x76 on i2c bus 1: absent: .*raspi-config nonint do_i2c 0/) });

    const bmp = await load();
    // A BMP280 answers at the same addresses with chip id 0x58.
    const dev = sensor(bmp) as unknown as { read(n: number): Uint8Array };
    const read = dev.read.bind(dev);
    let idRead = false;
    dev.read = (n) => { const out = read(n); if (idRead) { out[0] = 0x58; idRead = false; } return out; };
    const write = (sensor(bmp) as unknown as { write(d: Uint8Array): void }).write.bind(sensor(bmp));
    (sensor(bmp) as unknown as { write(d: Uint8Array): void }).write = (d) => { idRead = d.length === 1 && d[0] === 0xd0; write(d); };
    expect(bmp.init()).toMatchObject({ ok: false, message: expect.stringContaining('is a BMP280 (no humidity)') });
  });

  it('refuses an address outside 7 bits in its config, and a device the manifest does not grant', async () => {
    const manifest = parseYaml(readFileSync(MANIFEST, 'utf8')) as Record<string, any>;
    manifest.capabilities.config.address = '0x99';
    const bad = await loadComponent(here('./weather-station.ts'), { manifest, scenario: scenario() });
    expect(bad.init()).toMatchObject({ ok: false, message: expect.stringContaining('config address must be a 7-bit address') });

    manifest.capabilities.config.address = '0x77';
    const denied = await loadComponent(here('./weather-station.ts'), { manifest, scenario: scenario(21.5, 101_325, 40, 0x77) });
    expect(denied.init()).toMatchObject({ ok: false, message: expect.stringContaining('denied') });
    expect(denied.refused[0]).toMatch(/^denied: i2c.transfer/);
  });
});
