import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { i2cTransferError, openBusError, spiTransferError } from '../../drivers/bus/errors.js';
import { funcsFromBits, planI2c, type I2cFuncs } from '../../drivers/bus/i2c-plan.js';
import { LinuxI2c } from '../../drivers/bus/linux-i2c.js';
import { LinuxSpi } from '../../drivers/bus/linux-spi.js';
import { loadRdwrAddon, requireModule } from '../../drivers/bus/native-loader.js';
import { HostCallError } from '../../runtime/errors.js';

/**
 * The Linux I2C and SPI drivers without bus hardware: the transfer plan per adapter capability, the
 * errno -> contract code mapping, the real packages (i2c-bus, spi-device, our addon) against device
 * files that do not exist or are not I2C devices, and that nothing loads them before a bus is used.
 * The drivers against a real kernel adapter (i2c-stub): scripts/kernel-check.sh.
 */

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'airssys-bus-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function refusalOf(fn: () => unknown): HostCallError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HostCallError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

// I2C_FUNC_* as i2c-stub reports them (drivers/i2c/i2c-stub.c: SMBus quick, byte, byte data, word
// data, I2C block) and as an I2C adapter such as i2c-bcm2835 does (I2C | SMBUS_EMUL).
const STUB_BITS = 0x00010000 | 0x00060000 | 0x00180000 | 0x00600000 | 0x0c000000;
const PI_BITS = 0x00000001 | 0x0eff0008;
const stub = funcsFromBits(STUB_BITS);
const pi = funcsFromBits(PI_BITS);

describe('which path a transfer takes', () => {
  it('a plain-I2C adapter: I2C_RDWR with the addon, a write then a read without it', () => {
    expect(pi.i2c).toBe(true);
    expect(planI2c(pi, true, 1, 26)).toEqual({ kind: 'rdwr' });
    expect(planI2c(pi, false, 1, 26)).toEqual({ kind: 'write-read' });
    expect(planI2c(pi, true, 3, 2)).toEqual({ kind: 'rdwr' });
  });

  it('an SMBus-only adapter (i2c-stub): each transfer shape onto its SMBus transaction', () => {
    expect(stub.i2c).toBe(false);
    const kinds = ([[0, 0], [0, 1], [1, 0], [1, 1], [1, 2], [1, 26], [1, 40], [2, 0], [3, 0], [41, 0]] as const).map(([w, r]) => planI2c(stub, true, w, r).kind);
    expect(kinds).toEqual(['smbus-quick', 'smbus-receive-byte', 'smbus-send-byte', 'smbus-read-byte', 'smbus-read-i2c-block', 'smbus-read-i2c-block', 'smbus-read-i2c-block', 'smbus-write-byte', 'smbus-write-i2c-block', 'smbus-write-i2c-block']);
  });

  it('what SMBus cannot express is refused with the shape that would work', () => {
    const p = planI2c(stub, true, 2, 1);
    expect(p).toEqual({ kind: 'unsupported', why: 'this adapter is SMBus-only (no plain I2C): it cannot write 2 bytes then read; write the register alone (1 byte) with the read' });
    expect(planI2c(stub, true, 0, 4)).toMatchObject({ kind: 'unsupported', why: expect.stringMatching(/needs a register to start at/) });
    const noBlock: I2cFuncs = { ...stub, smbusReadI2cBlock: false };
    expect(planI2c(noBlock, true, 1, 2)).toEqual({ kind: 'smbus-read-word' });
    expect(planI2c(noBlock, true, 1, 6)).toMatchObject({ kind: 'unsupported', why: expect.stringMatching(/read 1 or 2 bytes at a time/) });
  });
});

