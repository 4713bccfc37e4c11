import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GatewayError, HostCallError, type HostErrorTag } from '../../runtime/errors.js';
import type { LogLevel } from '../../runtime/host-api.js';
import { parseManifest } from '../../runtime/manifest.js';
import { acquireDevices, releaseDevices } from '../../drivers/device-lease.js';
import { createHostApi, type TelemetrySample } from '../../drivers/pipeline/host-calls.js';
import { createAudit, verifyAuditLog, type Audit } from '../../drivers/pipeline/audit.js';
import { compileGrant } from '../../drivers/policy/grant.js';
import { Metrics } from '../../drivers/pipeline/metrics.js';
import { createSimBoard, type SimBoard } from '../../drivers/sim-board.js';

const dir = mkdtempSync(join(tmpdir(), 'airssys-host-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;

const manifest = parseManifest({
  name: 'thermo',
  version: '1.0.0',
  capabilities: {
    gpio: { read: [17, 27], write: [22], watch: [{ pin: 4, edge: 'both', 'debounce-ms': 0 }] },
    serial: [{ port: '/dev/ttyUSB0', baud: 9600, framing: 'line' }],
    telemetry: ['temperature'],
    messaging: { send: ['thermo/#'], receive: ['cmd/#'] },
    config: { setpoint: '21.5' },
  },
});

function tagOf(fn: () => unknown): HostErrorTag | 'ok' {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (!(e instanceof HostCallError)) throw e;
    return e.tag;
  }
}

interface Setup {
  board: SimBoard;
  audit: Audit;
  auditFile: string;
  metrics: Metrics;
  telemetry: Array<[string, TelemetrySample]>;
  messages: Array<[string, Uint8Array]>;
  logs: Array<[LogLevel, string]>;
}

function setup(over: Partial<Parameters<typeof createHostApi>[0]> = {}) {
  const board = createSimBoard({ pins: { min: 0, max: 27 } });
  const auditFile = join(dir, `audit-${fileNo++}.log`);
  const audit = createAudit({ file: auditFile });
  const metrics = new Metrics();
  const s: Setup = { board, audit, auditFile, metrics, telemetry: [], messages: [], logs: [] };
  const api = createHostApi({
    component: { name: 'thermo', version: '1.0.0' },
    grant: compileGrant(manifest),
    board,
    audit,
    metrics,
    sinks: {
      telemetry: (c, v) => s.telemetry.push([c, v]),
      message: (t, p) => s.messages.push([t, p]),
      log: (l, m) => s.logs.push([l, m]),
    },
    now: () => 1234.9,
    ...over,
  });
  return { ...s, api };
}

const auditRecords = (file: string) => readFileSync(file, 'utf8').trimEnd().split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('createHostApi: the pipeline', () => {
  it('allowed gpio calls reach the driver and are counted, not audited', async () => {
    const { api, board, metrics, audit, auditFile } = setup();
    board.sim.gpio.setInput(17, true);
    expect(api.gpioRead(17)).toBe(true);
    expect(api.gpioRead(27)).toBe(false);
    expect(api.gpioRead(22)).toBe(false); // reading back an own output
    expect(api.gpioRead(4)).toBe(false); // a watched pin
    api.gpioWrite(22, true);
    expect(board.sim.gpio.outputs.get(22)).toBe(true);
    expect(metrics.for('thermo').gpio).toBe(5);
    await audit.close();
    expect(readFileSync(auditFile, 'utf8')).toBe('');
  });

  it('denials throw denied naming the missing capability and are audited', async () => {
    const { api, metrics, audit, auditFile, board } = setup();
    const cases: Array<[() => unknown, string]> = [
      [() => api.gpioRead(5), 'missing capability gpio.read pin 5'],
      [() => api.gpioWrite(17, true), 'missing capability gpio.write pin 17'],
      [() => api.serialWrite('/dev/ttyUSB1', Uint8Array.of(1)), 'missing capability serial port /dev/ttyUSB1'],
      [() => api.publish('humidity', 1), 'missing capability telemetry channel humidity'],
      [() => api.publishJson('humidity', '{}'), 'missing capability telemetry channel humidity'],
      [() => api.send('other/topic', Uint8Array.of()), 'missing capability messaging.send other/topic'],
    ];
    for (const [fn, msg] of cases) {
      let err: unknown;
      try {
        fn();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(HostCallError);
      expect((err as HostCallError).payload).toEqual({ tag: 'denied', val: msg });
    }
    expect(board.sim.gpio.outputs.size).toBe(0);
    expect(metrics.for('thermo').denied).toBe(6);
    await audit.close();
    const recs = auditRecords(auditFile);
    expect(recs).toHaveLength(6);
    expect(recs[0]).toMatchObject({ component: 'thermo', version: '1.0.0', op: 'gpio.read', target: 'pin 5', decision: 'denied', reason: 'missing capability gpio.read pin 5' });
    expect(recs.map((r) => r.op)).toEqual(['gpio.read', 'gpio.write', 'serial.write', 'telemetry.publish', 'telemetry.publish', 'messaging.send']);
    expect((await verifyAuditLog(auditFile)).ok).toBe(true);
  });

  it('hostile arguments are invalid, never a crash', () => {
    const { api, metrics } = setup();
    const big = new Uint8Array(64 * 1024 + 1);
    const bad: Array<() => unknown> = [
      () => api.gpioRead(28), // outside the Pi-sized sim board
      () => api.gpioRead(-1),
      () => api.gpioRead(4294967295),
      () => api.gpioRead(NaN),
      () => api.gpioRead(1.5),
      () => api.gpioWrite(99, true),
      () => api.gpioWrite(22, 1 as unknown as boolean),
      () => api.serialWrite('/dev/ttyUSB0', big),
      () => api.serialWrite('', Uint8Array.of(1)),
      () => api.serialWrite('/dev/ttyUSB0', 'text' as unknown as Uint8Array),
      () => api.publish('temperature', NaN),
      () => api.publish('temperature', Infinity),
      () => api.publish('temperature', '21' as unknown as number),
      () => api.publish('temp/../x', 1),
      () => api.publish('', 1),
      () => api.publishJson('temperature', '{"a":'),
      () => api.publishJson('temperature', `"${'x'.repeat(64 * 1024)}"`),
      () => api.publishJson('temperature', `"${'é'.repeat(40 * 1024)}"`), // 80 KiB of UTF-8 in 40 K chars
      () => api.send('thermo/+', Uint8Array.of()),
      () => api.send('thermo/#', Uint8Array.of()),
      () => api.send('', Uint8Array.of()),
      () => api.send('thermo/x', new Uint8Array(256 * 1024 + 1)),
    ];
    for (const fn of bad) expect(tagOf(fn), fn.toString()).toBe('invalid');
    expect(metrics.for('thermo').invalid).toBe(bad.length);
    expect(metrics.for('thermo').denied).toBe(0);
  });

  it('telemetry, JSON and messages reach the sinks', () => {
    const { api, telemetry, messages } = setup();
    api.publish('temperature', 21.5);
    api.publishJson('temperature', '{"c":21.5,"ok":true}');
    const payload = Uint8Array.of(1, 2, 3);
    api.send('thermo/status', payload);
    payload[0] = 9; // the sink got a copy
    expect(telemetry).toEqual([
      ['temperature', { value: 21.5 }],
      ['temperature', { json: { c: 21.5, ok: true } }],
    ]);
    expect(messages[0]![0]).toBe('thermo/status');
    expect([...messages[0]![1]]).toEqual([1, 2, 3]);
  });

  it('wildcard telemetry grant still validates channel names', () => {
    const m = parseManifest({ name: 'any', version: '1.0.0', capabilities: { telemetry: ['*'] } });
    const { api, telemetry } = setup({ grant: compileGrant(m), component: { name: 'any', version: '1.0.0' } });
    api.publish('whatever', 1);
    expect(tagOf(() => api.publish('a/b', 1))).toBe('invalid');
    expect(tagOf(() => api.publish('#', 1))).toBe('invalid');
    expect(telemetry).toHaveLength(1);
  });

  it('rate limits per class return limited and count', () => {
    const { api, metrics } = setup({ rateLimits: { gpio: { rate: 1, burst: 2 }, telemetry: null } });
    expect([tagOf(() => api.gpioRead(17)), tagOf(() => api.gpioRead(17)), tagOf(() => api.gpioRead(17))]).toEqual(['ok', 'ok', 'limited']);
    // other classes are separate buckets; telemetry is unlimited here
    for (let i = 0; i < 1000; i++) api.publish('temperature', i);
    expect(metrics.for('thermo').limited).toBe(1);
    try {
      api.gpioWrite(22, true);
    } catch (e) {
      expect((e as Error).message).toBe('limited: gpio calls are limited to 1/s (burst 2)');
    }
  });

  it('log never throws: bad levels become info, long lines are cut, floods are dropped and counted', () => {
    const { api, logs, metrics } = setup({ rateLimits: { log: { rate: 1, burst: 2 } } });
    api.log('bogus' as LogLevel, 'x'.repeat(10_000));
    api.log('warn', 'ok');
    api.log('error', 'dropped');
    expect(logs[0]![0]).toBe('info');
    expect(logs[0]![1].length).toBeLessThan(8300);
    expect(logs[0]![1]).toMatch(/more characters dropped/);
    expect(logs).toHaveLength(2);
    expect(metrics.for('thermo').limited).toBe(1);
    const throwing = setup({ sinks: { telemetry() {}, message() {}, log() { throw new Error('disk full'); } } });
    expect(() => throwing.api.log('info', 'x')).not.toThrow();
  });

  it('sink and driver failures become io', () => {
    const { api, board, metrics } = setup({ sinks: { telemetry() { throw new Error('queue full'); }, message() { throw new HostCallError('limited', 'outbox full'); }, log() {} } });
    expect(tagOf(() => api.publish('temperature', 1))).toBe('io');
    expect(tagOf(() => api.send('thermo/x', Uint8Array.of()))).toBe('limited');
    board.sim.gpio.close();
    expect(tagOf(() => api.gpioRead(17))).toBe('io');
    expect(metrics.for('thermo').errors).toBe(2);
  });

  it('now-ms and config', () => {
    const { api } = setup();
    expect(api.nowMs()).toBe(1234n);
    expect(api.config('setpoint')).toBe('21.5');
    expect(api.config('missing')).toBeUndefined();
    expect(api.config(7 as unknown as string)).toBeUndefined();
    const other = setup({ config: { a: 'b' } });
    expect(other.api.config('a')).toBe('b');
    expect(other.api.config('setpoint')).toBeUndefined();
  });

  it('serial write before the port is open is invalid; after acquire it reaches the device', async () => {
    const s = setup();
    expect(tagOf(() => s.api.serialWrite('/dev/ttyUSB0', Uint8Array.of(1)))).toBe('invalid');
    const lease = await acquireDevices({ component: { name: 'thermo', version: '1.0.0' }, grant: compileGrant(manifest), board: s.board, audit: s.audit, callbacks: { onSerial() {}, onGpio() {} } });
    expect(s.api.serialWrite('/dev/ttyUSB0', Buffer.from('hi'))).toBe(2);
    expect(s.api.serialWrite('/dev/ttyUSB0', new Uint8Array(0))).toBe(0);
    expect(s.board.sim.serial.written('/dev/ttyUSB0').toString()).toBe('hi');
    s.board.sim.serial.unplug('/dev/ttyUSB0');
    expect(tagOf(() => s.api.serialWrite('/dev/ttyUSB0', Uint8Array.of(1)))).toBe('io');
    await releaseDevices(lease);
  });
});

describe('acquireDevices / releaseDevices', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('opens ports, starts watches, claims outputs; delivers frames and edges; audits grants and releases', async () => {
    const board = createSimBoard();
    const file = join(dir, `acq-${fileNo++}.log`);
    const audit = createAudit({ file });
    const frames: Array<[string, string]> = [];
    const edges: Array<[number, boolean, number]> = [];
    const lease = await acquireDevices({
      component: { name: 'thermo', version: '1.0.0' },
      grant: compileGrant(manifest),
      board,
      audit,
      callbacks: { onSerial: (p, f) => frames.push([p, Buffer.from(f).toString()]), onGpio: (pin, v, at) => edges.push([pin, v, at]) },
    });
    expect([...lease.serial.keys()]).toEqual(['/dev/ttyUSB0']);
    expect(board.claims.owner(22)).toBe('thermo');
    board.sim.serial.push('/dev/ttyUSB0', 'T=20\n');
    board.sim.gpio.setInput(4, true, 99);
    expect(frames).toEqual([['/dev/ttyUSB0', 'T=20']]);
    expect(edges).toEqual([[4, true, 99]]);

    await releaseDevices(lease);
    await releaseDevices(lease); // idempotent
    board.sim.gpio.setInput(4, false, 100);
    expect(edges).toHaveLength(1);
    expect(board.sim.gpio.watcherCount()).toBe(0);
    expect(board.claims.owner(22)).toBeUndefined();
    expect(board.sim.serial.get('/dev/ttyUSB0')).toBeUndefined();
    await audit.close();
    const recs = auditRecords(file);
    expect(recs.map((r) => `${r.decision} ${r.op} ${r.target}`)).toEqual([
      'granted gpio.output pin 22',
      'granted serial.open /dev/ttyUSB0',
      'granted gpio.watch pin 4',
      'released gpio.watch pin 4',
      'released serial.open /dev/ttyUSB0',
      'released gpio.output pin 22',
    ]);
    expect(recs[1].reason).toBe('baud 9600, framing line');
    expect((await verifyAuditLog(file)).ok).toBe(true);
  });

  it('a throwing callback does not break the device', async () => {
    const board = createSimBoard();
    const errors: unknown[] = [];
    let calls = 0;
    await acquireDevices({
      component: { name: 'thermo', version: '1.0.0' },
      grant: compileGrant(manifest),
      board,
      callbacks: { onSerial: () => { calls++; throw new Error('mailbox full'); }, onGpio() {}, onError: (e) => errors.push(e) },
    });
    board.sim.serial.push('/dev/ttyUSB0', 'a\nb\n');
    expect(calls).toBe(2);
    expect(errors).toHaveLength(2);
  });

  it('failures are one-line GatewayErrors and roll back what was taken', async () => {
    const strict = createSimBoard({ serial: { ports: { '/dev/ttyAMA0': {} } } });
    const err = await acquireDevices({ component: { name: 'thermo', version: '1.0.0' }, grant: compileGrant(manifest), board: strict, callbacks: { onSerial() {}, onGpio() {} } }).catch((e: unknown) => e);
    expect((err as GatewayError).code).toBe('SERIAL_PORT_NOT_FOUND');
    expect(strict.claims.owner(22)).toBeUndefined(); // output claim rolled back

    const baud = createSimBoard({ serial: { ports: { '/dev/ttyUSB0': { bauds: [115200] } } } });
    const e2 = await acquireDevices({ component: { name: 'thermo', version: '1.0.0' }, grant: compileGrant(manifest), board: baud, callbacks: { onSerial() {}, onGpio() {} } }).catch((e: unknown) => e);
    expect((e2 as GatewayError).code).toBe('SERIAL_BAUD_REFUSED');

    const small = createSimBoard({ pins: { min: 0, max: 10 } });
    const e3 = await acquireDevices({ component: { name: 'thermo', version: '1.0.0' }, grant: compileGrant(manifest), board: small, callbacks: { onSerial() {}, onGpio() {} } }).catch((e: unknown) => e);
    expect((e3 as GatewayError).code).toBe('GPIO_PIN_OUT_OF_RANGE');
    expect((e3 as Error).message).toBe('component thermo: gpio.write pin 22 is outside the sim board (0-10); correct the manifest');

    const shared = createSimBoard();
    shared.claims.claim('other', [22]);
    const e4 = await acquireDevices({ component: { name: 'thermo', version: '1.0.0' }, grant: compileGrant(manifest), board: shared, callbacks: { onSerial() {}, onGpio() {} } }).catch((e: unknown) => e);
    expect((e4 as GatewayError).code).toBe('GPIO_OUTPUT_CONFLICT');
    expect(shared.sim.serial.get('/dev/ttyUSB0')).toBeUndefined();
  });
});
