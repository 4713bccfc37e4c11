import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../gateway/cli/io.js';
import { run as status } from '../../gateway/cli/verbs/status.js';
import { run as telemetry } from '../../gateway/cli/verbs/telemetry.js';
import { describe as describeError } from '../../gateway/cli/main.js';
import { MqttConnection } from '../../gateway/mqtt/connection.js';
import { freePort, Mosquitto } from '../helpers/mosquitto.js';

let mosq: Mosquitto;
let conn: MqttConnection;
beforeAll(async () => {
  mosq = await new Mosquitto().start();
  conn = new MqttConnection({ url: mosq.url, retry: false });
  await conn.start();
  const ts = Date.UTC(2025, 0, 2, 3, 4, 5);
  await conn.publish('airssys/gw/gw-1/state', JSON.stringify({ state: 'online', version: '0.1.0', ts }), { qos: 1, retain: true });
  await conn.publish('airssys/gw/gw-1/components/thermo/state', JSON.stringify({ state: 'running', version: '1.0.0', sha256: 'ab', restarts: 2, ts }), { qos: 1, retain: true });
  await conn.publish('airssys/gw/gw-2/state', JSON.stringify({ state: 'offline', version: '0.1.0', ts }), { qos: 1, retain: true });
});
afterAll(async () => {
  await conn.stop();
  await mosq.dispose();
});

function io(): CliIo & { lines: string[]; errs: string[] } {
  const lines: string[] = [];
  const errs: string[] = [];
  return { lines, errs, out: (l) => lines.push(l), err: (l) => errs.push(l) };
}

/** What `airssys` prints for a thrown error (main.ts). */
async function exitOf(p: Promise<number>, o: ReturnType<typeof io>): Promise<number> {
  try {
    return await p;
  } catch (err) {
    o.errs.push(`error: ${describeError(err)}`);
    return 1;
  }
}

describe('airssys status', () => {
  it('prints gateways and components from retained state', async () => {
    const o = io();
    expect(await status(['--broker', mosq.url, '--wait-ms', '300'], o)).toBe(0);
    expect(o.lines[0]).toMatch(/^GATEWAY\s+COMPONENT\s+STATE\s+VERSION\s+RESTARTS\s+UPDATED$/);
    expect(o.lines.find((l) => /^gw-1\s+-\s+online\s+0\.1\.0/.test(l))).toBeDefined();
    expect(o.lines.find((l) => /^gw-1\s+thermo\s+running\s+1\.0\.0\s+2\s+2025-01-02T03:04:05Z$/.test(l))).toBeDefined();
    expect(o.lines.find((l) => /^gw-2\s+-\s+offline/.test(l))).toBeDefined();
  });

  it('--gateway narrows to one; --json prints objects', async () => {
    const o = io();
    expect(await status(['--broker', mosq.url, '--gateway', 'gw-1', '--wait-ms', '300', '--json'], o)).toBe(0);
    expect(o.lines).toHaveLength(1);
    expect(JSON.parse(o.lines[0]!)).toMatchObject({ gateway: 'gw-1', state: 'online', components: [{ component: 'thermo', state: 'running', restarts: 2 }] });
  });

  it('unknown gateway: one line, non-zero', async () => {
    const o = io();
    expect(await status(['--broker', mosq.url, '--gateway', 'nope', '--wait-ms', '200'], o)).toBe(1);
    expect(o.errs).toHaveLength(1);
  });

  it('unreachable broker: one line, non-zero', async () => {
    const o = io();
    const port = await freePort();
    expect(await exitOf(status(['--broker', `mqtt://127.0.0.1:${port}`], o), o)).toBe(1);
    expect(o.errs).toEqual([`error: cannot reach the broker at mqtt://127.0.0.1:${port} (connection refused); check --broker and that the broker is running`]);
  });
});

describe('airssys telemetry', () => {
  it('tails samples and exits after --count', async () => {
    const o = io();
    const done = telemetry(['--broker', mosq.url, '--gateway', 'gw-1', '--component', 'thermo', '--count', '2'], o);
    await new Promise((r) => setTimeout(r, 300));
    await conn.publish('airssys/gw/gw-1/telemetry/other/x', JSON.stringify({ value: 0, ts: 1, seq: 1 }), { qos: 1 });
    await conn.publish('airssys/gw/gw-1/telemetry/thermo/temperature', JSON.stringify({ value: 21.5, ts: Date.UTC(2025, 0, 1), seq: 7 }), { qos: 1 });
    await conn.publish('airssys/gw/gw-1/telemetry/thermo/status', JSON.stringify({ json: { ok: true }, ts: Date.UTC(2025, 0, 1), seq: 1 }), { qos: 1 });
    expect(await done).toBe(0);
    expect(o.lines).toEqual([
      '2025-01-01T00:00:00.000Z  gw-1  thermo/temperature  #7  21.5',
      '2025-01-01T00:00:00.000Z  gw-1  thermo/status  #1  {"ok":true}',
    ]);
  });

  it('--json prints one object per sample', async () => {
    const o = io();
    const done = telemetry(['--broker', mosq.url, '--count', '1', '--json'], o);
    await new Promise((r) => setTimeout(r, 300));
    await conn.publish('airssys/gw/gw-3/telemetry/a/b', JSON.stringify({ value: 1, ts: 5, seq: 3 }), { qos: 1 });
    expect(await done).toBe(0);
    expect(JSON.parse(o.lines[0]!)).toEqual({ gateway: 'gw-3', component: 'a', channel: 'b', value: 1, ts: 5, seq: 3 });
  });

  it('unreachable broker and bad usage: one line each, non-zero', async () => {
    const o = io();
    const port = await freePort();
    expect(await exitOf(telemetry(['--broker', `mqtt://127.0.0.1:${port}`], o), o)).toBe(1);
    expect(await exitOf(telemetry([], o), o)).toBe(1);
    expect(o.errs).toHaveLength(2);
    expect(o.errs[1]).toMatch(/^error: missing --broker URL .*; usage: airssys telemetry/);
  });
});