describe('errno -> contract code', () => {
  const errno = (code: string, message = `${code}, something`) => Object.assign(new Error(message), { code });

  it('no acknowledge is absent: ENXIO (most adapters), EREMOTEIO (the Pi), ENODEV (i2c-stub)', () => {
    for (const code of ['ENXIO', 'EREMOTEIO', 'ENODEV']) {
      const e = i2cTransferError(errno(code), 1, 0x76);
      expect(e.tag).toBe('absent');
      expect(e.payload.val).toBe(`no device acknowledged address 0x76 on i2c bus 1 (${code}); check the wiring, the address and the sensor's power`);
    }
    // an addon that puts the code only in the message
    expect(i2cTransferError(new Error('EREMOTEIO, Remote I/O error'), 1, 0x40).tag).toBe('absent');
  });

  it('a refused request is invalid, anything else io', () => {
    expect(i2cTransferError(errno('EOPNOTSUPP'), 1, 0x76).tag).toBe('invalid');
    expect(i2cTransferError(errno('ETIMEDOUT', 'ETIMEDOUT, Connection timed out'), 1, 0x76).payload).toEqual({ tag: 'io', val: 'i2c bus 1 address 0x76: ETIMEDOUT, Connection timed out' });
    expect(i2cTransferError(errno('EIO'), 1, 0x76).tag).toBe('io');
    expect(i2cTransferError(errno('EBUSY'), 1, 0x76).payload.val).toMatch(/claimed by a kernel driver .*remove that dtoverlay/);
    expect(spiTransferError(errno('EINVAL'), 0, 0).payload.val).toMatch(/check speed-hz and mode in the manifest/);
    expect(spiTransferError(errno('EIO'), 0, 0).tag).toBe('io');
  });

  it('opening: missing device is invalid with the enable command; no permission names the group', () => {
    expect(openBusError('i2c', '/dev/i2c-1', errno('ENOENT')).payload).toEqual({ tag: 'invalid', val: '/dev/i2c-1 does not exist: I2C is not enabled; run sudo raspi-config nonint do_i2c 0 and reboot (docs/sensors.md)' });
    expect(openBusError('spi', '/dev/spidev0.0', errno('ENOENT')).payload.val).toMatch(/do_spi 0/);
    expect(openBusError('spi', '/dev/spidev0.0', errno('EACCES')).payload).toEqual({ tag: 'io', val: 'no permission to open /dev/spidev0.0; add the gateway user to the spi group (sudo usermod -aG spi airssys) and restart the service' });
  });
});

describe('the real packages, no bus hardware', () => {
  const addon = loadRdwrAddon();
  const built = !(addon instanceof Error);

  it('a bus that does not exist: one line with the fix, through i2c-bus and through the addon', () => {
    for (const useAddon of built ? [false, true] : [false]) {
      const e = refusalOf(() => new LinuxI2c({ useAddon }).transfer(97, 0x76, Uint8Array.of(0xd0), 1));
      expect(e.payload).toEqual({ tag: 'invalid', val: '/dev/i2c-97 does not exist: I2C is not enabled; run sudo raspi-config nonint do_i2c 0 and reboot (docs/sensors.md)' });
    }
    const s = refusalOf(() => new LinuxSpi().transfer(97, 0, Uint8Array.of(1, 0x80, 0), { speedHz: 1_000_000, mode: 0 }));
    expect(s.payload).toEqual({ tag: 'invalid', val: '/dev/spidev97.0 does not exist: SPI is not enabled; run sudo raspi-config nonint do_spi 0 and reboot (docs/sensors.md)' });
  });

  it('checkBus / checkDevice at config load', () => {
    const dev = tmp();
    writeFileSync(join(dev, 'i2c-1'), '');
    expect(new LinuxI2c({ devRoot: dev }).checkBus(1)).toBeUndefined();
    expect(new LinuxI2c({ devRoot: dev }).checkBus(3)).toBe(`i2c bus 3: ${dev}/i2c-3 does not exist: I2C is not enabled; run sudo raspi-config nonint do_i2c 0 and reboot (docs/sensors.md)`);
    expect(new LinuxSpi({ devRoot: dev }).checkDevice(0, 1)).toMatch(/^spi bus 0 chip-select 1: .*spidev0\.1 does not exist: SPI is not enabled; run sudo raspi-config nonint do_spi 0/);
  });

  it.skipIf(!built)('our addon on a file that is not an I2C adapter: I2C_FUNCS fails and the line says so (io)', () => {
    const dev = tmp();
    writeFileSync(join(dev, 'i2c-5'), '');
    const e = refusalOf(() => new LinuxI2c({ devRoot: dev }).transfer(5, 0x76, Uint8Array.of(0xd0), 1));
    expect(e.tag).toBe('io');
    expect(e.payload.val).toBe(`cannot open ${dev}/i2c-5: ENOTTY, ioctl I2C_FUNCS: Inappropriate ioctl for device`);
  });

  it('i2c-bus not installed (or its addon did not build): io, saying to run npm ci', () => {
    const load = (id: string) => requireModule(id === 'i2c-bus' ? 'i2c-bus-that-is-not-installed' : id);
    const e = refusalOf(() => new LinuxI2c({ load, useAddon: false }).transfer(1, 0x76, Uint8Array.of(0xd0), 1));
    expect(e.tag).toBe('io');
    expect(e.payload.val).toMatch(/^the i2c-bus package could not be loaded \(Cannot find module 'i2c-bus-that-is-not-installed'.*\); run npm ci in the gateway directory \(needs python3, make, g\+\+\)$/);
  });

  it('without the addon the driver says it falls back', () => {
    const logs: string[] = [];
    const load = (id: string) => (id.endsWith('airssys_i2c.node') ? requireModule('/nonexistent/airssys_i2c.node') : requireModule(id));
    refusalOf(() => new LinuxI2c({ load, log: (_l, m) => logs.push(m) }).transfer(97, 0x76, Uint8Array.of(0xd0), 1));
    expect(logs[0]).toMatch(/^the I2C_RDWR addon \(drivers\/bus\/native\) is not built: .*; I2C uses a write then a read \(or SMBus\) instead$/);
  });
});

