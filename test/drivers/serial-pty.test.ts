import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError, HostCallError } from '../../runtime/errors.js';
import { parseFraming } from '../../runtime/manifest.js';
import { createSerialportSerial, type SerialportSerial } from '../../drivers/serial/serialport-serial.js';
import type { SerialEvent, SerialLink } from '../../drivers/serial/types.js';

/** Real pseudo-terminal pairs from socat: the driver opens one end, the test plays the device on the other. */
const haveSocat = spawnSync('socat', ['-V']).status === 0;

interface Pair {
  proc: ChildProcess;
  a: string;
  b: string;
  stderr: string;
}

/** Starts `socat -d -d pty,raw,echo=0[,link=..] pty,...` and parses the two /dev/pts paths from stderr. */
function startSocat(links?: [string, string]): Promise<Pair> {
  const end = (l?: string) => `pty,raw,echo=0${l ? `,link=${l}` : ''}`;
  const proc = spawn('socat', ['-d', '-d', end(links?.[0]), end(links?.[1])], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`socat did not start: ${stderr}`)), 5000);
    proc.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const paths = [...stderr.matchAll(/PTY is (\/dev\/pts\/\d+)/g)].map((m) => m[1]!);
      if (paths.length === 2 && /starting data transfer loop/.test(stderr)) {
        clearTimeout(timer);
        resolve({ proc, a: links ? links[0] : paths[0]!, b: links ? links[1] : paths[1]!, stderr });
      }
    });
    proc.on('exit', (code) => reject(new Error(`socat exited ${code}: ${stderr}`)));
  });
}

function stop(p: Pair): Promise<void> {
  if (p.proc.exitCode !== null) return Promise.resolve();
  return new Promise((r) => {
    p.proc.once('exit', () => r());
    p.proc.kill('SIGTERM');
  });
}

async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Reads what the driver wrote, from the device end (non-blocking poll). */
async function readFrom(path: string, n: number): Promise<string> {
  const fd = openSync(path, 'r+');
  const { constants } = await import('node:fs');
  closeSync(fd);
  const nb = openSync(path, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOCTTY);
  let out = Buffer.alloc(0);
  try {
    await until(() => {
      const buf = Buffer.alloc(256);
      try {
        const got = readSync(nb, buf, 0, 256, null);
        out = Buffer.concat([out, buf.subarray(0, got)]);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      }
      return out.length >= n;
    }, 5000, 'bytes on the device end');
  } finally {
    closeSync(nb);
  }
  return out.toString();
}

describe.skipIf(!haveSocat)('serialport driver on socat ptys', () => {
  const pairs: Pair[] = [];
  let dir: string;
  let driver: SerialportSerial;
  const events: SerialEvent[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'airssys-pty-'));
  });
  afterEach(async () => {
    await driver?.close();
    for (const p of pairs.splice(0)) await stop(p);
    events.length = 0;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('parses the pty paths from stderr, frames what the device sends, writes to the device', async () => {
    const pair = await startSocat();
    pairs.push(pair);
    expect(pair.a).toMatch(/^\/dev\/pts\/\d+$/);
    expect(pair.b).toMatch(/^\/dev\/pts\/\d+$/);
    driver = await createSerialportSerial({ onEvent: (e) => events.push(e) });
    const frames: string[] = [];
    const link = await driver.open({ port: pair.a, baud: 115200, framing: parseFraming('line', 't') }, (f) => frames.push(Buffer.from(f).toString()));
    expect(link.state).toBe('open');
    writeFileSync(pair.b, 'T=21.5\r\nH=40');
    writeFileSync(pair.b, '\n');
    await until(() => frames.length === 2, 5000, 'two frames');
    expect(frames).toEqual(['T=21.5', 'H=40']);
    expect(link.write(Buffer.from('PING\n'))).toBe(5);
    expect(await readFrom(pair.b, 5)).toBe('PING\n');
    expect(events.map((e) => e.type)).toContain('open');
  });

  it('a missing port is SERIAL_PORT_NOT_FOUND, never a crash', async () => {
    driver = await createSerialportSerial();
    const err = await driver.open({ port: join(dir, 'nothing-here'), baud: 9600, framing: parseFraming('line', 't') }, () => {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('SERIAL_PORT_NOT_FOUND');
    expect(driver.get(join(dir, 'nothing-here'))).toBeUndefined();
  });

  it('unplug (socat killed): writes get io; socat back on the same link names: the driver reopens with backoff', async () => {
    const links: [string, string] = [join(dir, 'dev-a'), join(dir, 'dev-b')];
    let pair = await startSocat(links);
    pairs.push(pair);
    driver = await createSerialportSerial({ onEvent: (e) => events.push(e), backoff: { initialMs: 20, maxMs: 200, jitter: 0.2 } });
    const frames: string[] = [];
    const link: SerialLink = await driver.open({ port: links[0], baud: 9600, framing: parseFraming('delimiter:3b', 't') }, (f) => frames.push(Buffer.from(f).toString()));
    writeFileSync(links[1], 'one;');
    await until(() => frames.length === 1, 5000, 'first frame');

    await stop(pair);
    await until(() => link.state === 'reconnecting', 5000, 'disconnect');
    let ioErr: unknown;
    try {
      link.write(Buffer.from('x'));
    } catch (e) {
      ioErr = e;
    }
    expect(ioErr).toBeInstanceOf(HostCallError);
    expect((ioErr as HostCallError).tag).toBe('io');
    expect((ioErr as HostCallError).message).toMatch(/disconnected/);
    // Let a few reopen attempts fail while the link name dangles.
    await until(() => events.filter((e) => e.type === 'reopen-failed').length >= 2, 5000, 'failed reopen attempts');
    expect(existsSync(links[0])).toBe(false);

    pair = await startSocat(links);
    pairs.push(pair);
    await until(() => link.state === 'open', 5000, 'reopen');
    expect(link.stats.reopens).toBe(1);
    writeFileSync(links[1], 'two;');
    await until(() => frames.length === 2, 5000, 'frame after reopen');
    expect(frames).toEqual(['one', 'two']);
    expect(link.write(Buffer.from('back'))).toBe(4);
    expect(await readFrom(links[1], 4)).toBe('back');
    const types = events.map((e) => e.type);
    expect(types).toContain('disconnected');
    expect(types).toContain('reopened');
    // Backoff grows between failed attempts.
    const retries = events.filter((e): e is Extract<SerialEvent, { type: 'reopen-failed' }> => e.type === 'reopen-failed').map((e) => e.attempt);
    expect(retries.slice(0, 2)).toEqual([1, 2]);
  });

  it('closing a link while it waits to reopen stops the retries', async () => {
    const links: [string, string] = [join(dir, 'c-a'), join(dir, 'c-b')];
    const pair = await startSocat(links);
    pairs.push(pair);
    // The hang-up comes right after open, which the read poller misses: the health check catches it.
    driver = await createSerialportSerial({ onEvent: (e) => events.push(e), backoff: { initialMs: 10, maxMs: 20 }, healthCheckMs: 50 });
    const link = await driver.open({ port: links[0], baud: 9600, framing: parseFraming('bytes', 't') }, () => {});
    await stop(pair);
    await until(() => link.state === 'reconnecting', 5000, 'disconnect');
    await link.close();
    const n = events.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(events.length).toBe(n);
    expect(() => link.write(Uint8Array.of(1))).toThrow(/not open/);
    expect(driver.get(links[0])).toBeUndefined();
  });
});
