import { describe, expect, it } from 'vitest';
import { checkManifestAgainstBoard, type Board } from '../../drivers/board.js';
import { createHostApi } from '../../drivers/pipeline/host-calls.js';
import { compileGrant } from '../../drivers/policy/grant.js';
import { checkManifestAgainstPolicy, parsePolicy } from '../../drivers/policy/policy.js';
import { checkDeviceConflicts } from '../../drivers/ownership.js';
import { createSimBoard } from '../../drivers/sim-board.js';
import { parseScenario } from '../../drivers/sim-scenario.js';
import { HostCallError, type HostErrorTag } from '../../runtime/errors.js';
import type { HostApi } from '../../runtime/host-api.js';
import { parseManifest } from '../../runtime/manifest.js';

const sinks = { telemetry: () => undefined, message: () => undefined, log: () => undefined };
const manifest = (extra: Record<string, unknown> = {}) =>
  parseManifest({
    name: 'weather',
    version: '1.0.0',
    capabilities: { i2c: [{ bus: 1, address: '0x76' }, { bus: 1, address: 0x77 }], spi: [{ bus: 0, 'chip-select': 0, 'speed-hz': 1_350_000, mode: 0 }], ...extra },
  });

function hostFor(scenario: unknown) {
  const s = parseScenario(scenario);
  const board = createSimBoard({ devices: { i2c: s.i2c, spi: s.spi } });
  const m = manifest();
  return { board, api: createHostApi({ component: { name: m.name, version: m.version }, grant: compileGrant(m), board, sinks }) };
}
function tagOf(fn: () => unknown): HostErrorTag | 'ok' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof HostCallError) return err.tag;
    throw err;
  }
}

// ---- the BME280 datasheet's integer compensation (BST-BME280-DS002, section 4.2.3), written
// here independently of the simulator, reading the trimming words from the device itself.

interface Trim {
  T1: number; T2: number; T3: number;
  P: number[]; // P1..P9
  H1: number; H2: number; H3: number; H4: number; H5: number; H6: number;
}
function readTrim(api: HostApi): Trim {
  const a = Buffer.from(api.i2cTransfer(1, 0x76, Uint8Array.of(0x88), 26)); // 0x88-0xA1
  const b = Buffer.from(api.i2cTransfer(1, 0x76, Uint8Array.of(0xe1), 7)); // 0xE1-0xE7
  const P = [a.readUInt16LE(6), ...[8, 10, 12, 14, 16, 18, 20, 22].map((o) => a.readInt16LE(o))];
  return {
    T1: a.readUInt16LE(0), T2: a.readInt16LE(2), T3: a.readInt16LE(4), P,
    H1: a.readUInt8(25), H2: b.readInt16LE(0), H3: b.readUInt8(2),
    H4: (b.readInt8(3) << 4) | (b[4]! & 0x0f), H5: (b.readInt8(5) << 4) | (b[4]! >> 4), H6: b.readInt8(6),
  };
}
function compensate(t: Trim, adcT: number, adcP: number, adcH: number) {
  const var1 = (((adcT >> 3) - (t.T1 << 1)) * t.T2) >> 11;
  const var2 = (((((adcT >> 4) - t.T1) * ((adcT >> 4) - t.T1)) >> 12) * t.T3) >> 14;
  const tFine = var1 + var2;
  const T = ((tFine * 5 + 128) >> 8) / 100;
  const [P1, P2, P3, P4, P5, P6, P7, P8, P9] = t.P.map(BigInt) as [bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint];
  let v1 = BigInt(tFine) - 128000n;
  let v2 = v1 * v1 * P6 + ((v1 * P5) << 17n) + (P4 << 35n);
  v1 = ((v1 * v1 * P3) >> 8n) + ((v1 * P2) << 12n);
  v1 = (((1n << 47n) + v1) * P1) >> 33n;
  let p = 1048576n - BigInt(adcP);
  p = (((p << 31n) - v2) * 3125n) / v1;
  v1 = (P9 * (p >> 13n) * (p >> 13n)) >> 25n;
  v2 = (P8 * p) >> 19n;
  const P = Number(((p + v1 + v2) >> 8n) + (P7 << 4n)) / 256;
  let h = tFine - 76800;
  h = (((((adcH << 14) - (t.H4 << 20) - t.H5 * h) + 16384) >> 15) * (((((((h * t.H6) >> 10) * (((h * t.H3) >> 11) + 32768)) >> 10) + 2097152) * t.H2 + 8192) >> 14));
  h = h - (((((h >> 15) * (h >> 15)) >> 7) * t.H1) >> 4);
  h = Math.min(Math.max(h, 0), 419430400);
  return { T, P, H: (h >> 12) / 1024 };
}

