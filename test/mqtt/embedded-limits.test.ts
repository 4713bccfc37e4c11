import { connect, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedBroker, type PendingRefusal } from '../../gateway/mqtt/embedded.js';
import { isLoopbackHost } from '../../gateway/mqtt/loopback.js';
import { until } from '../helpers/mosquitto.js';

/**
 * The embedded broker's limits on connections that have not logged in (embedded.ts), with small
 * caps: over the per-address or the total cap a new connection is destroyed at once, loopback is
 * exempt, a connection leaves the count when its CONNECT is accepted or it closes, and one that
 * never sends CONNECT is closed at the deadline. The gateway-level test is embedded-pending.test.ts.
 */
/** An address of this machine that is not loopback: what the broker sees as a LAN peer. */
const lan = Object.values(networkInterfaces()).flat().find((i) => i && !i.internal && i.family === 'IPv4')?.address;

interface Idle {
  socket: Socket;
  /** Closed by the broker (it had connected). */
  closed: boolean;
}

let broker: EmbeddedBroker | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await broker?.stop();
  broker = undefined;
});

async function start(opts: ConstructorParameters<typeof EmbeddedBroker>[0]): Promise<{ b: EmbeddedBroker; refusals: PendingRefusal[] }> {
  const refusals: PendingRefusal[] = [];
  broker = new EmbeddedBroker({ port: 0, host: '0.0.0.0', username: 'fleet', password: 's3cret', onRefused: (r) => refusals.push(r), ...opts });
  await broker.start();
  return { b: broker, refusals };
}

/** Opens `n` TCP connections to host:port that never send a byte; resolves once all connected. */
async function idle(host: string, port: number, n: number): Promise<Idle[]> {
  return Promise.all(Array.from({ length: n }, () => new Promise<Idle>((resolve, reject) => {
    const socket = connect({ host, port });
    sockets.push(socket);
    const c: Idle = { socket, closed: false };
    socket.once('connect', () => resolve(c));
    socket.once('error', reject);
    socket.on('error', () => undefined);
    socket.once('close', () => (c.closed = true));
  })));
}

/** One MQTT connection attempt with the account: 'connected', the error, or 'closed' (dropped before CONNACK). */
async function tryConnect(url: string): Promise<string> {
  const c = mqtt.connect(url, { username: 'fleet', password: 's3cret', protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 });
  const r = await new Promise<string>((resolve) => {
    c.once('connect', () => resolve('connected'));
    c.once('error', (e: Error & { code?: string | number }) => resolve(String(e.code ?? e.message)));
    c.once('close', () => resolve('closed'));
  });
  await c.endAsync(true);
  return r;
}

describe('isLoopbackHost on peer addresses (what the caps exempt)', () => {
  it('knows 127/8, ::1 and IPv4-mapped loopback; nothing else', () => {
    for (const a of ['127.0.0.1', '127.0.0.2', '::1', '::ffff:127.0.0.1']) expect(isLoopbackHost(a)).toBe(true);
    for (const a of ['192.0.2.2', '::ffff:192.0.2.2', 'fd00::2', '10.127.0.1', '::']) expect(isLoopbackHost(a)).toBe(false);
  });
});

describe.skipIf(!lan)('embedded broker: connections that have not logged in', () => {
  it('per remote address: the connections over the cap are closed at once and reported; a freed slot takes a client', async () => {
    const { b, refusals } = await start({ maxPendingPerAddress: 3, maxPending: 100 });
    const conns = await idle(lan!, b.port, 8);
    await until(() => conns.filter((c) => c.closed).length === 5, 5000, 'five of eight closed by the broker');
    expect(b.pendingCount).toBe(3);
    expect(refusals).toHaveLength(5);
    expect(refusals.every((r) => r.kind === 'per-address' && r.limit === 3 && r.remote === lan)).toBe(true);
    // The address is full: one more is refused, loopback (the gateway's own client) is not.
    expect(await tryConnect(`mqtt://${lan}:${b.port}`)).not.toBe('connected');
    expect(await tryConnect(`mqtt://127.0.0.1:${b.port}`)).toBe('connected');
    // One idle connection gone: a client with the account gets in, and once accepted it no longer
    // counts (the cap is on connections still logging in, not on clients).
    conns.find((c) => !c.closed)!.socket.destroy();
    await until(() => b.pendingCount === 2, 5000, 'the closed one uncounted');
    const client = await mqtt.connectAsync(`mqtt://${lan}:${b.port}`, { username: 'fleet', password: 's3cret', protocolVersion: 4, reconnectPeriod: 0 });
    await until(() => b.pendingCount === 2, 5000, 'the accepted client uncounted');
    expect((await idle(lan!, b.port, 1))[0]!.closed).toBe(false);
    await until(() => b.pendingCount === 3, 5000, 'the new idle one counted');
    await client.endAsync(true);
  });

  it('in all: over the total cap connections are closed; loopback peers are not counted or capped', async () => {
    const { b, refusals } = await start({ maxPendingPerAddress: 100, maxPending: 4 });
    const local = await idle('127.0.0.1', b.port, 10);
    const conns = await idle(lan!, b.port, 6);
    await until(() => conns.filter((c) => c.closed).length === 2, 5000, 'two of six closed by the broker');
    expect(refusals.map((r) => r.kind)).toEqual(['total', 'total']);
    expect(b.pendingCount).toBe(4);
    expect(local.filter((c) => c.closed)).toHaveLength(0);
  });

  it('closes a connection that sends no CONNECT by the deadline (connectTimeoutMs), loopback or not', async () => {
    const { b } = await start({ connectTimeoutMs: 300 });
    const conns = [...(await idle(lan!, b.port, 2)), ...(await idle('127.0.0.1', b.port, 2))];
    // Aedes' own deadline is 30 s: without the option these stay open far longer than this wait.
    await until(() => conns.every((c) => c.closed), 8000, 'the idle connections closed at the deadline');
    expect(b.pendingCount).toBe(0);
  });

  it('counts connections that arrive between listen and start, and frees them when they close', async () => {
    const refusals: PendingRefusal[] = [];
    broker = new EmbeddedBroker({ port: 0, host: '0.0.0.0', username: 'fleet', password: 's3cret', maxPendingPerAddress: 2, onRefused: (r) => refusals.push(r) });
    await broker.listen();
    const conns = await idle(lan!, broker.port, 3);
    await until(() => conns.filter((c) => c.closed).length === 1, 5000, 'one of three closed before the broker exists');
    expect(refusals).toHaveLength(1);
    for (const c of conns) c.socket.destroy();
    await until(() => broker!.pendingCount === 0, 5000, 'the waiting ones uncounted');
    await broker.start();
    expect(await tryConnect(`mqtt://${lan}:${broker.port}`)).toBe('connected');
  });
});
