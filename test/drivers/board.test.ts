import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../runtime/errors.js';
import { parseManifest } from '../../runtime/manifest.js';
import { checkManifestAgainstBoard, createBoard } from '../../drivers/board.js';
import { SimGpio } from '../../drivers/gpio/sim-gpio.js';
import { createSimBoard } from '../../drivers/sim-board.js';

describe('createBoard', () => {
  it('sim by name and with options', async () => {
    const a = await createBoard('sim');
    expect(a.kind).toBe('sim');
    expect(a.gpio).toBeInstanceOf(SimGpio);
    expect(a.gpio.pins).toEqual({ min: 0, max: 53 });
    await a.close();
    const b = await createBoard({ kind: 'sim', options: { pins: { min: 0, max: 27 } } });
    expect(b.gpio.pins.max).toBe(27);
    await b.close();
  });

  it('unknown kinds and bad options are config errors', async () => {
    for (const spec of ['arduino', { kind: 'esp32' }, { kind: 'sim', options: 'fast' }, { kind: 'sim', options: { pins: { min: 9, max: 1 } } }, 42, null]) {
      const err = await createBoard(spec as never).catch((e: unknown) => e);
      expect(err, JSON.stringify(spec)).toBeInstanceOf(GatewayError);
      expect((err as Error).message).not.toContain('\n');
    }
  });

  it('raspberry-pi on a machine without the header chip fails with one line', async () => {
    const err = await createBoard({ kind: 'raspberry-pi', options: { sysfsRoot: '/nonexistent/gpio' } }).catch((e: unknown) => e);
    expect((err as GatewayError).code).toBe('GPIO_HEADER_NOT_FOUND');
  });
});

describe('checkManifestAgainstBoard', () => {
  it('pins outside the range and unknown ports on a strict sim board', () => {
    const board = createSimBoard({ pins: { min: 0, max: 27 }, serial: { ports: { '/dev/ttyAMA0': {} } } });
    const m = parseManifest({
      name: 'thermo',
      version: '1.0.0',
      capabilities: { gpio: { read: [17, 30], write: [40], watch: [30] }, serial: [{ port: '/dev/ttyAMA0' }, { port: '/dev/ttyUSB9' }] },
    });
    expect(checkManifestAgainstBoard(m, board)).toEqual([
      'component thermo: gpio pin 30 is outside the sim board (0-27)',
      'component thermo: gpio pin 40 is outside the sim board (0-27)',
      'component thermo: serial port /dev/ttyUSB9 does not exist on the sim board',
    ]);
  });
});