function forcedReading(api: HostApi) {
  api.i2cTransfer(1, 0x76, Uint8Array.of(0xf2, 0x01), 0); // ctrl_hum: osrs_h ×1 (applies at the next ctrl_meas write)
  api.i2cTransfer(1, 0x76, Uint8Array.of(0xf4, (1 << 5) | (1 << 2) | 0x01), 0); // ×1, ×1, forced
  expect(api.i2cTransfer(1, 0x76, Uint8Array.of(0xf3), 1)[0]).toBe(0x00); // status: done at once
  expect(api.i2cTransfer(1, 0x76, Uint8Array.of(0xf4), 1)[0]! & 0x03).toBe(0); // back to sleep
  const d = api.i2cTransfer(1, 0x76, Uint8Array.of(0xf7), 8);
  return {
    adcP: (d[0]! << 12) | (d[1]! << 4) | (d[2]! >> 4),
    adcT: (d[3]! << 12) | (d[4]! << 4) | (d[5]! >> 4),
    adcH: (d[6]! << 8) | d[7]!,
  };
}

describe('simulated BME280 over i2c.transfer', () => {
  const cases = [
    { t: 21.5, p: 101_325, h: 40 },
    { t: -12.37, p: 87_654.3, h: 93.25 },
    { t: 38.04, p: 104_000, h: 7.6 },
    { t: 0, p: 50_000, h: 0 },
  ];
  for (const c of cases) {
    it(`compensates to ${c.t} °C, ${c.p} Pa, ${c.h} %RH within 0.01 °C, 1 Pa, 0.1 %RH`, () => {
      const { api } = hostFor({ i2c: [{ bus: 1, address: '0x76', device: 'bme280', 'temperature-c': c.t, 'pressure-pa': c.p, 'humidity-pct': c.h }] });
      expect(api.i2cTransfer(1, 0x76, Uint8Array.of(0xd0), 1)).toEqual(Uint8Array.of(0x60));
      const trim = readTrim(api);
      const raw = forcedReading(api);
      const got = compensate(trim, raw.adcT, raw.adcP, raw.adcH);
      expect(Math.abs(got.T - c.t)).toBeLessThanOrEqual(0.01 + 1e-9);
      expect(Math.abs(got.P - c.p)).toBeLessThanOrEqual(1);
      expect(Math.abs(got.H - c.h)).toBeLessThanOrEqual(0.1);
    });
  }

  it('reset values before a measurement, skipped oversampling, auto-increment, soft reset, read-only registers', () => {
    const { api } = hostFor({ i2c: [{ bus: 1, address: 0x76, device: 'bme280' }] });
    // Data registers hold their reset values until something is measured.
    expect([...api.i2cTransfer(1, 0x76, Uint8Array.of(0xf7), 8)]).toEqual([0x80, 0, 0, 0x80, 0, 0, 0x80, 0]);
    // Auto-increment runs across registers: 0xD0 then on to 0xD1...
    const idAndMore = api.i2cTransfer(1, 0x76, Uint8Array.of(0xcf), 2);
    expect(idAndMore[1]).toBe(0x60);
    // Forced with pressure skipped (osrs_p = 0): pressure keeps 0x80000, temperature is measured.
    api.i2cTransfer(1, 0x76, Uint8Array.of(0xf4, (1 << 5) | 0x01), 0);
    const d = api.i2cTransfer(1, 0x76, Uint8Array.of(0xf7), 6);
    expect([d[0], d[1], d[2]]).toEqual([0x80, 0, 0]);
    expect(d[3]).not.toBe(0x80);
    // Normal mode stays normal; config is writable; the chip id is not.
    api.i2cTransfer(1, 0x76, Uint8Array.of(0xf4, 0x27, 0xf5, 0xa0, 0xd0, 0x00), 0);
    expect([...api.i2cTransfer(1, 0x76, Uint8Array.of(0xf4), 2)]).toEqual([0x27, 0xa0]);
    expect(api.i2cTransfer(1, 0x76, Uint8Array.of(0xd0), 1)[0]).toBe(0x60);
    // Soft reset: control registers and data back to reset values.
    api.i2cTransfer(1, 0x76, Uint8Array.of(0xe0, 0xb6), 0);
    expect([...api.i2cTransfer(1, 0x76, Uint8Array.of(0xf2), 4)]).toEqual([0, 0, 0, 0]);
    expect(api.i2cTransfer(1, 0x76, Uint8Array.of(0xfa), 1)[0]).toBe(0x80);
  });

  it('an address with no device is absent; bad addresses and sizes are invalid; ungranted devices denied', () => {
    const { api } = hostFor({ i2c: [{ bus: 1, address: 0x76, device: 'bme280' }] });
    expect(tagOf(() => api.i2cTransfer(1, 0x77, Uint8Array.of(0xd0), 1))).toBe('absent');
    expect(tagOf(() => api.i2cTransfer(1, 0x78, Uint8Array.of(0xd0), 1))).toBe('invalid');
    expect(tagOf(() => api.i2cTransfer(1, 0x02, Uint8Array.of(0xd0), 1))).toBe('invalid');
    expect(tagOf(() => api.i2cTransfer(1, 0x76, new Uint8Array(4097), 0))).toBe('invalid');
    expect(tagOf(() => api.i2cTransfer(1, 0x76, Uint8Array.of(0xd0), 4097))).toBe('invalid');
    expect(tagOf(() => api.i2cTransfer(1, 0x76, new Uint8Array(0), 4096))).toBe('ok');
    expect(tagOf(() => api.i2cTransfer(0, 0x76, Uint8Array.of(0xd0), 1))).toBe('denied');
    expect(tagOf(() => api.i2cTransfer(1, 0x40, Uint8Array.of(0xd0), 1))).toBe('denied');
  });
});