describe('loaded only when a bus is used', () => {
  // A child process, so this file's own imports do not count: which packages are in require's cache.
  function probe(body: string): string {
    const gpio = tmp();
    for (const [f, v] of [['export', ''], ['unexport', ''], ['gpiochip512/label', 'pinctrl-bcm2711'], ['gpiochip512/base', '512'], ['gpiochip512/ngpio', '58']] as const) {
      mkdirSync(join(gpio, f, '..'), { recursive: true });
      writeFileSync(join(gpio, f), `${v}\n`);
    }
    const script = `
      import { createRequire } from 'node:module';
      import { createBoard, checkManifestAgainstBoard } from './drivers/board.ts';
      const cache = createRequire(import.meta.url).cache;
      const loaded = () => ['i2c-bus', 'spi-device', 'airssys_i2c'].filter((p) => Object.keys(cache).some((k) => k.includes('/' + p)));
      const GPIO = ${JSON.stringify(gpio)};
      ${body}
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    return r.stdout.trim();
  }

  it('a sim board with simulated I2C/SPI devices never loads i2c-bus, spi-device or the addon', () => {
    const out = probe(`
      const b = await createBoard({ kind: 'sim', options: { devices: { i2c: [{ bus: 1, address: 0x76, device: 'bme280', temperatureC: 21.5, pressurePa: 101325, humidityPct: 40 }], spi: [{ bus: 0, chipSelect: 0, device: 'mcp3008', channels: [512, 0, 0, 0, 0, 0, 0, 0] }] } } });
      const id = b.i2c.transfer(1, 0x76, Uint8Array.of(0xd0), 1);
      const adc = b.spi.transfer(0, 0, Uint8Array.of(1, 0x80, 0), { speedHz: 1000000, mode: 0 });
      console.log(id[0].toString(16), ((adc[1] & 3) << 8) | adc[2], JSON.stringify(loaded()));
      await b.close();
    `);
    expect(out).toBe('60 512 []');
  });

  it('a Pi board loads them on the first transfer, not before; a missing bus is refused at config load', () => {
    const out = probe(`
      const dev = GPIO; // no i2c-1 or spidev0.0 in there
      const b = await createBoard({ kind: 'raspberry-pi', options: { sysfsRoot: GPIO, devRoot: dev } });
      const before = JSON.stringify(loaded());
      const m = { name: 'weather', capabilities: { gpio: { read: [], write: [], watch: [] }, serial: [], i2c: [{ bus: 1, address: 0x76 }], spi: [{ bus: 0, chipSelect: 0, speedHz: 1000000, mode: 0 }] } };
      const problems = checkManifestAgainstBoard(m, b);
      let e1, e2;
      try { b.i2c.transfer(97, 0x76, Uint8Array.of(0xd0), 1); } catch (e) { e1 = e.payload.tag; }
      try { b.spi.transfer(97, 0, Uint8Array.of(1), { speedHz: 1000000, mode: 0 }); } catch (e) { e2 = e.payload.tag; }
      console.log(before, JSON.stringify(loaded()), e1, e2);
      for (const p of problems) console.log(p);
      await b.close();
    `);
    const lines = out.split('\n');
    // I2C opens the bus through our addon when it is built (i2c-bus then waits for an SMBus-only
    // adapter or a fallback), else through i2c-bus.
    const i2cPath = loadRdwrAddon() instanceof Error ? '"i2c-bus","spi-device"' : '"spi-device","airssys_i2c"';
    expect(lines[0]).toBe(`[] [${i2cPath}] invalid invalid`);
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(/^component weather: i2c bus 1: .*\/i2c-1 does not exist: I2C is not enabled; run sudo raspi-config nonint do_i2c 0 and reboot/),
      expect.stringMatching(/^component weather: spi bus 0 chip-select 0: .*\/spidev0\.0 does not exist: SPI is not enabled; run sudo raspi-config nonint do_spi 0 and reboot/),
    ]);
  });
});
