import { connect, createServer } from 'node:net';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { EmbeddedBroker } from '../../gateway/mqtt/embedded.js';
import { GatewayError } from '../../runtime/errors.js';
import { mqttRoundTripInFreshProcess } from '../helpers/mqtt-fresh-process.js';

/**
 * What the gateway's start path leaves out (docs/memory.md, "Start time"): a connection to a plain
 * mqtt:// broker never loads MQTT.js's other transports (ws, TLS, SOCKS), and the embedded broker
 * binds its port before the components start but creates the broker after them. Run in a fresh
 * process: the module cache is per process.
 */
const UNUSED_TRANSPORTS = /node_modules[\\/](ws|socks|ip-address)[\\/]|mqtt[\\/]build[\\/]lib[\\/]connect[\\/](ws|tls|socks)\.js$/;

describe('the start path', () => {
  it('a connection to a plain mqtt:// broker works without loading the WebSocket, TLS or SOCKS transports', () => {
    const out = mqttRoundTripInFreshProcess<{ unused: string[] }>(5, `{ unused: Object.keys(require.cache).filter((f) => ${UNUSED_TRANSPORTS}.test(f)) }`);
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

  it('a client that resets its connection between listen and start does not end the process', async () => {
    const broker = new EmbeddedBroker({ port: 0 });
    await broker.listen();
    // Without a listener on the waiting socket, its ECONNRESET is an uncaught exception (vitest fails the run).
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const port = Number(new URL(broker.url).port);
      const reset = new Promise<void>((resolve, reject) => {
        const s = connect(port, '127.0.0.1', () => {
          // Bytes the server reads first, so the reset reaches a socket that is reading.
          s.write(Buffer.from([0x10, 0x00]));
          setTimeout(() => {
            s.resetAndDestroy();
            resolve();
          }, 50);
        });
        s.on('error', reject);
      });
      await reset;
      await new Promise((r) => setTimeout(r, 200));
      expect(uncaught).toEqual([]);
      // The broker still serves the next client.
      await broker.start();
      const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000 });
      await client.endAsync(true);
    } finally {
      process.off('uncaughtException', onUncaught);
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
