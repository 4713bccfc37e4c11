import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayError } from '../../runtime/errors.js';
import { parseFraming } from '../../runtime/manifest.js';
import { backoffDelay } from '../../runtime/backoff.js';
import { createSerialportSerial, DEFAULT_BACKOFF } from '../../drivers/serial/serialport-serial.js';

/** The serialport driver on @serialport/binding-mock (installed here; skipped where it is not). */
const require = createRequire(import.meta.url);
// A local shape: the package's typings do not resolve through its "exports" under NodeNext.
interface MockModule {
  MockBinding: {
    createPort(path: string, opts?: { echo?: boolean; record?: boolean }): void;
    reset(): void;
    open(o: unknown): Promise<unknown>;
    list(): Promise<unknown[]>;
  };
}
let mock: MockModule | undefined;
try {
  mock = require('@serialport/binding-mock') as MockModule;
} catch {
  mock = undefined;
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe.skipIf(!mock)('serialport driver on @serialport/binding-mock', () => {
  afterEach(() => mock!.MockBinding.reset());

  it('opens a mock port, echoes writes back as frames', async () => {
    mock!.MockBinding.createPort('/dev/ROBOT', { echo: true, record: true });
    const driver = await createSerialportSerial({ binding: mock!.MockBinding });
    const frames: string[] = [];
    const link = await driver.open({ port: '/dev/ROBOT', baud: 57600, framing: parseFraming('delimiter:0d0a', 't') }, (f) => frames.push(Buffer.from(f).toString()));
    expect(link.write(Buffer.from('hello\r\nworld\r\n'))).toBe(14);
    await until(() => frames.length === 2);
    expect(frames).toEqual(['hello', 'world']);
    await driver.close();
    expect(link.state).toBe('closed');
  });

  it('unknown mock port is SERIAL_PORT_NOT_FOUND', async () => {
    const driver = await createSerialportSerial({ binding: mock!.MockBinding });
    const err = await driver.open({ port: '/dev/NOPE', baud: 9600, framing: parseFraming('line', 't') }, () => {}).catch((e: unknown) => e);
    expect((err as GatewayError).code).toBe('SERIAL_PORT_NOT_FOUND');
  });

  it('a baud rate the port refuses is SERIAL_BAUD_REFUSED, a second open is SERIAL_PORT_BUSY', async () => {
    mock!.MockBinding.createPort('/dev/PICKY');
    // A binding whose open rejects odd rates the way bindings-cpp does ("Error setting baud rate").
    const picky = {
      ...mock!.MockBinding,
      list: mock!.MockBinding.list.bind(mock!.MockBinding),
      async open(o: { baudRate: number }) {
        if (![9600, 115200].includes(o.baudRate)) throw new Error(`Error setting baud rate ${o.baudRate}: Invalid argument`);
        return mock!.MockBinding.open(o);
      },
    };
    const driver = await createSerialportSerial({ binding: picky });
    const err = await driver.open({ port: '/dev/PICKY', baud: 14400, framing: parseFraming('line', 't') }, () => {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('SERIAL_BAUD_REFUSED');
    expect((err as Error).message).toMatch(/refused baud 14400/);
    await driver.open({ port: '/dev/PICKY', baud: 9600, framing: parseFraming('line', 't') }, () => {});
    const busy = await driver.open({ port: '/dev/PICKY', baud: 9600, framing: parseFraming('line', 't') }, () => {}).catch((e: unknown) => e);
    expect((busy as GatewayError).code).toBe('SERIAL_PORT_BUSY');
    await driver.close();
  });

  it('a baud serialport itself rejects (not a number) is an error, not a crash', async () => {
    mock!.MockBinding.createPort('/dev/X');
    const driver = await createSerialportSerial({ binding: mock!.MockBinding });
    const err = await driver.open({ port: '/dev/X', baud: Number.NaN, framing: parseFraming('line', 't') }, () => {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
  });
});

describe('backoffDelay', () => {
  it('grows exponentially to the cap, with bounded jitter', () => {
    const b = { ...DEFAULT_BACKOFF, initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.2 };
    expect([0, 1, 2, 3, 4, 10].map((a) => backoffDelay(b, a, () => 0.5))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay(b, 0, () => 0)).toBe(80);
    expect(backoffDelay(b, 0, () => 0.999999)).toBe(120);
  });
});
