import { describe, expect, it } from 'vitest';
import { GatewayError, HostCallError } from '../../runtime/errors.js';
import { parseFraming } from '../../runtime/manifest.js';
import { SimSerial } from '../../drivers/serial/sim-serial.js';
import type { SerialEvent } from '../../drivers/serial/types.js';

const line = parseFraming('line', 't');

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    expect((e as Error).message).not.toContain('\n');
    return (e as GatewayError).code;
  }
}

describe('SimSerial', () => {
  it('delivers pushed bytes as frames and records writes', async () => {
    const s = new SimSerial();
    const frames: string[] = [];
    const link = await s.open({ port: '/dev/ttyUSB0', baud: 9600, framing: line }, (f) => frames.push(Buffer.from(f).toString()));
    expect(s.push('/dev/ttyUSB0', 'T=21\r\nT=')).toBe(true);
    s.push('/dev/ttyUSB0', Uint8Array.from(Buffer.from('22\n')));
    expect(frames).toEqual(['T=21', 'T=22']);
    expect(link.write(Buffer.from('PING\n'))).toBe(5);
    expect(s.written('/dev/ttyUSB0').toString()).toBe('PING\n');
    expect(link.stats).toMatchObject({ frames: 2, bytesIn: 11, bytesOut: 5 });
    expect(s.get('/dev/ttyUSB0')).toBe(link);
  });

  it('strict port list: unknown port and refused baud are typed config errors', async () => {
    const s = new SimSerial({ ports: { '/dev/ttyAMA0': { bauds: [9600, 115200] } } });
    expect(await codeOf(s.open({ port: '/dev/ttyUSB7', baud: 9600, framing: line }, () => {}))).toBe('SERIAL_PORT_NOT_FOUND');
    expect(await codeOf(s.open({ port: '/dev/ttyAMA0', baud: 14400, framing: line }, () => {}))).toBe('SERIAL_BAUD_REFUSED');
    await s.open({ port: '/dev/ttyAMA0', baud: 115200, framing: line }, () => {});
    expect(await codeOf(s.open({ port: '/dev/ttyAMA0', baud: 115200, framing: line }, () => {}))).toBe('SERIAL_PORT_BUSY');
    expect(s.knows('/dev/ttyUSB7')).toBe(false);
  });

  it('lenient mode creates /dev ports on demand but not arbitrary paths', async () => {
    const s = new SimSerial();
    expect(s.knows('/dev/ttyACM3')).toBe(true);
    expect(await codeOf(s.open({ port: 'COM3', baud: 9600, framing: line }, () => {}))).toBe('SERIAL_PORT_NOT_FOUND');
  });

  it('unplug: writes get io, pushes are lost; plug: writes work again', async () => {
    const s = new SimSerial();
    const events: SerialEvent['type'][] = [];
    s.on('event', (e: SerialEvent) => events.push(e.type));
    const frames: string[] = [];
    const link = await s.open({ port: '/dev/ttyUSB0', baud: 9600, framing: line }, (f) => frames.push(Buffer.from(f).toString()));
    s.push('/dev/ttyUSB0', 'half');
    s.unplug('/dev/ttyUSB0');
    expect(link.state).toBe('reconnecting');
    try {
      link.write(Uint8Array.of(1));
      expect.unreachable();
    } catch (e) {
      expect((e as HostCallError).tag).toBe('io');
    }
    expect(s.push('/dev/ttyUSB0', 'lost\n')).toBe(false);
    s.plug('/dev/ttyUSB0');
    s.push('/dev/ttyUSB0', 'fresh\n');
    expect(frames).toEqual(['fresh']); // the half frame from before the unplug is gone
    expect(link.write(Uint8Array.of(1))).toBe(1);
    expect(link.stats.reopens).toBe(1);
    await link.close();
    expect(() => link.write(Uint8Array.of(1))).toThrow(/not open/);
    expect(events).toEqual(['open', 'disconnected', 'reopened', 'closed']);
  });

  it('a full send queue accepts part of a write and counts the rest', async () => {
    const s = new SimSerial({ maxQueuedBytes: 10 });
    const link = await s.open({ port: '/dev/ttyS0', baud: 9600, framing: line }, () => {});
    expect(link.write(new Uint8Array(6))).toBe(6);
    expect(link.write(new Uint8Array(6))).toBe(4);
    expect(link.write(new Uint8Array(6))).toBe(0);
    expect(link.stats.refusedBytes).toBe(8);
    s.drain('/dev/ttyS0');
    expect(link.write(new Uint8Array(6))).toBe(6);
  });
});
