import { afterAll, describe, expect, it } from 'vitest';
import { createServer, type AddressInfo, type Server } from 'node:net';
import * as aedesModule from 'aedes';
import mqtt from 'mqtt';
import { main } from '../../gateway/cli/main.js';
import { MqttConnection } from '../../gateway/mqtt/connection.js';
import type { GatewayError } from '../../runtime/errors.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A broker that refuses a subscription for a while (SUBACK 0x80), as NATS does while JetStream
 * cannot create the subscription's consumer after a cluster node died. MQTT.js rejects
 * `subscribeAsync` for a refusal; the connection must tell that from a dead session: the other
 * subscriptions, the birth and the `connect` event go on, and the refused filter is asked for
 * again until it is granted (a gateway deaf to its OTA topic on a live session is stranded).
 */
type Aedes = { handle(s: unknown): void; close(cb?: () => void): void };
const brokers: Array<{ broker: Aedes; server: Server }> = [];
const conns: MqttConnection[] = [];
afterAll(async () => {
  for (const c of conns) await c.stop({ farewell: false });
  for (const { broker, server } of brokers) {
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  }
});

/** Aedes on a free loopback port; `refuse(filter)` decides each SUBSCRIBE. */
async function refusingBroker(refuse: (filter: string) => boolean): Promise<string> {
  const mod = aedesModule as unknown as Record<string, unknown> & { default?: unknown };
  const def = mod.default as (Record<string, unknown> & ((o?: object) => unknown)) | undefined;
  const factory = (mod.createBroker ?? def?.createBroker ?? def) as (o?: object) => Aedes | Promise<Aedes>;
  const broker = await factory({
    // aedes: a null subscription is refused (SUBACK 0x80).
    authorizeSubscribe: (_c: unknown, sub: { topic: string }, done: (e: Error | null, s: unknown) => void) => done(null, refuse(sub.topic) ? null : sub),
  });
  const server = createServer((s) => broker.handle(s));
  brokers.push({ broker, server });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('a refused subscription (SUBACK 0x80)', () => {
  it('does not stop the session setup, and is asked for again until granted', async () => {
    let refusals = 0;
    const url = await refusingBroker((f) => f === 'ota/#' && ++refusals <= 2);
    const conn = new MqttConnection({
      url,
      clientId: 'refused-test',
      birth: () => ({ topic: 'gw/state', payload: 'online', qos: 1, retain: true }),
    });
    conns.push(conn);
    const errors: GatewayError[] = [];
    conn.on('error', (e: GatewayError) => errors.push(e));
    const got: string[] = [];
    conn.on('message', (topic: string) => got.push(topic));
    // Registered before the session exists, so all three are subscribed in the session's setup.
    await conn.subscribe('cmd/#', { qos: 1 });
    await conn.subscribe('ota/#', { qos: 1 });
    await conn.subscribe('admin/#', { qos: 1 });
    await conn.start();
    await conn.waitConnected(10_000);

    const pub = await mqtt.connectAsync(url, { protocolVersion: 4 });
    // The birth went out and the filters after the refused one were subscribed.
    const births: string[] = [];
    pub.on('message', (t, p) => births.push(`${t}=${p}`));
    await pub.subscribeAsync('gw/state', { qos: 1 });
    await waitFor(() => births.includes('gw/state=online'), 'the birth message');
    await pub.publishAsync('admin/x', '1', { qos: 1 });
    await waitFor(() => got.includes('admin/x'), 'a filter after the refused one');
    expect(errors.map((e) => e.code)).toContain('MQTT_SUBSCRIBE');

    // Refused twice, then granted on a retry (1 s, then 2 s later): OTA reaches the gateway.
    await waitFor(() => refusals >= 3, 'the refused filter asked for again', 15_000);
    await pub.publishAsync('ota/x', '1', { qos: 1 });
    await waitFor(() => got.includes('ota/x'), 'the filter granted on a retry');
    await pub.endAsync();

    // A filter subscribed on the live session and refused is retried too.
    refusals = 0;
    await conn.subscribe('ota/#', { qos: 1 }); // refused (1), retried
    await waitFor(() => refusals >= 3, 'a live subscription asked for again', 15_000);

    // A CLI connection (no reconnects) is told, so a verb can report an ACL refusal and exit;
    // it may ask for the gateway's behaviour (rollout's status subscription does).
    const cli = new MqttConnection({ url, retry: false, clientId: 'refused-cli' });
    conns.push(cli);
    await cli.start();
    refusals = 0;
    const err = await cli.subscribe('ota/#', { qos: 1 }).then(() => undefined, (e: unknown) => e);
    expect((err as GatewayError).code).toBe('MQTT_SUBSCRIBE');
    expect((err as Error).message).toBe(`the broker at ${url} refused the subscription to ota/#; check the broker's ACL for this user`);
    await cli.subscribe('ota/#', { qos: 1, refused: 'retry' });
    await waitFor(() => refusals >= 3, 'a CLI subscription asked for again', 15_000);
  }, 60_000);

  it('a CLI verb whose subscription is refused prints one line that names the fix', async () => {
    const url = await refusingBroker(() => true);
    const lines: string[] = [];
    const code = await main(['status', '--broker', url, '--gateway', 'gw-refused'], { out: (l) => lines.push(l), err: (l) => lines.push(l) });
    expect(code).toBe(1);
    expect(lines).toEqual([`error: the broker at ${url} refused the subscription to airssys/gw/gw-refused/state; check the broker's ACL for this user`]);
  }, 30_000);
});
