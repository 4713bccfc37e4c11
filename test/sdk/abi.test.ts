import { beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { buildAssemblyScript } from '../../sdk/build.js';
import { hostErr, instantiateDirect } from './jco-direct.js';

const probe = fileURLToPath(new URL('./fixtures/abi-probe.ts', import.meta.url));
const enc = new TextEncoder();

let bytes: Uint8Array;
beforeAll(async () => {
  bytes = await buildAssemblyScript(probe);
});

function makeHost() {
  const out: unknown[] = [];
  const logs: [string, string][] = [];
  const sent: [string, Uint8Array][] = [];
  const serialOut: [string, Uint8Array][] = [];
  const state = { gpioError: undefined as undefined | ReturnType<typeof hostErr>, now: 1234567890123n };
  const imports = {
    'airssys:gateway/gpio': {
      read: (pin: number) => {
        if (state.gpioError) throw state.gpioError;
        return pin === 17;
      },
      write: (pin: number) => {
        if (pin !== 22) throw hostErr('denied', `pin ${pin} not granted`);
      },
    },
    'airssys:gateway/serial': {
      write: (port: string, data: Uint8Array) => {
        serialOut.push([port, data.slice()]);
        return data.length;
      },
    },
    'airssys:gateway/telemetry': {
      publish: (ch: string) => {
        if (ch !== 'ok') throw hostErr('limited', `rate limit on ${ch} ✓`);
      },
      publishJson: (ch: string, json: string) => out.push(JSON.parse(json)),
    },
    'airssys:gateway/messaging': { send: (t: string, p: Uint8Array) => void sent.push([t, p.slice()]) },
    'airssys:gateway/host': {
      log: (level: string, msg: string) => void logs.push([level, msg]),
      nowMs: () => state.now,
      config: (k: string) => (k === 'empty' ? '' : k === 'key' ? 'välue ☃' : undefined),
    },
  };
  return { imports, out, logs, sent, serialOut, state };
}

async function load() {
  const host = makeHost();
  const c = await instantiateDirect(bytes, host.imports);
  const msg = (topic: string, payload: string | Uint8Array = '') =>
    c.exports.onMessage!(topic, typeof payload === 'string' ? enc.encode(payload) : payload);
  return { ...host, ...c, msg };
}

describe('AssemblyScript SDK canonical ABI (checked with jco glue directly)', () => {
  it('lifts result<bool, host-error> for every host-error case', async () => {
    const c = await load();
    c.msg('gpio-read', '17');
    c.msg('gpio-read', '4');
    expect(c.out.splice(0)).toEqual([
      { ok: true, kind: 5, kindName: 'none', message: '', value: true },
      { ok: true, kind: 5, kindName: 'none', message: '', value: false },
    ]);
    for (const [tag, kind] of [['denied', 0], ['invalid', 1], ['io', 2], ['limited', 3]] as const) {
      c.state.gpioError = hostErr(tag, `${tag} — ünïcode`);
      c.msg('gpio-read', '17');
      expect(c.out.pop()).toEqual({ ok: false, kind, kindName: tag, message: `${tag} — ünïcode`, value: false });
    }
  });

  it('lifts result<_, host-error> and result<u32, host-error>', async () => {
    const c = await load();
    c.msg('gpio-write', '5');
    expect(c.out.pop()).toMatchObject({ ok: false, kindName: 'denied', message: 'pin 5 not granted' });
    c.msg('publish', 'nope');
    expect(c.out.pop()).toMatchObject({ ok: false, kindName: 'limited', message: 'rate limit on nope ✓' });
    c.msg('serial', new Uint8Array([1, 2, 3, 255]));
    expect(c.out.pop()).toMatchObject({ ok: true, n: 4 });
    expect(c.serialOut).toEqual([['/dev/ttyS0', new Uint8Array([1, 2, 3, 255])]]);
    c.msg('send', 'hi');
    expect(c.sent).toEqual([['probe/out', enc.encode('hi')]]);
  });

  it('round-trips UTF-8 strings, empty strings and empty lists', async () => {
    const c = await load();
    c.msg('echo', 'grüße ☃ 𝄞');
    expect(c.out.pop()).toEqual({ text: 'grüße ☃ 𝄞', bytes: 16, chars: 10 });
    c.msg('echo', '');
    expect(c.out.pop()).toEqual({ text: '', bytes: 0, chars: 0 });
    c.exports.onSerial!('', new Uint8Array());
    expect(c.out.pop()).toEqual({ port: '', len: 0, sum: 0 });
  });

  it('lowers option<string>, log levels and u64 time', async () => {
    const c = await load();
    c.msg('config', 'key');
    c.msg('config', 'empty');
    c.msg('config', 'missing');
    expect(c.out.splice(0)).toEqual([
      { isNull: false, value: 'välue ☃' },
      { isNull: false, value: '' },
      { isNull: true, value: '' },
    ]);
    c.msg('log', 'x');
    expect(c.logs.map((l) => l[0])).toEqual(['trace', 'debug', 'info', 'warn', 'error']);
    c.msg('now');
    expect(c.out.pop()).toEqual({ now: 1234567890123 });
  });

  it('returns err(string) from a handler, and defaults missing handlers to ok', async () => {
    const c = await load();
    expect(() => c.msg('fail', 'broken ✗')).toThrow(expect.objectContaining({ payload: 'broken ✗' }));
    expect(c.exports.init!()).toBeUndefined();
    expect(c.exports.onTick!(5n)).toBeUndefined();
    expect(c.exports.onGpio!(17, true, 5n)).toBeUndefined();
  });

  it('traps on a failed assert and logs where (no env.abort import)', async () => {
    const c = await load();
    expect(() => c.msg('assert', 'no')).toThrow(WebAssembly.RuntimeError);
    expect(c.logs.at(-1)![0]).toBe('error');
    expect(c.logs.at(-1)![1]).toMatch(/abort: probe assertion at .*abi-probe\.ts:\d+:\d+/);
  });

  it('grows memory for large host data and does not leak per event', async () => {
    const c = await load();
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i & 0xff);
    c.exports.onSerial!('/dev/x', big);
    expect(c.out.pop()).toMatchObject({ len: big.length });
    expect(c.memoryBytes()).toBeGreaterThan(3 * 1024 * 1024);
    // Warm up, then thousands of events of every kind (errors included) must not grow memory.
    const round = () => {
      c.exports.onSerial!('/dev/ttyUSB0', new Uint8Array(600).fill(7));
      c.msg('echo', 'x'.repeat(300));
      c.state.gpioError = hostErr('io', 'e'.repeat(200));
      c.msg('gpio-read', '17');
      c.state.gpioError = undefined;
      c.msg('config', 'key');
      try { c.msg('fail', 'f'.repeat(500)); } catch { /* returned err */ }
      c.out.length = 0;
    };
    for (let i = 0; i < 500; i++) round();
    const before = c.memoryBytes();
    for (let i = 0; i < 5000; i++) round();
    expect(c.memoryBytes()).toBe(before);
  });

  it('keeps state across events (the GC must not collect globals)', async () => {
    const c = await load();
    for (let i = 0; i < 3000; i++) {
      c.msg('keep', `item ${i}`);
      c.msg('echo', 'y'.repeat(1000)); // garbage to trigger collections
    }
    expect(c.out.filter((o) => (o as { kept?: number }).kept !== undefined).at(-1)).toEqual({ kept: 3000 });
  });
});
