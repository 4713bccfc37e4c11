import { beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { componentBytes, loadComponent, MemoryStore } from '../../sdk/testing.js';

/**
 * The SDK's world 0.2.0 calls end to end (AssemblyScript → canonical ABI → the gateway's pipeline on
 * the simulated board): every storage call and its refusals, spi.transfer, i2c absent. The examples
 * cover the rest (examples/weather-station, examples/soil-probe).
 */
const dir = mkdtempSync(path.join(tmpdir(), 'airssys-sdk-v2-'));
const SOURCE = `import { i2c, spi, storage, telemetry, log, bytes, ErrorKind, Status, ok, fail } from "@airssys/sdk";
export function onMessage(topic: string, payload: Uint8Array): Status {
  const arg = bytes.toString(payload);
  if (topic == "set") {
    const eq = arg.indexOf("=");
    return storage.setString(arg.substring(0, eq), arg.substring(eq + 1));
  }
  if (topic == "get") {
    const r = storage.getString(arg);
    if (!r.isOk) return r;
    const v = r.value;
    log.info(v === null ? "(none)" : v);
    return ok();
  }
  if (topic == "keys") {
    const r = storage.listKeys(arg);
    if (!r.isOk) return r;
    log.info(r.value.join(","));
    return ok();
  }
  if (topic == "remove") {
    const r = storage.remove(arg);
    if (!r.isOk) return r;
    log.info(r.value ? "removed" : "absent");
    return ok();
  }
  if (topic == "spi") {
    const d = new Uint8Array(3);
    d[0] = 0x01; d[1] = 0x90; // start bit; single-ended channel 1
    const r = spi.transfer(0, 0, d);
    if (!r.isOk) return r;
    return telemetry.publish("adc", <f64>(((<i32>r.value[1] & 3) << 8) | <i32>r.value[2]));
  }
  if (topic == "i2c") {
    const r = i2c.readRegister(1, 0x77, 0xd0);
    if (r.error.kind == ErrorKind.Absent) return fail("absent (" + r.error.kindName + ")");
    return r;
  }
  return ok();
}
`;
const file = path.join(dir, 'v2.ts');
writeFileSync(file, SOURCE);
const manifest = {
  name: 'v2',
  version: '1.0.0',
  capabilities: {
    storage: { 'max-bytes': 64, 'max-keys': 3 },
    spi: [{ bus: 0, 'chip-select': 0 }],
    i2c: [{ bus: 1, address: 0x77 }],
    telemetry: ['adc'],
    messaging: { receive: ['#'] },
  },
};

describe('SDK world 0.2.0 calls', () => {
  // Build once, with room for a loaded machine (the first AssemblyScript build loads the compiler).
  beforeAll(() => componentBytes(file).then(() => undefined), 300_000);

  it('storage: set, get, listKeys, remove, and the gateway\'s refusals as host errors', async () => {
    const store = new MemoryStore();
    const c = await loadComponent(file, { manifest, storage: store });
    expect(c.init()).toMatchObject({ ok: true });
    for (const kv of ['b/1=one', 'a/2=two ✓', 'b/3=three']) expect(c.message('set', kv)).toMatchObject({ ok: true });
    c.message('get', 'a/2');
    c.message('get', 'zz');
    c.message('keys', 'b/');
    c.message('keys', '');
    expect(c.logs.map((l) => l.message)).toEqual(['two ✓', '(none)', 'b/1,b/3', 'a/2,b/1,b/3']);
    // A fourth key is over max-keys: `limited`, and the bucket is unchanged.
    expect(c.message('set', 'c=x')).toMatchObject({ ok: false, kind: 'returned-err', message: expect.stringMatching(/^limited: /) });
    expect(c.message('set', '=empty key')).toMatchObject({ ok: false, message: expect.stringMatching(/^invalid: /) });
    c.message('remove', 'b/1');
    c.message('remove', 'b/1');
    expect(c.logs.slice(-2).map((l) => l.message)).toEqual(['removed', 'absent']);
    expect(store.bucket('v2').keys()).toEqual(['a/2', 'b/3']);
  });

  it('spi.transfer returns the bytes clocked in; an I2C address with no device is Absent', async () => {
    const c = await loadComponent(file, { manifest, scenario: { spi: [{ bus: 0, 'chip-select': 0, device: 'mcp3008', channels: [0, 777] }] } });
    c.init();
    expect(c.message('spi', '')).toMatchObject({ ok: true });
    expect(c.last('adc')).toBe(777);
    expect(c.message('i2c', '')).toMatchObject({ ok: false, message: 'absent (absent)' });
    expect(c.refused).toEqual([expect.stringMatching(/^absent: i2c.transfer: no device acknowledged address 0x77 on i2c bus 1/)]);
  });

  it('a component without storage in its manifest is denied', async () => {
    const c = await loadComponent(file, { manifest: { ...manifest, capabilities: { messaging: { receive: ['#'] } } } });
    c.init();
    expect(c.message('set', 'k=v')).toMatchObject({ ok: false, message: expect.stringMatching(/^denied: /) });
  });
});
