import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { EmbeddedBroker } from '../../gateway/mqtt/embedded.js';
import { GatewayError } from '../../runtime/errors.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * What the gateway's start path leaves out (docs/memory.md, "Start time"): a connection to a plain
 * mqtt:// broker never loads MQTT.js's other transports (ws, TLS, SOCKS), and the embedded broker
 * binds its port before the components start but creates the broker after them. Run in a fresh
 * process: the module cache is per process.
 */
const script = `
import { createRequire } from 'node:module';
import { EmbeddedBroker } from './gateway/mqtt/embedded.ts';
import { MqttConnection } from './gateway/mqtt/connection.ts';
const broker = new EmbeddedBroker({ port: 0 });
await broker.start();
const conn = new MqttConnection({ url: broker.url });
await conn.start();
await conn.waitConnected();
let got = 0;
conn.on('message', () => got++);
await conn.subscribe('t/#', { qos: 1 });
for (let i = 0; i < 5; i++) await conn.publish('t/x', 'v' + i, { qos: 1 });
const t0 = Date.now();
while (got < 5 && Date.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 20));
const loaded = Object.keys(createRequire(import.meta.url).cache);
const unused = loaded.filter((f) => /node_modules[\\\\/](ws|socks|ip-address)[\\\\/]|mqtt[\\\\/]build[\\\\/]lib[\\\\/]connect[\\\\/](ws|tls|socks)\\.js$/.test(f));
console.log(JSON.stringify({ got, unused }));
await conn.stop();
await broker.stop();
process.exit(0);
`;

describe('the start path', () => {
  it('a connection to a plain mqtt:// broker works without loading the WebSocket, TLS or SOCKS transports', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { got: number; unused: string[] };
    expect(out.got).toBe(5);
    expect(out.unused).toEqual([]);
  }, 90_000);

  it('the embedded broker serves a client that connected between listen and start', async () => {
    const broker = new EmbeddedBroker({ port: 0 });
    await broker.listen();
    const client = mqtt.connect(broker.url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 });
    client.on('error', () => {});
    let connected = false;
    client.on('connect', () => (connected = true));
    try {
      // The socket is accepted and its CONNECT buffered: nothing answers it yet.
      await new Promise((r) => setTimeout(r, 200));
      expect(connected).toBe(false);
      await broker.start();
      await new Promise<void>((resolve, reject) => {
        if (connected) return resolve();
        client.once('connect', () => resolve());
        client.once('close', () => reject(new Error('closed before CONNACK')));
      });
      expect(connected).toBe(true);
    } finally {
      await client.endAsync(true);
      await broker.stop();
    }
  }, 30_000);

  it('a busy port fails at listen, before the broker is created', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const broker = new EmbeddedBroker({ port });
      const err = await broker.listen().then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).code).toBe('EMBEDDED_BROKER');
      expect((err as Error).message).toContain(`port ${port} is in use`);
      await broker.stop();
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});