describe('simulated MCP3008 over spi.transfer', () => {
  it('returns each single-ended channel\'s 10-bit reading in the last 10 bits; speed and mode come from the manifest', () => {
    const channels = [512, 1023, 0, 7, 300, 0, 0, 1];
    const { api, board } = hostFor({ spi: [{ bus: 0, 'chip-select': 0, device: 'mcp3008', channels }] });
    for (let ch = 0; ch < 8; ch++) {
      const r = api.spiTransfer(0, 0, Uint8Array.of(0x01, 0x80 | (ch << 4), 0x00));
      expect(r.length).toBe(3);
      expect(((r[1]! & 0x03) << 8) | r[2]!).toBe(channels[ch]);
    }
    // Differential CH0-CH1 (512 - 1023 < 0) reads 0; CH1-CH0 reads 511.
    const diff = (d: number) => {
      const r = api.spiTransfer(0, 0, Uint8Array.of(0x01, d << 4, 0x00));
      return ((r[1]! & 0x03) << 8) | r[2]!;
    };
    expect(diff(0)).toBe(0);
    expect(diff(1)).toBe(511);
    expect(board.spi.lastOptions.get('0.0')).toEqual({ speedHz: 1_350_000, mode: 0 });
    expect(tagOf(() => api.spiTransfer(0, 0, new Uint8Array(4097)))).toBe('invalid');
    expect(tagOf(() => api.spiTransfer(0, 1, Uint8Array.of(1, 0x80, 0)))).toBe('denied');
  });
});

describe('i2c and spi grants', () => {
  it('manifest: address as integer or "0x76"; outside 0x03-0x77 refused with the key path', () => {
    expect(manifest().capabilities.i2c).toEqual([{ bus: 1, address: 0x76 }, { bus: 1, address: 0x77 }]);
    expect(() => manifest({ i2c: [{ bus: 1, address: '0x78' }] })).toThrow(/capabilities.i2c\[0\].address: expected a 7-bit address from 0x03 to 0x77/);
    expect(() => manifest({ spi: [{ bus: 0, 'chip-select': 0, mode: 4 }] })).toThrow(/capabilities.spi\[0\].mode/);
  });

  it('roles are the ceiling, speed-hz a maximum', () => {
    const policy = parsePolicy({
      roles: { weather: { i2c: [{ bus: 1, address: '0x76' }, { bus: 1, address: 0x77 }], spi: [{ bus: 0, 'chip-select': 0, 'speed-hz': 1_000_000 }] } },
      components: { weather: ['weather'] },
    });
    expect(checkManifestAgainstPolicy(manifest(), policy)).toEqual(['component weather: spi bus 0 chip-select 0 speed-hz 1350000 exceeds 1000000 allowed by roles [weather]']);
    expect(checkManifestAgainstPolicy(manifest({ i2c: [{ bus: 1, address: 0x40 }] }), policy)).toContain('component weather: i2c bus 1 address 0x40 is not granted by roles [weather]');
  });

  it('two components may not hold the same I2C address or SPI chip select', () => {
    const other = parseManifest({ name: 'other', version: '1.0.0', capabilities: { i2c: [{ bus: 1, address: 0x76 }], spi: [{ bus: 0, 'chip-select': 0 }] } });
    expect(checkDeviceConflicts([manifest(), other])).toEqual([
      'i2c bus 1 address 0x76 is granted to both weather and other; give each I2C device to one component',
      'spi bus 0 chip-select 0 is granted to both weather and other; give each chip select to one component',
    ]);
  });

  it('a board without bus drivers (raspberry-pi today) refuses the grants in one line each', () => {
    const sim = createSimBoard();
    const pi: Board = { kind: 'raspberry-pi', gpio: sim.gpio, serial: sim.serial, claims: sim.claims, close: () => sim.close() };
    const lines = checkManifestAgainstBoard(manifest(), pi);
    expect(lines[0]).toMatch(/^component weather: i2c bus 1 address 0x76: not supported on this board yet; /);
    expect(lines).toHaveLength(3);
    expect(checkManifestAgainstBoard(manifest(), sim)).toEqual([]);
  });

  it('scenario: unknown devices and bad addresses are one line naming the key', () => {
    expect(() => parseScenario({ i2c: [{ bus: 1, address: 0x76, device: 'sht31' }] })).toThrow(/scenario.i2c\[0\].device: unknown device "sht31"/);
    expect(() => parseScenario({ spi: [{ bus: 0, 'chip-select': 0, device: 'mcp3008', channels: [2000] }] })).toThrow(/scenario.spi\[0\].channels\[0\]/);
  });
});
